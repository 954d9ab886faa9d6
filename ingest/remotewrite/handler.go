package remotewrite

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

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
	bufs sync.Pool // *decodeBufs
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
	err = h.Decode(body, res.v2, func(samples []sample.Sample, heads [][]byte, refused []ingest.Refused) error {
		res.written = len(samples)
		if err := h.opts.Writer.WriteHeads(r.Context(), Gateway, samples, heads, refused); err != nil {
			h.opts.Logger.Warn("remote write: Kafka did not take a request; the client is told to send it again", "samples", len(samples), "err", err)
			return err
		}
		res.refused = refused
		for i := range samples {
			if !samples[i].TraceID.IsZero() {
				res.traced++
			}
		}
		return nil
	})
	return res, err
}

// Decode decodes a request's body (snappy-compressed; a remote write 2.0
// request if v2) as ServeHTTP does, and calls write with its samples, the
// heads of their series (as ingest.Writer.WriteHeads takes them) and the
// samples it refused; the samples are valid only during the call. It
// returns the decoding's error, or write's.
func (h *Handler) Decode(body []byte, v2 bool, write func(samples []sample.Sample, heads [][]byte, refused []ingest.Refused) error) error {
	dec, err := h.decodeRequest(body, v2)
	if err != nil {
		return err
	}
	defer dec.release()
	return write(dec.samples, dec.heads, dec.refused)
}

// decoded is what a request's body came to: the samples to write and the
// refused ones. The samples are the Handler's buffers until release.
type decoded struct {
	samples []sample.Sample
	heads   [][]byte
	refused []ingest.Refused
	h       *Handler
	bufs    *decodeBufs
}

// release gives the buffers back, once the samples are written.
func (d *decoded) release() {
	if d.bufs == nil {
		return
	}
	clear(d.samples) // the samples' strings are the body's
	clear(d.heads)
	d.bufs.samples, d.bufs.heads = d.samples[:0], d.heads[:0]
	d.bufs.req.reset()
	d.h.bufs.Put(d.bufs)
	*d = decoded{}
}

// decodeBufs are what decoding a request uses, reused from one request to
// the next.
type decodeBufs struct {
	raw     []byte // the body, snappy-decoded
	req     writeRequest
	samples []sample.Sample
	heads   [][]byte
}

// decodeRequest turns a request's body (snappy-compressed; a remote write
// 2.0 request if v2) into samples, checked against the limits.
func (h *Handler) decodeRequest(body []byte, v2 bool) (decoded, error) {
	bufs, _ := h.bufs.Get().(*decodeBufs)
	if bufs == nil {
		bufs = new(decodeBufs)
	}
	dec, err := h.decodeInto(bufs, body, v2)
	if err != nil {
		bufs.req.reset()
		h.bufs.Put(bufs)
		return decoded{}, err
	}
	return dec, nil
}

func (h *Handler) decodeInto(bufs *decodeBufs, body []byte, v2 bool) (decoded, error) {
	raw, err := ingest.DecodeSnappy(bufs.raw, body, h.opts.Limits)
	if err != nil {
		return decoded{}, fmt.Errorf("remote write: %w", err)
	}
	bufs.raw = raw[:0]
	if v2 {
		var v2 writev2.Request
		if err := v2.Unmarshal(raw); err != nil {
			return decoded{}, fmt.Errorf("remote write: the body is not an io.prometheus.write.v2.Request: %w", err)
		}
		req, err := fromV2(&v2)
		if err != nil {
			return decoded{}, fmt.Errorf("remote write 2.0: %w", err)
		}
		bufs.req.reset()
		bufs.req.fromProto(req)
	} else if err := bufs.req.unmarshal(raw); err != nil {
		return decoded{}, fmt.Errorf("remote write: the body is not a prometheus.WriteRequest: %w", err)
	}
	n := bufs.req.samples()
	if max := h.opts.Limits.MaxSamples; max > 0 && n > max {
		return decoded{}, &ingest.TooLargeError{What: "samples", Size: int64(n), Limit: int64(max)}
	}
	if cap(bufs.samples) < n {
		bufs.samples = make([]sample.Sample, 0, n)
	}
	heads := bufs.heads[:0]
	samples, refused := h.dec.decode(&bufs.req, h.opts.Samples, h.opts.Now().UnixMilli(), bufs.samples[:0], &heads, nil)
	for i := range refused {
		// What the Handler keeps of a refused sample past the request
		// is not the buffers'.
		refused[i].Sample.Labels = slices.Clone(refused[i].Sample.Labels)
	}
	return decoded{samples: samples, heads: heads, refused: refused, h: h, bufs: bufs}, nil
}
