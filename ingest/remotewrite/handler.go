package remotewrite

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// Gateway is the gateway's name in metrics and dead letters.
const Gateway = "remote_write"

// Options configures a Handler.
type Options struct {
	Writer  *ingest.Writer
	Limits  ingest.Limits
	Samples sample.Limits // each sample's; the router holds them too
	Metrics *ingest.Metrics
	Logger  *slog.Logger
	Now     func() time.Time // nil means time.Now
}

// Handler takes Prometheus remote write 1.0 requests (snappy-compressed
// prompb.WriteRequest, POST /api/v1/write): it answers 204 once Kafka
// has acknowledged every sample; 400 naming the series it refused (the
// others are written, the refused ones go to the dead-letter topic: a
// client does not send a 400 again); 413 over a limit; 503 with
// Retry-After when Kafka did not take the request (nothing of it was
// written: the client sends it again). Any goroutine may call it.
type Handler struct {
	opts Options
	dec  *Decoder
	bufs sync.Pool // *[]byte, decoded bodies
}

// NewHandler returns a Handler writing through opts.Writer.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Writer == nil {
		return nil, errors.New("remote write: Writer is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts, dec: NewDecoder()}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	written, refused, err := h.serve(r)
	code := http.StatusNoContent
	switch {
	case err != nil:
		code = ingest.Fail(w, err)
	case len(refused) > 0:
		code = http.StatusBadRequest
		http.Error(w, ingest.RefusedError(refused, written).Error(), code)
	default:
		w.WriteHeader(code)
	}
	ok := err == nil || !errors.Is(err, ingest.ErrUnavailable)
	h.opts.Metrics.Observe(Gateway, code, written, ok, refused)
}

// serve writes the samples of r and returns how many, and those refused.
func (h *Handler) serve(r *http.Request) (int, []ingest.Refused, error) {
	if r.Method != http.MethodPost {
		return 0, nil, fmt.Errorf("remote write: method %s, want POST", r.Method)
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.Contains(ct, "io.prometheus.write.v2.Request"):
		return 0, nil, fmt.Errorf("remote write: protocol 2.0 (io.prometheus.write.v2.Request) is not served yet; send prometheus.WriteRequest (1.0): %w", ingest.ErrUnsupported)
	case ct != "" && !strings.HasPrefix(ct, "application/x-protobuf"):
		return 0, nil, fmt.Errorf("remote write: content type %q, want application/x-protobuf: %w", ct, ingest.ErrUnsupported)
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		return 0, nil, fmt.Errorf("remote write: content encoding %q, want snappy: %w", enc, ingest.ErrUnsupported)
	}
	body, err := ingest.ReadBody(r, h.opts.Limits)
	if err != nil {
		return 0, nil, err
	}
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer h.bufs.Put(bp)
	raw, err := ingest.DecodeSnappy(*bp, body, h.opts.Limits)
	if err != nil {
		return 0, nil, fmt.Errorf("remote write: %w", err)
	}
	*bp = raw[:0]
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return 0, nil, fmt.Errorf("remote write: the body is not a prometheus.WriteRequest: %w", err)
	}
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	if max := h.opts.Limits.MaxSamples; max > 0 && n > max {
		return 0, nil, &ingest.TooLargeError{What: "samples", Size: int64(n), Limit: int64(max)}
	}
	samples, refused := h.dec.Decode(&req, h.opts.Samples, h.opts.Now().UnixMilli(), make([]sample.Sample, 0, n), nil)
	if err := h.opts.Writer.Write(r.Context(), Gateway, samples, refused); err != nil {
		h.opts.Logger.Warn("remote write: Kafka did not take a request; the client is told to send it again", "samples", len(samples), "err", err)
		return len(samples), nil, err
	}
	return len(samples), refused, nil
}
