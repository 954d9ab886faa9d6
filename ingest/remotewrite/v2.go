package remotewrite

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// The headers of a remote write 2.0 answer: what was written.
const (
	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// isV2 reports whether a request's content type names remote write 2.0.
func isV2(contentType string) bool {
	return strings.Contains(contentType, "io.prometheus.write.v2.Request")
}

// fromV2 turns a remote write 2.0 request into the 1.0 form Decode reads:
// labels and exemplar labels resolved from the symbols, and each series'
// metadata as a family's (a histogram's or a summary's series name its
// family without the _bucket, _count or _sum).
func fromV2(req *writev2.Request) (*prompb.WriteRequest, error) {
	syms := req.Symbols
	sym := func(ref uint32) (string, error) {
		if int(ref) >= len(syms) {
			return "", fmt.Errorf("symbol reference %d past the %d symbols", ref, len(syms))
		}
		return syms[ref], nil
	}
	refLabels := func(refs []uint32) ([]prompb.Label, error) {
		if len(refs)%2 != 0 {
			return nil, fmt.Errorf("%d label references, want pairs", len(refs))
		}
		ls := make([]prompb.Label, 0, len(refs)/2)
		for i := 0; i < len(refs); i += 2 {
			n, err := sym(refs[i])
			if err != nil {
				return nil, err
			}
			v, err := sym(refs[i+1])
			if err != nil {
				return nil, err
			}
			ls = append(ls, prompb.Label{Name: n, Value: v})
		}
		return ls, nil
	}
	out := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(req.Timeseries))}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ls, err := refLabels(ts.LabelsRefs)
		if err != nil {
			return nil, fmt.Errorf("series %d: %w", i, err)
		}
		s := prompb.TimeSeries{Labels: ls}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, prompb.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
		}
		for _, h := range ts.Histograms {
			s.Histograms = append(s.Histograms, prompb.Histogram{Count: &prompb.Histogram_CountFloat{CountFloat: v2Count(&h)}, Timestamp: h.Timestamp})
		}
		for _, ex := range ts.Exemplars {
			els, err := refLabels(ex.LabelsRefs)
			if err != nil {
				return nil, fmt.Errorf("series %d: exemplar: %w", i, err)
			}
			s.Exemplars = append(s.Exemplars, prompb.Exemplar{Labels: els, Value: ex.Value, Timestamp: ex.Timestamp})
		}
		out.Timeseries = append(out.Timeseries, s)
		if mt := ts.Metadata.Type; mt != writev2.Metadata_METRIC_TYPE_UNSPECIFIED {
			name := ""
			for _, l := range ls {
				if l.Name == "__name__" {
					name = l.Value
				}
			}
			ft := prompb.MetricMetadata_MetricType(mt) // the same numbers in both versions
			if ft == prompb.MetricMetadata_HISTOGRAM || ft == prompb.MetricMetadata_SUMMARY {
				for _, sfx := range []string{"_bucket", "_count", "_sum"} {
					name = strings.TrimSuffix(name, sfx)
				}
			}
			out.Metadata = append(out.Metadata, prompb.MetricMetadata{Type: ft, MetricFamilyName: name})
		}
	}
	return out, nil
}

func v2Count(h *writev2.Histogram) float64 {
	if c, ok := h.Count.(*writev2.Histogram_CountFloat); ok {
		return c.CountFloat
	}
	return float64(h.GetCountInt())
}

// setV2Headers tells a 2.0 sender what was written.
func setV2Headers(w http.ResponseWriter, samples, exemplars int) {
	w.Header().Set(headerSamplesWritten, strconv.Itoa(samples))
	w.Header().Set(headerHistogramsWritten, "0")
	w.Header().Set(headerExemplarsWritten, strconv.Itoa(exemplars))
}
