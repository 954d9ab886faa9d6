package remotewrite

import (
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// FuzzDecode: any body, snappy-compressed or not, decodes to samples and
// refusals or to an error, never to a panic or past the limits; every
// sample it gives validates.
func FuzzDecode(f *testing.F) {
	req := prompb.WriteRequest{
		Metadata: []prompb.MetricMetadata{{MetricFamilyName: "h", Type: prompb.MetricMetadata_HISTOGRAM}},
		Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "h_bucket", "le", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}},
				Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), Timestamp: now}}},
			{Labels: lbls("__name__", "n"), Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 1}}}},
		},
	}
	b, err := req.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(snappy.Encode(nil, b))
	f.Add(b)
	f.Add(snappy.Encode(nil, []byte{0x0a, 0x02, 0x0a, 0x00}))
	limits := ingest.Limits{MaxDecodedBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := ingest.DecodeSnappy(nil, body, limits)
		if err != nil {
			return
		}
		if len(raw) > 1<<20 {
			t.Fatalf("decoded %d bytes past the limit", len(raw))
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			return
		}
		samples, _ := NewDecoder().Decode(&req, sample.DefaultLimits(), now, nil, nil)
		for i := range samples {
			if err := sample.Validate(&samples[i]); err != nil {
				t.Fatalf("sample %d %+v does not validate: %v", i, samples[i], err)
			}
		}
	})
}
