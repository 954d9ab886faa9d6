package remotewrite

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/internal/hashtab"
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
	seed    maphash.Seed // of the samples' Keys
	known   *knownSeries
}

// NewDecoder returns a Decoder that knows no type yet.
func NewDecoder() *Decoder {
	return &Decoder{types: NewTypes(), pending: newPendingTraces(), seed: maphash.MakeSeed(), known: newKnownSeries(DefaultKnownSeries)}
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
	var r writeRequest
	r.fromProto(req)
	return d.decode(&r, limits, nowMs, dst, nil, refused)
}

// decode is Decode of r. The labels of a series' samples are its part of
// r.labels (capacity limited: an append copies them), or a copy when they
// were not sent sorted. A series is checked once, against the decoders'
// rules and the limits on labels, its samples then each on its own: a
// finite value, a timestamp in bounds. It is named as a string only to
// refuse a sample of it; an exemplar, or a trace waiting, finds its series
// by a hash of its name and labels.
//
// With heads, decode remembers the series it finds valid (knownSeries), a
// series sent again is not checked or hashed again, and it appends to
// *heads, for each sample it appends to dst, the head of its series
// (sample.AppendSeriesHead) transcoded from the label fields as sent, or
// nil for a series sent otherwise than Prometheus sends it (labels
// among its other fields, a label of other fields than a name and a value).
func (d *Decoder) decode(r *writeRequest, limits sample.Limits, nowMs int64, dst []sample.Sample, heads *[][]byte, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	d.types.learn(r.metadata)
	var types typeCache
	inBounds := newSampleBounds(limits, nowMs)
	// The samples of the series, by seriesKey, for the request's exemplars.
	spans := len(r.exemplars) > 0
	if spans && r.spanOf == nil {
		r.spanOf = make(map[uint64][2]int32, len(r.series))
	}
	clear(r.spanOf)
	r.spanList = r.spanList[:0]
	var remember []hashtab.Key // series to remember, as
	var rememberAs []known
	defer func() { d.known.remember(limits, remember, rememberAs) }()
	for i := range r.series {
		s := &r.series[i]
		if s.points.len() == 0 && s.histograms.len() == 0 {
			continue // exemplars alone: below
		}
		name, sent := s.name, r.labels[s.labels.from:s.labels.to:s.labels.to]
		ls := sample.Labels(sent)
		series := "" // seriesString, once needed
		if name == "" {
			if s.points.len() > 0 {
				series = seriesString(name, sent)
			}
			for _, p := range r.points[s.points.from:s.points.to] {
				refused = append(refused, ingest.Refused{Series: series, Reason: ReasonNoName,
					Err:    errors.New("no __name__ label"),
					Sample: sample.Sample{Labels: ls, Value: p.value, TimestampMs: p.ts, Type: sample.Gauge}})
			}
			continue
		}
		hists := len(refused)
		for _, h := range r.histograms[s.histograms.from:s.histograms.to] {
			if series == "" {
				series = seriesString(name, sent)
			}
			refused = append(refused, ingest.Refused{Series: series, Reason: ReasonNativeHistogram,
				Err:    errors.New("a native histogram, which tumble does not aggregate: send classic histograms (their _bucket, _count and _sum series)"),
				Sample: sample.Sample{Name: name, Labels: ls, Type: sample.Cumulative, Value: h.count, TimestampMs: h.ts}})
		}
		typ := types.sampleType(d.types, name)
		first := len(dst)
		checked := false
		var invalid, overLimits error // the series' own: sample.Validate's, and that of the limits on its labels
		var key sample.SeriesKey      // hashed once for the samples' writer (ingest.Records)
		var kn known                  // the series remembered, if found
		found := false
		var lh hashtab.Key
		remembering := heads != nil && s.head.len() > 0
		if remembering {
			lh = d.known.hash(r.str[s.head.from:s.head.to])
			var old bool
			if kn, found, old = d.known.lookup(lh, limits); found {
				checked, key = true, kn.key
				if !sortedNames(ls) {
					ls = slices.Clone(ls)
					slices.SortFunc(ls, func(a, b sample.Label) int { return strings.Compare(a.Name, b.Name) })
				}
				if old {
					remember = append(remember, lh)
					rememberAs = append(rememberAs, kn)
				}
			}
		}
		for _, p := range r.points[s.points.from:s.points.to] {
			if value.IsStaleNaN(p.value) {
				continue // the end of a series that a scrape no longer found: no sample
			}
			if !checked {
				checked = true
				ls, invalid, overLimits = checkSeries(name, ls, typ, limits, nowMs)
				if invalid == nil && overLimits == nil {
					key.ID, key.Check = ls.Hashes(name, d.seed)
					if remembering {
						kn, found = known{key: key, sk: seriesKey(name, sent)}, true
						remember = append(remember, lh)
						rememberAs = append(rememberAs, kn)
					}
				}
			}
			if invalid == nil && overLimits == nil && inBounds.holds(p) {
				dst = append(dst, sample.Sample{Name: name, Labels: ls, Type: typ, Value: p.value, TimestampMs: p.ts, Key: key})
				continue
			}
			smp := sample.Sample{Name: name, Labels: ls, Type: typ, Value: p.value, TimestampMs: p.ts}
			err := invalid
			if err == nil {
				err = ingest.Admit(&smp, limits, nowMs) // the series passed: its value or time did not
			}
			if err != nil {
				if series == "" {
					series = seriesString(name, sent)
				}
				refused = append(refused, ingest.Refused{Series: series, Reason: ingest.Reason(err, sample.CodeBadField), Err: err, Sample: smp})
				continue
			}
			smp.Key = key
			dst = append(dst, smp)
		}
		for k := hists; k < hists+s.histograms.len(); k++ {
			refused[k].Sample.Labels = ls // sorted too, if its samples sorted them
		}
		if heads != nil {
			var head []byte
			if found && len(dst) > first {
				head = r.transcodeHead(s.head)
			}
			for range len(dst) - first {
				*heads = append(*heads, head)
			}
		}
		if len(dst) == first {
			continue
		}
		waiting := d.pending.waiting()
		if !spans && !waiting {
			continue
		}
		var sk uint64
		if found {
			sk = kn.sk
		} else {
			sk = seriesKey(name, sent)
		}
		if spans {
			r.addSpan(sk, span{first, len(dst), i})
		}
		if waiting {
			d.pending.attach(sk, dst[first:])
		}
	}
	if !spans {
		return dst, refused
	}
	for i := range r.series {
		s := &r.series[i]
		keyed, key := false, uint64(0)
		for _, ex := range r.exemplars[s.exemplars.from:s.exemplars.to] {
			tid, ok := traceID(r.exLabels[ex.labels.from:ex.labels.to])
			if !ok {
				continue
			}
			if !keyed {
				keyed, key = true, seriesKey(s.name, r.labels[s.labels.from:s.labels.to])
			}
			var best *sample.Sample
			var bestDist uint64
			for sp := range r.spans(key) {
				if !r.sameSeries(sp.series, i) {
					continue // another series of the same hash
				}
				for j := sp.from; j < sp.to; j++ {
					if s := &dst[j]; s.TraceID.IsZero() {
						if d := absDiff(s.TimestampMs, ex.ts); best == nil || d < bestDist {
							best, bestDist = s, d
						}
					}
				}
			}
			if best != nil {
				best.TraceID = tid
			} else {
				d.pending.put(key, tid, ex.ts)
			}
		}
	}
	return dst, refused
}

