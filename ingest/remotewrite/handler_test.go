package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// gateway is a Handler writing to an in-process broker.
type gateway struct {
	c   *kfake.Cluster
	srv *httptest.Server
	reg *prometheus.Registry
	w   *ingest.Writer
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "raw"), kfake.SeedTopics(1, "dead"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w, err := ingest.NewWriter(ingest.WriterOptions{Client: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)},
		Topic: "raw", DeadLetterTopic: "dead", ID: "test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	reg := prometheus.NewRegistry()
	h, err := NewHandler(Options{Writer: w, Metrics: ingest.NewMetrics(reg), Samples: sample.DefaultLimits(),
		Limits: ingest.Limits{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 4 << 20, MaxSamples: 1000},
		Now:    func() time.Time { return time.UnixMilli(now) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &gateway{c: c, srv: srv, reg: reg, w: w}
}

func (g *gateway) post(t *testing.T, body []byte, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func encode(t *testing.T, req *prompb.WriteRequest) []byte {
	t.Helper()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// consume reads every committed record of topic.
func consume(t *testing.T, c *kfake.Cluster, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.Empty() {
			return recs
		}
		recs = append(recs, fs.Records()...)
	}
}

func TestHandler(t *testing.T) {
	g := newGateway(t)
	var req prompb.WriteRequest
	for i := range 50 {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  lbls("__name__", "requests_total", "pod", "p"+string(rune('a'+i%26))+string(rune('a'+i/26))),
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: now - 2000}, {Value: float64(i + 1), Timestamp: now - 1000}},
		})
	}
	code, _, body := g.post(t, encode(t, &req))
	if code != http.StatusNoContent {
		t.Fatalf("got %d %q, want 204", code, body)
	}
	var got []sample.Sample
	for _, r := range consume(t, g.c, "raw") {
		ss, err := sample.DecodeRecord(r.Value, sample.FormatAuto, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ss...)
	}
	if len(got) != 100 {
		t.Fatalf("got %d samples in the raw topic, want 100", len(got))
	}
	// The samples of a series keep their order.
	last := map[uint64]float64{}
	for _, s := range got {
		if v, ok := last[s.SeriesID()]; ok && s.Value <= v {
			t.Errorf("%s%v: %v after %v", s.Name, s.Labels, s.Value, v)
		}
		last[s.SeriesID()] = s.Value
		if s.Type != sample.Cumulative {
			t.Errorf("%s: type %s, want cumulative", s.Name, s.Type)
		}
	}

	// Refused series: a 400 that names them; the rest written; their dead
	// letters with the reason.
	bad := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "ok_total"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
		{Labels: lbls("__name__", "native"), Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 1}, Timestamp: now}}},
	}}
	code, _, body = g.post(t, encode(t, &bad))
	if code != http.StatusBadRequest || !strings.Contains(body, "native{}: native_histogram") || !strings.Contains(body, "1 samples refused (1 written)") {
		t.Errorf("refused series: got %d %q, want 400 naming native{}", code, body)
	}
	dead := consume(t, g.c, "dead")
	if len(dead) != 1 || string(header(dead[0], sample.HeaderReason)) != ReasonNativeHistogram {
		t.Errorf("dead letters: got %d %v, want the native histogram's", len(dead), dead)
	}

	for _, tc := range []struct {
		name   string
		body   []byte
		header []string
		code   int
		want   string
	}{
		{"not snappy", []byte("hello"), nil, 400, "snappy"},
		{"not a WriteRequest", snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), nil, 400, "not a prometheus.WriteRequest"},
		{"too large decoded", snappy.Encode(nil, make([]byte, 5<<20)), nil, 413, "decoded body"},
		{"too large", make([]byte, 2<<20), nil, 413, "body of"},
		{"too many samples", encode(t, manySamples(1001)), nil, 413, "samples of 1001"},
		{"protocol 2.0, truncated", snappy.Encode(nil, []byte{0x0a, 0x05, 0x61}), []string{"Content-Type", v2Type}, 400, "not an io.prometheus.write.v2.Request"},
		{"text", encode(t, &req), []string{"Content-Type", "text/plain"}, 415, "want application/x-protobuf"},
		{"gzip", encode(t, &req), []string{"Content-Encoding", "gzip"}, 415, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := g.post(t, tc.body, tc.header...)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}

	// Kafka gone: 503 with Retry-After, counted as failed.
	g.c.Close()
	code, hdr, body := g.post(t, encode(t, &req))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("Kafka down: got %d %q, Retry-After %q; want 503 with Retry-After", code, body, hdr.Get("Retry-After"))
	}
	if n := counter(t, g.reg, "tumble_ingest_samples_total", "failed"); n != 100 {
		t.Errorf("failed samples: got %v, want 100", n)
	}
}

