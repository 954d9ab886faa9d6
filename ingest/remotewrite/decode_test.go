package remotewrite

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/sample"
)

func lbls(kv ...string) []prompb.Label {
	var ls []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

const now = int64(1_800_000_000_000)

func TestDecode(t *testing.T) {
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	req := &prompb.WriteRequest{
		Metadata: []prompb.MetricMetadata{
			{MetricFamilyName: "http_request_duration_seconds", Type: prompb.MetricMetadata_HISTOGRAM},
			{MetricFamilyName: "queue_depth", Type: prompb.MetricMetadata_GAUGE},
			{MetricFamilyName: "jobs", Type: prompb.MetricMetadata_COUNTER},
		},
		Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "http_request_duration_seconds_bucket", "le", "0.5", "job", "api"),
				Samples:   []prompb.Sample{{Value: 3, Timestamp: now - 2000}, {Value: 5, Timestamp: now - 1000}},
				Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", trace), Value: 0.42, Timestamp: now - 1100}}},
			{Labels: lbls("__name__", "queue_depth", "queue", "a"), Samples: []prompb.Sample{{Value: 7, Timestamp: now - 1000}}},
			{Labels: lbls("__name__", "jobs", "kind", "x"), Samples: []prompb.Sample{{Value: 9, Timestamp: now - 1000}}},
			{Labels: lbls("__name__", "unknown_total"), Samples: []prompb.Sample{{Value: 1, Timestamp: now - 1000}}},
			{Labels: lbls("__name__", "temperature", "room", "b"), Samples: []prompb.Sample{{Value: 21, Timestamp: now - 1000}, {Value: math.Float64frombits(value.StaleNaN), Timestamp: now}}},
			{Labels: lbls("__name__", "native", "job", "api"), Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 4}, Timestamp: now}}},
			{Labels: lbls("job", "nameless"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "bad", "__reserved", "x"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "future"), Samples: []prompb.Sample{{Value: 1, Timestamp: now + time.Hour.Milliseconds()}}},
		},
	}
	got, refused := NewDecoder().Decode(req, sample.DefaultLimits(), now, nil, nil)

	want := []struct {
		name  string
		typ   sample.Type
		value float64
		trace string
	}{
		{"http_request_duration_seconds_bucket", sample.Cumulative, 3, ""},
		{"http_request_duration_seconds_bucket", sample.Cumulative, 5, trace}, // nearest to the exemplar
		{"queue_depth", sample.Gauge, 7, ""},
		{"jobs", sample.Cumulative, 9, ""},
		{"unknown_total", sample.Cumulative, 1, ""}, // no metadata: by its name
		{"temperature", sample.Gauge, 21, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d samples %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Type != w.typ || g.Value != w.value || g.TraceID.String() != w.trace {
			t.Errorf("sample %d: got %s %s %v trace %q, want %s %s %v trace %q", i, g.Name, g.Type, g.Value, g.TraceID, w.name, w.typ, w.value, w.trace)
		}
	}
	if ls := got[0].Labels; len(ls) != 2 || ls[0].Name != "job" || ls[1].Name != "le" {
		t.Errorf("labels of the bucket: got %v, want job and le, sorted, without __name__", ls)
	}

	wantRefused := []struct{ series, reason, err string }{
		{`native{job="api"}`, ReasonNativeHistogram, "native histogram"},
		{`{job="nameless"}`, ReasonNoName, "no __name__"},
		{`bad{__reserved="x"}`, sample.CodeBadField, "reserved"},
		{`future{}`, sample.CodeTimestampInFuture, "ahead of now"},
	}
	if len(refused) != len(wantRefused) {
		t.Fatalf("got %d refused %+v, want %d", len(refused), refused, len(wantRefused))
	}
	for i, w := range wantRefused {
		r := refused[i]
		if r.Series != w.series || r.Reason != w.reason || !strings.Contains(r.Err.Error(), w.err) {
			t.Errorf("refused %d: got %s %s %v, want %s %s %q", i, r.Series, r.Reason, r.Err, w.series, w.reason, w.err)
		}
	}
}

func TestSampleType(t *testing.T) {
	types := NewTypes()
	types.Learn([]prompb.MetricMetadata{
		{MetricFamilyName: "rpc", Type: prompb.MetricMetadata_SUMMARY},
		{MetricFamilyName: "up_total_weird", Type: prompb.MetricMetadata_GAUGE},
		{MetricFamilyName: "inflight", Type: prompb.MetricMetadata_GAUGEHISTOGRAM},
	})
	for _, tc := range []struct {
		name string
		want sample.Type
	}{
		{"rpc", sample.Gauge}, // a summary's quantiles
		{"rpc_sum", sample.Cumulative},
		{"rpc_count", sample.Cumulative},
		{"up_total_weird", sample.Gauge},
		{"inflight_bucket", sample.Gauge}, // a gauge histogram's buckets go up and down
		{"requests_total", sample.Cumulative},
		{"latency_bucket", sample.Cumulative},
		{"memory_bytes", sample.Gauge},
	} {
		if got := types.SampleType(tc.name); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestDecodeExemplarsApart: Prometheus sends exemplars as series of their
// own; they find their series' samples in the same request, or wait for
// the next one.
func TestDecodeExemplarsApart(t *testing.T) {
	const a, b, c = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b74bf92f3577b34da6", "0af7651916cd43dd8448eb211c80319c"
	d := NewDecoder()
	first := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "x_bucket", "le", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now - 2000}, {Value: 2, Timestamp: now - 1000}}},
		{Labels: lbls("__name__", "x_bucket", "le", "1"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", a), Timestamp: now - 1050}}},
		{Labels: lbls("__name__", "y_bucket", "le", "1"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", b), Timestamp: now - 500}}},
		{Labels: lbls("__name__", "z_bucket", "le", "1"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", c), Timestamp: now - 500}}},
	}}
	got, _ := d.Decode(first, sample.DefaultLimits(), now, nil, nil)
	if len(got) != 2 || got[0].TraceID.String() != "" || got[1].TraceID.String() != a {
		t.Fatalf("first request: got %+v, want the trace %s on the second sample", got, a)
	}
	second := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "y_bucket", "le", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
		{Labels: lbls("__name__", "z_bucket", "le", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now + maxExemplarWait}}},
	}}
	got, _ = d.Decode(second, sample.DefaultLimits(), now+maxExemplarWait, nil, nil)
	if len(got) != 2 || got[0].TraceID.String() != b || got[1].TraceID.String() != "" {
		t.Errorf("second request: got %+v, want %s on y (waited), none on z (too far in time)", got, b)
	}
}