// span is where the samples of a series of a request are in the samples
// decoded: dst[from:to] came from r.series[series].
type span struct{ from, to, series int }

// spanNode is a span in a list of the spans of one seriesKey.
type spanNode struct {
	span
	next int32 // -1 at the end
}

// addSpan adds sp to the spans of seriesKey k.
func (r *writeRequest) addSpan(k uint64, sp span) {
	n := int32(len(r.spanList))
	r.spanList = append(r.spanList, spanNode{sp, -1})
	if ends, ok := r.spanOf[k]; ok {
		r.spanList[ends[1]].next = n
		r.spanOf[k] = [2]int32{ends[0], n}
	} else {
		r.spanOf[k] = [2]int32{n, n}
	}
}

// spans yields the spans of seriesKey k in the order they were added.
func (r *writeRequest) spans(k uint64) func(yield func(span) bool) {
	return func(yield func(span) bool) {
		ends, ok := r.spanOf[k]
		if !ok {
			return
		}
		for i := ends[0]; i >= 0; i = r.spanList[i].next {
			if !yield(r.spanList[i].span) {
				return
			}
		}
	}
}

// checkSeries holds a series, as a sample of it of value 0 at nowMs, to
// the decoders' rules (sample.Validate, which sorts the labels: a copy of
// ls if they are not sorted already) and to the limits, which it can then
// break only by its name and labels. It returns the labels, sorted, and
// the two errors.
func checkSeries(name string, ls sample.Labels, typ sample.Type, limits sample.Limits, nowMs int64) (sample.Labels, error, error) {
	if !sortedNames(ls) {
		ls = slices.Clone(ls) // the request keeps them as sent, to name the series
	}
	s := sample.Sample{Name: name, Labels: ls, Type: typ, TimestampMs: nowMs}
	if err := sample.Validate(&s); err != nil {
		return s.Labels, err, nil
	}
	return s.Labels, nil, limits.Check(&s, nowMs)
}