func manySamples(n int) *prompb.WriteRequest {
	ts := prompb.TimeSeries{Labels: lbls("__name__", "x")}
	for i := range n {
		ts.Samples = append(ts.Samples, prompb.Sample{Value: 1, Timestamp: now - int64(n-i)})
	}
	return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts}}
}

func header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// counter returns the value of the counter of reg named name whose last
// label has value.
func counter(t *testing.T, reg *prometheus.Registry, name, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); ls[len(ls)-1].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

const v2Type = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

// TestHandlerV2: a remote write 2.0 request, its labels and exemplars by
// symbol and its metadata per series, is written as 1.0's would be, and
// the answer says what was written.
func TestHandlerV2(t *testing.T) {
	g := newGateway(t)
	st := writev2.NewSymbolTable()
	ref := func(kv ...string) []uint32 {
		var refs []uint32
		for _, s := range kv {
			refs = append(refs, st.Symbolize(s))
		}
		return refs
	}
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	req := writev2.Request{Timeseries: []writev2.TimeSeries{
		{LabelsRefs: ref("__name__", "rpc_seconds_bucket", "job", "api", "le", "0.5"),
			Samples:   []writev2.Sample{{Value: 3, Timestamp: now - 2000}, {Value: 4, Timestamp: now - 1000}},
			Exemplars: []writev2.Exemplar{{LabelsRefs: ref("trace_id", trace), Value: 0.3, Timestamp: now - 1000}},
			Metadata:  writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM}},
		{LabelsRefs: ref("__name__", "temperature", "room", "a"), Samples: []writev2.Sample{{Value: 20, Timestamp: now - 1000}},
			Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE}},
		{LabelsRefs: ref("__name__", "jobs_total"), Samples: []writev2.Sample{{Value: 9, Timestamp: now - 1000}},
			Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER}},
	}}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code, hdr, body := g.post(t, snappy.Encode(nil, b), "Content-Type", v2Type, "X-Prometheus-Remote-Write-Version", "2.0.0")
	if code != http.StatusNoContent {
		t.Fatalf("got %d %q, want 204", code, body)
	}
	if hdr.Get(headerSamplesWritten) != "4" || hdr.Get(headerExemplarsWritten) != "1" || hdr.Get(headerHistogramsWritten) != "0" {
		t.Errorf("headers: got samples %q, exemplars %q, histograms %q; want 4, 1, 0", hdr.Get(headerSamplesWritten), hdr.Get(headerExemplarsWritten), hdr.Get(headerHistogramsWritten))
	}
	got := map[string]string{}
	for _, r := range consume(t, g.c, "raw") {
		ss, err := sample.DecodeRecord(r.Value, sample.FormatAuto, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			got[s.Name+fmt.Sprint(s.Value)] = s.Type.String() + " " + s.TraceID.String()
		}
	}
	want := map[string]string{"rpc_seconds_bucket3": "cumulative ", "rpc_seconds_bucket4": "cumulative " + trace,
		"temperature20": "gauge ", "jobs_total9": "cumulative "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}

	// A bad symbol reference is the sender's fault.
	bad := writev2.Request{Symbols: []string{""}, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{0, 7}, Samples: []writev2.Sample{{Value: 1}}}}}
	b, _ = bad.Marshal()
	if code, _, body := g.post(t, snappy.Encode(nil, b), "Content-Type", v2Type); code != http.StatusBadRequest || !strings.Contains(body, "symbol reference 7") {
		t.Errorf("bad symbol: got %d %q, want 400 naming the reference", code, body)
	}
}
