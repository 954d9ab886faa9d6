package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/sample"
)

// RemoteWriteOptions configures a RemoteWriter. The zero durations ask
// for Prometheus' defaults.
type RemoteWriteOptions struct {
	// URL is the remote-write endpoint (http://HOST:PORT/api/v1/write).
	URL string
	// Client sends the requests; nil means one that gives a request up
	// after 30s (Prometheus' remote_timeout).
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait before a failed request is
	// sent again, doubling from one to the other (default 30ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// MetadataInterval is how often the metadata of the families sent so
	// far is sent again (default a minute, metadata_config.send_interval).
	MetadataInterval time.Duration
	Logger           *slog.Logger
	// Now is the clock of the metadata's interval; nil means time.Now.
	Now func() time.Time
}

// RemoteWriter sends samples to a Prometheus remote-write 1.0 endpoint as
// a Prometheus server or agent does: snappy-compressed
// prometheus.WriteRequests; a sample's trace as an exemplar (label
// trace_id) of its series; the type of each metric family (counter for
// cumulative samples, gauge for gauges) in metadata requests of their own,
// before the first samples of a family and every MetadataInterval. A
// request answered 5xx or 429, or not answered, is sent again after a
// backoff (or the Retry-After the server gives), until it goes through or
// ctx ends; another 4xx is not, as Prometheus does not send one again.
// Remote write 1.0 has no type for a counter's increments or a timer's
// observations: Send refuses them.
//
// A RemoteWriter is used by one goroutine at a time.
type RemoteWriter struct {
	opts     RemoteWriteOptions
	families map[string]prompb.MetricMetadata_MetricType
	unsent   bool      // a family whose metadata was not sent yet
	metaAt   time.Time // when the metadata was last sent
}

// NewRemoteWriter returns a RemoteWriter to opts.URL.
func NewRemoteWriter(opts RemoteWriteOptions) (*RemoteWriter, error) {
	if u, err := url.Parse(opts.URL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("remote write: URL %q: want http://HOST:PORT/PATH", opts.URL)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 30 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.MetadataInterval <= 0 {
		opts.MetadataInterval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RemoteWriter{opts: opts, families: map[string]prompb.MetricMetadata_MetricType{}}, nil
}

// RejectedError is a request the endpoint answered with a 4xx other than
// 429: sending it again would not help, and its samples are not sent.
type RejectedError struct {
	Code    int
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("remote write: rejected with %d: %s", e.Code, e.Message)
}

// Send sends samples, cumulative counters and gauges, in one request
// (after the metadata, when due) and returns once the endpoint took it,
// with a *RejectedError if it refused it, or with ctx's error.
func (w *RemoteWriter) Send(ctx context.Context, samples []sample.Sample) error {
	req, err := w.request(samples)
	if err != nil {
		return err
	}
	if now := w.opts.Now(); w.unsent || now.Sub(w.metaAt) >= w.opts.MetadataInterval {
		// Metadata refused is no reason to hold the samples back: the
		// endpoint may type them by their names. It is sent again at the
		// next interval.
		if err := w.post(ctx, &prompb.WriteRequest{Metadata: w.metadata()}); ctx.Err() != nil {
			return ctx.Err()
		} else if err != nil {
			w.opts.Logger.Warn("remote write: metadata refused", "err", err)
		}
		w.unsent, w.metaAt = false, now
	}
	return w.post(ctx, req)
}

// request is the WriteRequest of samples: one time series per series, its
// samples in the order given, an exemplar for each sample with a trace.
func (w *RemoteWriter) request(samples []sample.Sample) (*prompb.WriteRequest, error) {
	req := &prompb.WriteRequest{}
	index := map[string]int{}
	for i := range samples {
		s := &samples[i]
		var typ prompb.MetricMetadata_MetricType
		switch s.Type {
		case sample.Cumulative:
			typ = prompb.MetricMetadata_COUNTER
		case sample.Gauge:
			typ = prompb.MetricMetadata_GAUGE
		default:
			return nil, fmt.Errorf("remote write: %s%s is a %s sample: remote write carries cumulative counters and gauges only", s.Name, s.Labels, s.Type)
		}
		if known, ok := w.families[s.Name]; !ok || known != typ {
			w.families[s.Name], w.unsent = typ, true
		}
		key := s.Name + s.Labels.String()
		j, ok := index[key]
		if !ok {
			j = len(req.Timeseries)
			index[key] = j
			ls := make([]prompb.Label, 0, len(s.Labels)+1)
			ls = append(ls, prompb.Label{Name: "__name__", Value: s.Name})
			for _, l := range s.Labels {
				ls = append(ls, prompb.Label{Name: l.Name, Value: l.Value})
			}
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls})
		}
		ts := &req.Timeseries[j]
		ts.Samples = append(ts.Samples, prompb.Sample{Value: s.Value, Timestamp: s.TimestampMs})
		if !s.TraceID.IsZero() {
			ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{
				Labels: []prompb.Label{{Name: "trace_id", Value: s.TraceID.String()}},
				Value:  s.Value, Timestamp: s.TimestampMs,
			})
		}
	}
	return req, nil
}

// metadata is the metadata of every family sent so far.
func (w *RemoteWriter) metadata() []prompb.MetricMetadata {
	md := make([]prompb.MetricMetadata, 0, len(w.families))
	for name, typ := range w.families {
		md = append(md, prompb.MetricMetadata{Type: typ, MetricFamilyName: name, Help: help[name]})
	}
	slices.SortFunc(md, func(a, b prompb.MetricMetadata) int { return strings.Compare(a.MetricFamilyName, b.MetricFamilyName) })
	return md
}

// help is the help text of the fleet's metric families.
var help = map[string]string{
	"http_requests_total":           "Requests served, by route and status.",
	"process_resident_memory_bytes": "Resident memory size in bytes.",
	"debug_goroutines":              "Goroutines that currently exist.",
}

// post sends req until the endpoint takes it, refuses it, or ctx ends.
func (w *RemoteWriter) post(ctx context.Context, req *prompb.WriteRequest) error {
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("remote write: encode: %w", err)
	}
	body := snappy.Encode(nil, raw)
	backoff := w.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		code, retryAfter, err := w.postOnce(ctx, body)
		var rej *RejectedError
		switch {
		case err == nil:
			if attempt > 1 {
				w.opts.Logger.Info("remote write: sent after retries", "attempts", attempt)
			}
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &rej):
			return err
		}
		wait := backoff
		if retryAfter > 0 {
			wait = retryAfter
		}
		w.opts.Logger.Warn("remote write: the request failed; sending it again", "attempt", attempt, "status", code, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, w.opts.MaxBackoff)
	}
}

// postOnce sends body once; it returns the HTTP status (0 without an
// answer), the wait the server asked for, and an error unless it took it.
func (w *RemoteWriter) postOnce(ctx context.Context, body []byte) (int, time.Duration, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, &RejectedError{Message: err.Error()} // a URL NewRemoteWriter took: cannot happen
	}
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("User-Agent", "tumble-loadgen")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := w.opts.Client.Do(hr)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	io.Copy(io.Discard, resp.Body) // so that the connection is kept
	switch code := resp.StatusCode; {
	case code/100 == 2:
		return code, 0, nil
	case code/100 == 5 || code == http.StatusTooManyRequests:
		return code, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return code, 0, &RejectedError{Code: code, Message: string(bytes.TrimSpace(msg))}
	}
}

// retryAfter is the wait a Retry-After header asks for: seconds, or a
// date; 0 if none or past.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
