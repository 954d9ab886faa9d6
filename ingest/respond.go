package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// RetryAfter is what a gateway tells a client to wait before it sends
// again a request Kafka did not take.
const RetryAfter = "5"

// ErrUnsupported is a request in a protocol version or encoding the
// gateway does not serve: HTTP 415, on which a client that can falls back
// to one it does.
var ErrUnsupported = errors.New("unsupported")

// maxListed is how many refused series a 400 answer names.
const maxListed = 20

// Fail answers a request that failed as a whole: 413 over a limit, 415
// for ErrUnsupported, 503 (with Retry-After) when Kafka did not take it,
// 400 otherwise.
func Fail(w http.ResponseWriter, err error) int {
	code := HTTPCode(err)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfter)
	}
	http.Error(w, err.Error(), code)
	return code
}

// HTTPCode is the HTTP status of a request that failed with err: 503 when
// Kafka did not take it, 413 over a limit, 415 for ErrUnsupported, 400
// otherwise.
func HTTPCode(err error) int {
	var tl *TooLargeError
	switch {
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.As(err, &tl):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupported):
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// RefusedError says which samples of a request were refused, and why; the
// rest were written.
func RefusedError(refused []Refused, written int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples refused (%d written):", len(refused), written)
	for i := range refused {
		if i == maxListed {
			fmt.Fprintf(&b, "\n… and %d more", len(refused)-maxListed)
			break
		}
		fmt.Fprintf(&b, "\n%s: %s: %v", refused[i].Series, refused[i].Reason, refused[i].Err)
	}
	return errors.New(b.String())
}
