package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/ingest/remotewrite"
	"github.com/tumblemetrics/tumble/sample"
)

// endpoint is a remote-write endpoint that answers each request with the
// next of its codes (the last one once they run out) and keeps the
// requests it took.
type endpoint struct {
	mu       sync.Mutex
	codes    []int
	attempts int
	took     []*prompb.WriteRequest
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	req := &prompb.WriteRequest{}
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil || r.Header.Get("Content-Encoding") != "snappy" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not a snappy-compressed WriteRequest", http.StatusUnsupportedMediaType)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	code := e.codes[min(e.attempts, len(e.codes)-1)]
	e.attempts++
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	if code/100 == 2 {
		e.took = append(e.took, req)
	}
	w.WriteHeader(code)
}

func (e *endpoint) state() (int, []*prompb.WriteRequest) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.attempts, e.took
}

// countWarns is a slog handler that counts the records at warn or above.
type countWarns struct {
	mu sync.Mutex
	n  int
}

func (c *countWarns) Enabled(context.Context, slog.Level) bool { return true }
func (c *countWarns) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return nil
}
func (c *countWarns) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarns) WithGroup(string) slog.Handler      { return c }

// promSamples returns the cumulative counters and gauges of n ticks of
// the fleet, the counters with their exemplars' traces.
func promSamples(n int) []sample.Sample {
	g := New(Config{Seed: 7, Services: 2, CounterExemplars: true})
	var out []sample.Sample
	for range n {
		for _, s := range g.Tick(nil) {
			if s.Type == sample.Cumulative || s.Type == sample.Gauge {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestRemoteWriterSends: the endpoint answers 503, then 429, then takes
// every request. The writer sends the metadata first and again until it
// goes through, logging each failure at warn; what the gateway's decoder
// makes of the requests it took is what was sent: types from the
// metadata, the counters' traces from their exemplars.
func TestRemoteWriterSends(t *testing.T) {
	defer goleak.VerifyNone(t)
	ep := &endpoint{codes: []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusNoContent}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	warns := &countWarns{}
	w, err := NewRemoteWriter(RemoteWriteOptions{URL: srv.URL + "/api/v1/write", Client: srv.Client(),
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: slog.New(warns)})
	if err != nil {
		t.Fatal(err)
	}
	sent := promSamples(3)
	half := len(sent) / 2
	for _, part := range [][]sample.Sample{sent[:half], sent[half:]} {
		if err := w.Send(t.Context(), part); err != nil {
			t.Fatal(err)
		}
	}
	attempts, took := ep.state()
	if attempts != 5 || len(took) != 3 {
		t.Fatalf("got %d attempts and %d requests taken, want 5 and 3 (metadata thrice, then two of samples)", attempts, len(took))
	}
	if warns.n != 2 {
		t.Errorf("got %d warnings, want 2 (the 503 and the 429)", warns.n)
	}
	if len(took[0].Metadata) == 0 || len(took[0].Timeseries) != 0 {
		t.Errorf("first request: %d metadata, %d series; want metadata alone", len(took[0].Metadata), len(took[0].Timeseries))
	}
	for _, md := range took[0].Metadata {
		if md.Help == "" {
			t.Errorf("family %s has no help", md.MetricFamilyName)
		}
	}
	dec := remotewrite.NewDecoder()
	var got []sample.Sample
	for _, req := range took {
		ss, refused := dec.Decode(req, sample.DefaultLimits(), time.Now().UnixMilli(), nil, nil)
		if len(refused) > 0 {
			t.Fatalf("the decoder refused %d samples, the first %s: %v", len(refused), refused[0].Series, refused[0].Err)
		}
		got = append(got, ss...)
	}
	if len(got) != len(sent) {
		t.Fatalf("got %d samples, want %d", len(got), len(sent))
	}
	// The decoder keeps a series' samples in order, not the order
	// across series: compare as sets.
	key := func(s *sample.Sample) string {
		return fmt.Sprintf("%s%s %s %d %v trace %s", s.Name, s.Labels, s.Type, s.TimestampMs, s.Value, s.TraceID)
	}
	want := map[string]int{}
	traced := 0
	for i := range sent {
		want[key(&sent[i])]++
		if !sent[i].TraceID.IsZero() {
			traced++
		}
	}
	for i := range got {
		k := key(&got[i])
		if want[k] == 0 {
			t.Fatalf("got %+v, which was not sent (or not so)", got[i])
		}
		want[k]--
	}
	if traced == 0 {
		t.Error("no counter carried a trace")
	}
}

// TestRemoteWriterRejected: a 400 is not sent again.
func TestRemoteWriterRejected(t *testing.T) {
	ep := &endpoint{codes: []int{http.StatusNoContent, http.StatusBadRequest}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	w, err := NewRemoteWriter(RemoteWriteOptions{URL: srv.URL, Client: srv.Client(), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(t.Context(), promSamples(1))
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Code != http.StatusBadRequest {
		t.Fatalf("got %v, want a RejectedError with 400", err)
	}
	if attempts, _ := ep.state(); attempts != 2 {
		t.Errorf("got %d attempts, want 2 (metadata, samples once)", attempts)
	}
}

// TestRemoteWriterStops: Send returns ctx's error once ctx ends, however
// long the endpoint refuses.
func TestRemoteWriterStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	ep := &endpoint{codes: []int{http.StatusServiceUnavailable}}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	w, err := NewRemoteWriter(RemoteWriteOptions{URL: srv.URL, Client: srv.Client(), MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := w.Send(ctx, promSamples(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if attempts, _ := ep.state(); attempts < 2 {
		t.Errorf("got %d attempts, want it sent again", attempts)
	}
}

// TestRemoteWriterTypes: remote write has no timer nor increment type.
func TestRemoteWriterTypes(t *testing.T) {
	w, err := NewRemoteWriter(RemoteWriteOptions{URL: "http://127.0.0.1:1/api/v1/write"})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []sample.Type{sample.Timer, sample.Counter} {
		s := sample.Sample{Name: "x", Type: typ, Value: 1, TimestampMs: 1}
		if err := w.Send(t.Context(), []sample.Sample{s}); err == nil {
			t.Errorf("%s: sent, want an error", typ)
		}
	}
	if _, err := NewRemoteWriter(RemoteWriteOptions{URL: "127.0.0.1:9201"}); err == nil {
		t.Error("a URL without a scheme: got no error")
	}
}
