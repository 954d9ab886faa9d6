package remotewrite

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// referenceDecoder is the Decoder as it was before it read the wire
// format itself (commit 6e3b53d), kept to hold the Decoder to what it did:
// prompb's request, a string per series, a sample admitted by
// ingest.Admit each, the pending traces by that string.
type referenceDecoder struct {
	types   *Types
	pending map[string]pendingTrace
}

func newReferenceDecoder() *referenceDecoder {
	return &referenceDecoder{types: NewTypes(), pending: map[string]pendingTrace{}}
}

func (d *referenceDecoder) Decode(req *prompb.WriteRequest, limits sample.Limits, nowMs int64, dst []sample.Sample, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	d.types.Learn(req.Metadata)
	type span struct{ from, to int }
	spans := map[string][]span{}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Samples) == 0 && len(ts.Histograms) == 0 {
			continue // exemplars alone: below
		}
		name, ls := refSplitName(ts.Labels)
		series := refSeriesString(ts.Labels)
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
				continue
			}
			smp := sample.Sample{Name: name, Labels: ls, Type: typ, Value: s.Value, TimestampMs: s.Timestamp}
			err := ingest.Admit(&smp, limits, nowMs)
			ls = smp.Labels
			if err != nil {
				refused = append(refused, ingest.Refused{Series: series, Reason: ingest.Reason(err, sample.CodeBadField), Err: err, Sample: smp})
				continue
			}
			dst = append(dst, smp)
		}
		if len(dst) > first {
			spans[series] = append(spans[series], span{first, len(dst)})
			d.attach(series, dst[first:])
		}
	}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.Exemplars) == 0 {
			continue
		}
		series := refSeriesString(ts.Labels)
		for _, ex := range ts.Exemplars {
			var els []sample.Label
			for _, l := range ex.Labels {
				els = append(els, sample.Label{Name: l.Name, Value: l.Value})
			}
			tid, ok := traceID(els)
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
				d.pending[series] = pendingTrace{tid, ex.Timestamp}
			}
		}
	}
	return dst, refused
}

func (d *referenceDecoder) attach(series string, ss []sample.Sample) {
	pt, ok := d.pending[series]
	if !ok {
		return
	}
	delete(d.pending, series)
	best := -1
	var bestDist uint64
	for i := range ss {
		if d := absDiff(ss[i].TimestampMs, pt.ms); ss[i].TraceID.IsZero() && (best < 0 || d < bestDist) {
			best, bestDist = i, d
		}
	}
	if best >= 0 && bestDist <= maxExemplarWait {
		ss[best].TraceID = pt.trace
	}
}

func refSplitName(pls []prompb.Label) (string, sample.Labels) {
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

func refSeriesString(pls []prompb.Label) string {
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