// sortedNames reports whether ls are sorted by name, as
// slices.IsSortedFunc would by strings.Compare of the names; most names
// differ in their first byte.
func sortedNames(ls sample.Labels) bool {
	for i := 1; i < len(ls); i++ {
		a, b := ls[i-1].Name, ls[i].Name
		if a != "" && b != "" && a[0] != b[0] {
			if a[0] > b[0] {
				return false
			}
		} else if a > b {
			return false
		}
	}
	return true
}

// sampleBounds are the timestamps the limits take at a time, for a quick
// look at each sample of a series that keeps within the limits otherwise:
// a sample with a finite value in bounds keeps within them; for one that
// does not, Limits.Check tells.
type sampleBounds struct{ minTs, maxTs int64 }

func newSampleBounds(l sample.Limits, nowMs int64) sampleBounds {
	b := sampleBounds{0, math.MaxInt64} // not before the Unix epoch, as Validate
	if f := l.MaxFuture.Milliseconds(); l.MaxFuture > 0 && nowMs <= math.MaxInt64-f {
		b.maxTs = nowMs + f
	}
	if p := l.MaxPast.Milliseconds(); l.MaxPast > 0 && nowMs >= math.MinInt64+p {
		b.minTs = max(b.minTs, nowMs-p)
	}
	return b
}

func (b sampleBounds) holds(p point) bool {
	return p.value-p.value == 0 && p.ts >= b.minTs && p.ts <= b.maxTs // x-x is NaN for NaN and ±Inf
}

// typeCache holds the sample types of the last metric names of a request,
// whose series most often share a few.
type typeCache struct {
	names [4]string
	types [4]sample.Type
	n     int
}

func (c *typeCache) sampleType(t *Types, name string) sample.Type {
	for i := range min(c.n, len(c.names)) {
		if c.names[i] == name {
			return c.types[i]
		}
	}
	typ := t.SampleType(name)
	k := c.n % len(c.names)
	c.names[k], c.types[k] = name, typ
	c.n++
	return typ
}

// sameSeries reports whether series a and b of r have the same name and
// labels, in the same order.
func (r *writeRequest) sameSeries(a, b int) bool {
	sa, sb := &r.series[a], &r.series[b]
	return sa.name == sb.name && slices.Equal(r.labels[sa.labels.from:sa.labels.to], r.labels[sb.labels.from:sb.labels.to])
}

// seriesKey is the hash of a series' name and labels as sent, which tells
// it apart from the other series of a request and among the traces that
// wait for a sample.
func seriesKey(name string, ls []sample.Label) uint64 {
	var stack [512]byte
	b := binary.AppendUvarint(stack[:0], uint64(len(name)))
	b = append(b, name...)
	for _, l := range ls {
		b = binary.AppendUvarint(b, uint64(len(l.Name)))
		b = append(b, l.Name...)
		b = binary.AppendUvarint(b, uint64(len(l.Value)))
		b = append(b, l.Value...)
	}
	return xxhash.Sum64(b)
}

// seriesString names a series as PromQL does, for error messages: its
// labels as sent.
func seriesString(name string, ls []sample.Label) string {
	n := len(name) + 2
	for _, l := range ls {
		n += len(l.Name) + len(l.Value) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, name...)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	b = append(b, '}')
	return string(b)
}

func absDiff(a, b int64) uint64 {
	if a > b {
		return uint64(a) - uint64(b)
	}
	return uint64(b) - uint64(a)
}

// traceID returns the trace ID an exemplar's labels carry, if valid.
func traceID(ls []sample.Label) (sample.TraceID, bool) {
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
