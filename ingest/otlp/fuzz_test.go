package otlp

import (
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tumblemetrics/tumble/sample"
)

// FuzzDecode: any protobuf or JSON body decodes to samples and refusals or
// to an error, never to a panic; every sample it gives validates.
func FuzzDecode(f *testing.F) {
	req := request(
		&metricspb.Metric{Name: "a.b", Unit: "ms", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
			DataPoints: []*metricspb.HistogramDataPoint{{Count: 2, ExplicitBounds: []float64{1}, BucketCounts: []uint64{1, 1},
				Exemplars: []*metricspb.Exemplar{{TraceId: make([]byte, 16)}}}}}}},
		&metricspb.Metric{Name: "g", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{
			DataPoints: []*metricspb.SummaryDataPoint{{Count: 1, QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 1}}}}}}},
	)
	b, err := proto.Marshal(req)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, false)
	j, err := protojson.Marshal(req)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(j, true)
	f.Fuzz(func(t *testing.T, body []byte, json bool) {
		req := &colmetricspb.ExportMetricsServiceRequest{}
		if json {
			err = protojson.Unmarshal(body, req)
		} else {
			err = proto.Unmarshal(body, req)
		}
		if err != nil {
			return
		}
		samples, _ := NewDecoder([]string{"host.name"}).Decode(req, sample.DefaultLimits(), nowMs, nil, nil)
		for i := range samples {
			if err := sample.Validate(&samples[i]); err != nil {
				t.Fatalf("sample %d %+v does not validate: %v", i, samples[i], err)
			}
		}
	})
}
