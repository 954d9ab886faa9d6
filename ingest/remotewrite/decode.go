package remotewrite

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// Reason codes of the samples a remote write refuses, besides sample.Code….
const (
	// ReasonNativeHistogram: a native histogram sample, which tumble does
	// not aggregate; send classic histograms (their _bucket series).
	ReasonNativeHistogram = "native_histogram"
	// ReasonNoName: a series without a __name__ label.
	ReasonNoName = "no_metric_name"
)

// traceLabels are the exemplar labels that may carry a trace ID, in the
// order they are looked for.
var traceLabels = []string{"trace_id", "traceID", "trace.id", "traceId"}

// Decoder turns remote-write requests into samples. Its state spans
// requests: the types the metadata told, and the traces of exemplars that
// came without a sample of their series. Any goroutine may use it.
type Decoder struct {
	types   *Types
	pending *pendingTraces
}

// NewDecoder returns a Decoder that knows no type yet.
func NewDecoder() *Decoder {
	return &Decoder{types: NewTypes(), pending: newPendingTraces()}
}

// Types returns the metric families' types d has learnt.
func (d *Decoder) Types() *Types { return d.types }

// Decode learns the metadata of req and turns its series into samples
// appended to dst; a series or sample that cannot be a tumble sample is
// appended to refused with the reason. The samples of a series stay in the
// order sent. Staleness markers (the NaN Prometheus sends when a series
// ends) are no samples: they are skipped.
//
// Each exemplar with a trace ID gives its trace to the sample of its
// series nearest to it in time that has none: Prometheus sends a scrape's
// exemplars as series of their own, most often in the same request as its
// samples; an exemplar whose series has no sample in the request waits for
// the series' next one (within maxExemplarWait of it).
func (d *Decoder) Decode(req *prompb.WriteRequest, limits sample.Limits, nowMs int64, dst []sample.Sample, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	d.types.Learn(req.Metadata)
	type span struct{ from, to int }
	spans := map[string][]span{}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Samples) == 0 && len(ts.Histograms) == 0 {
			continue // exemplars alone: below
		}
		name, ls := splitName(ts.Labels)
		series := seriesString(ts.Labels)
		if name == "" {
			for _, s := range ts.Samples {
				refused = append(refused, ingest.Refused{Series: series, Reason: ReasonNoName,
					Err:    fmt.Errorf("no __name__ label"),
					Sample: sample.Sample{Labels: ls, Value: s.Value, TimestampMs: s.Timestamp, Type: sample.Gauge}})
			}
			continue
		}
		for _, h := range ts.Histograms {
			refused = append(refused, ingest.Refused{Series: series, Reason: ReasonNativeHistogram,
				Err:    fmt.Errorf("a native histogram, which tumble does not aggregate: send classic histograms (their _bucket, _count and _sum series)"),
				Sample: sample.Sample{Name: name, Labels: ls, Type: sample.Cumulative, Value: histogramCount(&h), TimestampMs: h.Timestamp}})
		}
		typ := d.types.SampleType(name)
		first := len(dst)
		for _, s := range ts.Samples {
			if value.IsStaleNaN(s.Value) {
				continue // the end of a series that a scrape no longer found: no sample
			}
			smp := sample.Sample{Name: name, Labels: ls, Type: typ, Value: s.Value, TimestampMs: s.Timestamp}
			err := ingest.Admit(&smp, limits, nowMs)
			ls = smp.Labels // sorted once: the series' samples share them
			if err != nil {
				refused = append(refused, ingest.Refused{Series: series, Reason: ingest.Reason(err, sample.CodeBadField), Err: err, Sample: smp})
				continue
			}
			dst = append(dst, smp)
		}
		if len(dst) > first {
			spans[series] = append(spans[series], span{first, len(dst)})
			d.pending.attach(series, dst[first:])
		}
	}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Exemplars) == 0 {
			continue
		}
		series := seriesString(ts.Labels)
		for _, ex := range ts.Exemplars {
			tid, ok := traceID(ex.Labels)
			if !ok {
				continue
			}
			var best *sample.Sample
			var bestDist uint64
			for _, sp := range spans[series] {
				for j := sp.from; j < sp.to; j++ {
					if s := &dst[j]; s.TraceID.IsZero() {
						if d := absDiff(s.TimestampMs, ex.Timestamp); best == nil || d < bestDist {
							best, bestDist = s, d
						}
					}
				}
			}
			if best != nil {
				best.TraceID = tid
			} else {
				d.pending.put(series, tid, ex.Timestamp)
			}
		}
	}
	return dst, refused
}

// splitName returns the value of __name__ and the other labels.
func splitName(pls []prompb.Label) (string, sample.Labels) {
	var name string
	ls := make(sample.Labels, 0, len(pls))
	for _, l := range pls {
		if l.Name == "__name__" {
			name = l.Value
			continue
		}
		ls = append(ls, sample.Label{Name: l.Name, Value: l.Value})
	}
	return name, ls
}

// seriesString names a series as PromQL does, for error messages.
func seriesString(pls []prompb.Label) string {
	var b strings.Builder
	var name string
	for _, l := range pls {
		if l.Name == "__name__" {
			name = l.Value
		}
	}
	b.WriteString(name)
	b.WriteByte('{')
	n := 0
	for _, l := range pls {
		if l.Name == "__name__" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

func absDiff(a, b int64) uint64 {
	if a > b {
		return uint64(a) - uint64(b)
	}
	return uint64(b) - uint64(a)
}

// traceID returns the trace ID an exemplar's labels carry, if valid.
func traceID(ls []prompb.Label) (sample.TraceID, bool) {
	for _, name := range traceLabels {
		for _, l := range ls {
			if l.Name != name {
				continue
			}
			v := l.Value
			if len(v) == 16 { // a 64-bit ID, as some tracers write them
				v = strings.Repeat("0", 16) + v
			}
			if tid, err := sample.ParseTraceID(strings.ToLower(v)); err == nil {
				return tid, true
			}
		}
	}
	return sample.TraceID{}, false
}

// histogramCount is a native histogram's count, for its dead letter.
func histogramCount(h *prompb.Histogram) float64 {
	if h.IsFloatHistogram() {
		return h.GetCountFloat()
	}
	return float64(h.GetCountInt())
}
