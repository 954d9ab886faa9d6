package influx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// Gateway is the gateway's name in metrics and dead letters.
const Gateway = "influx"

// Options configures a Handler.
type Options struct {
	Writer  *ingest.Writer
	Limits  ingest.Limits
	Samples sample.Limits
	Metrics *ingest.Metrics
	Logger  *slog.Logger
	Now     func() time.Time // nil means time.Now
}

// Handler takes InfluxDB line protocol at POST /write (InfluxDB 1.x:
// precision n, u, ms, s, m, h) and /api/v2/write (2.x: ns, us, ms, s),
// gzip or not; db, org and bucket are ignored. It answers 204 once Kafka
// has acknowledged every sample; 400 naming the lines and fields it
// refused (the rest are written, the refused ones go to the dead-letter
// topic), as InfluxDB answers a partial write; 413 over a limit; 503 with
// Retry-After when Kafka did not take the request (nothing was written).
// Any goroutine may call it.
type Handler struct{ opts Options }

// NewHandler returns a Handler writing through opts.Writer.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Writer == nil {
		return nil, errors.New("influx: Writer is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	written, refused, err := h.serve(r)
	code := http.StatusNoContent
	switch {
	case err != nil:
		code = ingest.HTTPCode(err)
	case len(refused) > 0:
		code = http.StatusBadRequest
		err = fmt.Errorf("partial write: %w", ingest.RefusedError(refused, written))
	}
	if err != nil {
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", ingest.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"code": codeName(code), "message": err.Error(), "error": err.Error()})
	} else {
		w.WriteHeader(code)
	}
	h.opts.Metrics.Observe(Gateway, code, written, err == nil || !errors.Is(err, ingest.ErrUnavailable), refused)
}

func (h *Handler) serve(r *http.Request) (int, []ingest.Refused, error) {
	prec, err := ParsePrecision(r.URL.Query().Get("precision"))
	if err != nil {
		return 0, nil, fmt.Errorf("influx: %w", err)
	}
	body, err := ingest.ReadBody(r, h.opts.Limits)
	if err != nil {
		return 0, nil, err
	}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		if body, err = ingest.Gunzip(body, h.opts.Limits); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, fmt.Errorf("influx: content encoding %q, want gzip or none: %w", enc, ingest.ErrUnsupported)
	}
	// A line makes a sample at least: lines are counted before any is made.
	if max := h.opts.Limits.MaxSamples; max > 0 {
		if n := bytes.Count(bytes.TrimSpace(body), []byte{'\n'}) + 1; n > max {
			return 0, nil, &ingest.TooLargeError{What: "samples", Size: int64(n), Limit: int64(max)}
		}
	}
	samples, refused := Decode(body, prec, h.opts.Samples, h.opts.Now().UnixMilli(), nil, nil)
	if max := h.opts.Limits.MaxSamples; max > 0 && len(samples)+len(refused) > max {
		return 0, nil, &ingest.TooLargeError{What: "samples", Size: int64(len(samples) + len(refused)), Limit: int64(max)}
	}
	if err := h.opts.Writer.Write(r.Context(), Gateway, samples, refused); err != nil {
		h.opts.Logger.Warn("influx: Kafka did not take a request; the client is told to send it again", "samples", len(samples), "err", err)
		return len(samples), nil, err
	}
	return len(samples), refused, nil
}

// codeName is InfluxDB 2.x's error code of an HTTP status.
func codeName(code int) string {
	switch code {
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusRequestEntityTooLarge:
		return "request too large"
	}
	return "invalid"
}
