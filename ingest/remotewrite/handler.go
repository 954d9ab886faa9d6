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
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

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

// Handler takes Prometheus remote write 1.0 and 2.0 requests (POST
// /api/v1/write, a snappy-compressed prometheus.WriteRequest or
// io.prometheus.write.v2.Request; a 2.0 answer carries the
// X-Prometheus-Remote-Write-*-Written headers). It answers 204 once Kafka
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
	res, err := h.serve(r)
	written, refused := res.written, res.refused
	if res.v2 {
		if err != nil {
			setV2Headers(w, 0, 0)
		} else {
			setV2Headers(w, written, res.traced)
		}
	}
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

// result is what a request came to.
type result struct {
	v2      bool // a remote write 2.0 request
	written int  // samples written
	traced  int  // of them, with an exemplar's trace
	refused []ingest.Refused
}

// serve writes the samples of r.
func (h *Handler) serve(r *http.Request) (result, error) {
	var res result
	if r.Method != http.MethodPost {
		return res, fmt.Errorf("remote write: method %s, want POST", r.Method)
	}
	ct := r.Header.Get("Content-Type")
	res.v2 = isV2(ct)
	if ct != "" && !strings.HasPrefix(ct, "application/x-protobuf") {
		return res, fmt.Errorf("remote write: content type %q, want application/x-protobuf: %w", ct, ingest.ErrUnsupported)
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		return res, fmt.Errorf("remote write: content encoding %q, want snappy: %w", enc, ingest.ErrUnsupported)
	}
	body, err := ingest.ReadBody(r, h.opts.Limits)
	if err != nil {
		return res, err
	}
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer h.bufs.Put(bp)
	raw, err := ingest.DecodeSnappy(*bp, body, h.opts.Limits)
	if err != nil {
		return res, fmt.Errorf("remote write: %w", err)
	}
	*bp = raw[:0]
	req := &prompb.WriteRequest{}
	if res.v2 {
		var v2 writev2.Request
		if err := v2.Unmarshal(raw); err != nil {
			return res, fmt.Errorf("remote write: the body is not an io.prometheus.write.v2.Request: %w", err)
		}
		if req, err = fromV2(&v2); err != nil {
			return res, fmt.Errorf("remote write 2.0: %w", err)
		}
	} else if err := req.Unmarshal(raw); err != nil {
		return res, fmt.Errorf("remote write: the body is not a prometheus.WriteRequest: %w", err)
	}
	n := 0
	for i := range req.Timeseries {
		n += len(req.Timeseries[i].Samples) + len(req.Timeseries[i].Histograms)
	}
	if max := h.opts.Limits.MaxSamples; max > 0 && n > max {
		return res, &ingest.TooLargeError{What: "samples", Size: int64(n), Limit: int64(max)}
	}
	samples, refused := h.dec.Decode(req, h.opts.Samples, h.opts.Now().UnixMilli(), make([]sample.Sample, 0, n), nil)
	res.written = len(samples)
	if err := h.opts.Writer.Write(r.Context(), Gateway, samples, refused); err != nil {
		h.opts.Logger.Warn("remote write: Kafka did not take a request; the client is told to send it again", "samples", len(samples), "err", err)
		return res, err
	}
	res.refused = refused
	for i := range samples {
		if !samples[i].TraceID.IsZero() {
			res.traced++
		}
	}
	return res, nil
}
