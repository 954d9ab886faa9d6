package otlp

import (
	"strconv"
	"strings"
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/tumblemetrics/tumble/sample"
)

const nowMs = int64(1_800_000_000_000)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func request(ms ...*metricspb.Metric) *colmetricspb.ExportMetricsServiceRequest {
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "checkout"), str("service.namespace", "shop"),
			str("service.instance.id", "pod-1"), str("host.name", "h1")}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: "app", Version: "1.2"}, Metrics: ms}},
	}}}
}

func TestDecode(t *testing.T) {
	ns := uint64(nowMs-1000) * 1e6
	traceA := []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	req := request(
		&metricspb.Metric{Name: "http.server.requests", Unit: "1", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{IsMonotonic: true,
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints: []*metricspb.NumberDataPoint{{Attributes: []*commonpb.KeyValue{str("http.response.status_code", "200")}, TimeUnixNano: ns,
				Value: &metricspb.NumberDataPoint_AsInt{AsInt: 7}, Exemplars: []*metricspb.Exemplar{{TraceId: traceA}}}}}}},
		&metricspb.Metric{Name: "queue.depth", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{
			DataPoints: []*metricspb.NumberDataPoint{{TimeUnixNano: ns, Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: 3}},
				{TimeUnixNano: ns, Flags: flagNoRecordedValue}}}}},
		&metricspb.Metric{Name: "jobs.done", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{IsMonotonic: true,
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA,
			DataPoints:             []*metricspb.NumberDataPoint{{TimeUnixNano: ns, Value: &metricspb.NumberDataPoint_AsInt{AsInt: 2}}}}}},
		&metricspb.Metric{Name: "latency", Unit: "s", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			DataPoints: []*metricspb.HistogramDataPoint{{TimeUnixNano: ns, Count: 6, Sum: ptr(1.5), ExplicitBounds: []float64{0.1, 0.5},
				BucketCounts: []uint64{1, 3, 2}, Exemplars: []*metricspb.Exemplar{{TraceId: traceA, Value: &metricspb.Exemplar_AsDouble{AsDouble: 0.3}}}}}}}},
		&metricspb.Metric{Name: "sizes", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
			DataPoints: []*metricspb.ExponentialHistogramDataPoint{{TimeUnixNano: ns, Count: 4}}}}},
	)
	got, refused := NewDecoder(nil).Decode(req, sample.DefaultLimits(), nowMs, nil, nil)
	var lines []string
	for _, s := range got {
		lines = append(lines, s.Name+s.Labels.String()+" "+s.Type.String()+" "+strconv.FormatFloat(s.Value, 'f', -1, 64)+" "+s.TraceID.String())
	}
	want := []string{
		`http_server_requests_total{http_response_status_code="200", instance="pod-1", job="shop/checkout", otel_scope_name="app", otel_scope_version="1.2"} cumulative 7 4bf92f3577b34da6a3ce929d0e0e4736`,
		`queue_depth{instance="pod-1", job="shop/checkout", otel_scope_name="app", otel_scope_version="1.2"} gauge 3 `,
		`jobs_done_total{instance="pod-1", job="shop/checkout", otel_scope_name="app", otel_scope_version="1.2"} counter 2 `,
		`latency_seconds_bucket{instance="pod-1", job="shop/checkout", le="0.1", otel_scope_name="app", otel_scope_version="1.2"} cumulative 1 `,
		`latency_seconds_bucket{instance="pod-1", job="shop/checkout", le="0.5", otel_scope_name="app", otel_scope_version="1.2"} cumulative 4 4bf92f3577b34da6a3ce929d0e0e4736`,
		`latency_seconds_bucket{instance="pod-1", job="shop/checkout", le="+Inf", otel_scope_name="app", otel_scope_version="1.2"} cumulative 6 `,
		`latency_seconds_count{instance="pod-1", job="shop/checkout", otel_scope_name="app", otel_scope_version="1.2"} cumulative 6 `,
		`latency_seconds_sum{instance="pod-1", job="shop/checkout", otel_scope_name="app", otel_scope_version="1.2"} cumulative 1.5 `,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(refused) != 1 || refused[0].Reason != ReasonExponentialHistogram {
		t.Errorf("refused: got %+v, want the exponential histogram", refused)
	}
}

func ptr(f float64) *float64 { return &f }

func TestCountSamples(t *testing.T) {
	req := request(
		&metricspb.Metric{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: make([]*metricspb.NumberDataPoint, 3)}}},
		&metricspb.Metric{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			DataPoints: []*metricspb.HistogramDataPoint{{BucketCounts: []uint64{1, 2, 3}}}}}},
	)
	if n := countSamples(req, 100); n != 3+3+2 {
		t.Errorf("got %d, want 8", n)
	}
	if n := countSamples(req, 2); n <= 2 {
		t.Errorf("with max 2: got %d, want past it", n)
	}
}
