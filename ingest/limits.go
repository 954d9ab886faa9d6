package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/klauspost/compress/snappy"
)

// Limits bound what one request may ask of a gateway.
type Limits struct {
	// MaxBodyBytes bounds a request's body as sent (compressed); 0 means
	// 32 MiB.
	MaxBodyBytes int64
	// MaxDecodedBytes bounds it decompressed; 0 means 128 MiB.
	MaxDecodedBytes int
	// MaxSamples bounds the samples of one request; 0 means 500,000.
	MaxSamples int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 32 << 20
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = 128 << 20
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = 500_000
	}
	return l
}

// TooLargeError is a request over one of the Limits: HTTP 413.
type TooLargeError struct {
	What  string // "body", "decoded body", "samples"
	Size  int64  // what it came to, or a lower bound
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request too large: %s of %d or more, over the limit of %d", e.What, e.Size, e.Limit)
}

// ReadBody reads r's body, up to l.MaxBodyBytes.
func ReadBody(r *http.Request, l Limits) ([]byte, error) {
	l = l.withDefaults()
	b, err := io.ReadAll(io.LimitReader(r.Body, l.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the body: %w", err)
	}
	if int64(len(b)) > l.MaxBodyBytes {
		return nil, &TooLargeError{What: "body", Size: int64(len(b)), Limit: l.MaxBodyBytes}
	}
	return b, nil
}

// ErrBadSnappy is a body that is not snappy's block format.
var ErrBadSnappy = errors.New("the body is not snappy-compressed (block format)")

// DecodeSnappy decompresses a snappy block into dst, refusing before it
// allocates a block that would decode past l.MaxDecodedBytes.
func DecodeSnappy(dst, b []byte, l Limits) ([]byte, error) {
	l = l.withDefaults()
	n, err := snappy.DecodedLen(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnappy, err)
	}
	if n > l.MaxDecodedBytes {
		return nil, &TooLargeError{What: "decoded body", Size: int64(n), Limit: int64(l.MaxDecodedBytes)}
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	out, err := snappy.Decode(dst[:n], b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnappy, err)
	}
	return out, nil
}

// Gunzip decompresses a gzip body, refusing one that decodes past
// l.MaxDecodedBytes.
func Gunzip(b []byte, l Limits) ([]byte, error) {
	l = l.withDefaults()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("the body is not gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(l.MaxDecodedBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("the body is not gzip: %w", err)
	}
	if len(out) > l.MaxDecodedBytes {
		return nil, &TooLargeError{What: "decoded body", Size: int64(len(out)), Limit: int64(l.MaxDecodedBytes)}
	}
	return out, nil
}
