package aggregator

import (
	"math"
	"math/bits"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tumblemetrics/tumble/sample"
)

// entry is one sample of a distribution: enough to report it as an exemplar.
type entry struct {
	v     float64
	ts    int64
	trace sample.TraceID
}

// histogramHighest is the highest scaled value a histogram tracks: 2^62 units,
// about 4.6e12 times the smallest non-zero value of the window when it left
// exact mode, since the unit is a millionth of that (see dist.toHistogram).
const histogramHighest = 1 << 62

// dist holds the values of one window for its quantiles. It starts exact: up
// to the aggregator's exact limit it keeps every sample, and a quantile is the
// sample at rank ceil(q·n) in sorted order. Past the limit it moves to
// histograms (see histState). A dist lives inside its window; the exact
// buffer keeps its capacity when the window is recycled.
type dist struct {
	exact []entry
	h     *histState // nil while exact
}

// histState is a window's distribution past the exact limit: two HDR
// histograms (magnitudes of negative values, and the rest) over values scaled
// by unit, plus, for each occupied histogram bucket, the one sample that
// represents it (its exemplar). A quantile is then the representative of the
// bucket that holds rank ceil(q·n): a real sample whose value is within the
// histogram's precision of the exact answer.
type histState struct {
	pos, neg *hdr.Histogram // neg is nil until a negative value arrives
	unit     float64
	// reps[i/64][i%64] represents bucket i, pages allocated as buckets
	// fill; negative values' buckets follow the others'. Bit i of seen is
	// set once bucket i has a representative, of traced once that
	// representative has a trace ID.
	reps         []*repPage
	seen, traced []uint64
}

// repPage holds the representatives of 64 consecutive buckets.
type repPage [64]entry

// quantileState is the part of the aggregator that dists share: precision,
// and free lists so that windows do not allocate histograms anew.
type quantileState struct {
	sigFigs    int
	exactLimit int
	subMag     uint    // log2 of the histogram's sub-bucket count
	relWidth   float64 // a bucket's width relative to its values, at most
	buckets    int     // bucket indexes of one histogram
	freeStates []*histState
	freeHists  []*hdr.Histogram
	freePages  []*repPage
	values     []float64 // the values of the window being closed, see prepare
	scratch    []float64 // for valueAtRank
	stats      *Stats
}

func newQuantileState(sigFigs, exactLimit int, stats *Stats) quantileState {
	// HDR keeps 2·10^s values per bucket at unit resolution, rounded up to a
	// power of two; above them, each power of two has half as many buckets.
	subMag := uint(bits.Len64(uint64(2*math.Pow10(sigFigs)) - 1))
	return quantileState{
		sigFigs: sigFigs, exactLimit: exactLimit, subMag: subMag,
		relWidth: math.Ldexp(1, -int(subMag-1)), stats: stats,
		buckets: (64 - int(subMag) + 1) << (subMag - 1),
	}
}

// reset empties d for reuse, recycling its histograms. The exact buffer
// keeps its capacity, unless one burst made it very large.
func (q *quantileState) reset(d *dist) {
	if cap(d.exact) > 4*q.exactLimit+64 {
		d.exact = nil
	}
	d.exact = d.exact[:0]
	if h := d.h; h != nil {
		for _, hist := range []*hdr.Histogram{h.pos, h.neg} {
			if hist != nil {
				hist.Reset()
				q.freeHists = append(q.freeHists, hist)
			}
		}
		h.pos, h.neg = nil, nil
		for i, pg := range h.reps {
			if pg != nil {
				q.freePages = append(q.freePages, pg)
				h.reps[i] = nil
			}
		}
		clear(h.seen)
		clear(h.traced)
		q.freeStates = append(q.freeStates, h)
		d.h = nil
	}
}

func (q *quantileState) getHist() *hdr.Histogram {
	if n := len(q.freeHists); n > 0 {
		h := q.freeHists[n-1]
		q.freeHists = q.freeHists[:n-1]
		return h
	}
	return hdr.New(1, histogramHighest, q.sigFigs)
}

// add records e in d. Samples go to the exact buffer first; once it holds
// more than the exact limit, the window moves to histograms and the buffer is
// drained into them whenever it fills again. Recording a buffer's worth at a
// time keeps one histogram's lines in cache while the samples of many series
// interleave.
func (q *quantileState) add(d *dist, e entry) {
	d.exact = append(d.exact, e)
	if len(d.exact) > q.exactLimit {
		q.drain(d)
	}
}

// drain moves the buffered samples into d's histograms, creating them on the
// first call. The unit is a millionth of the smallest non-zero magnitude in
// the buffer then, rounded down to a power of ten, so that values from there
// up to about 4.6e12 times it keep the histogram's relative precision.
func (q *quantileState) drain(d *dist) {
	h := d.h
	if h == nil {
		minAbs := math.Inf(1)
		for i := range d.exact {
			if a := math.Abs(d.exact[i].v); a != 0 && a < minAbs {
				minAbs = a
			}
		}
		if math.IsInf(minAbs, 1) {
			minAbs = 1e-3 // all zeros so far: resolve down to a nanounit
		}
		if n := len(q.freeStates); n > 0 {
			h = q.freeStates[n-1]
			q.freeStates = q.freeStates[:n-1]
		} else {
			words := (2*q.buckets + 63) / 64
			h = &histState{reps: make([]*repPage, words), seen: make([]uint64, words), traced: make([]uint64, words)}
		}
		h.unit = math.Pow10(int(math.Floor(math.Log10(minAbs))) - 6)
		h.pos = q.getHist()
		d.h = h
	}
	for i := range d.exact {
		q.record(h, d.exact[i])
	}
	d.exact = d.exact[:0]
}

// record adds e to h's histograms and bucket representatives.
func (q *quantileState) record(h *histState, e entry) {
	scaled := math.Abs(e.v) / h.unit
	var iv int64
	if scaled >= histogramHighest {
		iv = histogramHighest
		q.stats.Clamped++
	} else {
		iv = int64(scaled)
	}
	hist, idx := h.pos, q.bucketIndex(iv)
	if e.v < 0 {
		if h.neg == nil {
			h.neg = q.getHist()
		}
		hist, idx = h.neg, idx+q.buckets
	}
	_ = hist.RecordValue(iv) // in range by construction
	// The first sample of a bucket represents it until a sample with a trace
	// ID arrives; the first such one stays.
	w, bit := idx/64, uint64(1)<<(idx%64)
	switch {
	case h.traced[w]&bit != 0:
	case h.seen[w]&bit == 0 || !e.trace.IsZero():
		pg := h.reps[w]
		if pg == nil {
			pg = q.getPage()
			h.reps[w] = pg
		}
		pg[idx%64] = e
		h.seen[w] |= bit
		if !e.trace.IsZero() {
			h.traced[w] |= bit
		}
	}
}

func (q *quantileState) getPage() *repPage {
	if n := len(q.freePages); n > 0 {
		pg := q.freePages[n-1]
		q.freePages = q.freePages[:n-1]
		return pg
	}
	return new(repPage)
}

// bucketIndex returns the index of v's bucket in a histogram's counts, as
// HDR lays them out for a lowest discernible value of 1.
func (q *quantileState) bucketIndex(v int64) int {
	b := max(bits.Len64(uint64(v)), int(q.subMag)) - int(q.subMag)
	half := 1 << (q.subMag - 1)
	return (b+1)<<(q.subMag-1) + int(v>>b) - half
}

// count returns how many values d holds; d's buffer must be drained unless
// d is exact.
func (d *dist) count() uint64 {
	if d.h == nil {
		return uint64(len(d.exact))
	}
	n := d.h.pos.TotalCount()
	if d.h.neg != nil {
		n += d.h.neg.TotalCount()
	}
	return uint64(n)
}

// selectRank reorders vs so that vs[k] is the value a sort would put at k,
// the smaller ones before it and the larger after (quickselect with
// three-way partitions, so runs of equal values cost no more than distinct
// ones). A window needs a few ranks, not an order: this is linear where a
// sort is not.
func selectRank(vs []float64, k int) {
	lo, hi := 0, len(vs)-1
	rnd := uint64(len(vs))*0x9e3779b97f4a7c15 + uint64(k) + 1
	for hi-lo >= 12 {
		// Pivots from a fixed-seed xorshift: the result does not depend
		// on them, and no input order makes every pivot a bad one.
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		pivot := vs[lo+int(rnd%uint64(hi-lo+1))]
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := vs[i]; {
			case v < pivot:
				vs[lt], vs[i] = v, vs[lt]
				lt++
				i++
			case v > pivot:
				vs[i], vs[gt] = vs[gt], v
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return
		}
	}
	for i := lo + 1; i <= hi; i++ { // insertion sort of the small rest
		for j := i; j > lo && vs[j] < vs[j-1]; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// quantile returns the value of quantile type t and the sample behind it.
// d must be non-empty.
func (q *quantileState) quantile(d *dist, t Type) (float64, entry) {
	if d.h != nil && len(d.exact) > 0 {
		q.drain(d)
	}
	n := d.count()
	r := t.rank(n)
	if d.h == nil {
		return q.exactQuantile(d, int(r-1))
	}
	return q.histAtRank(d, r)
}

// histAtRank returns the representative of the bucket holding 1-based rank
// r of d, which has histograms and no buffered sample.
func (q *quantileState) histAtRank(d *dist, r uint64) (float64, entry) {
	h := d.h
	hist, rr, neg := h.pos, r, false
	if h.neg != nil {
		nn := uint64(h.neg.TotalCount())
		if r <= nn {
			// The r-th smallest value is the negative one of the
			// (nn-r+1)-th smallest magnitude.
			hist, rr, neg = h.neg, nn-r+1, true
		} else {
			rr = r - nn
		}
	}
	total := hist.TotalCount()
	// ValueAtPercentile takes the rank round(p/100·total); aiming a quarter
	// below rr makes that rank exactly rr, free of float error.
	idx := q.bucketIndex(hist.ValueAtPercentile((float64(rr) - 0.25) / float64(total) * 100))
	if neg {
		idx += q.buckets
	}
	e := h.reps[idx/64][idx%64]
	return e.v, e
}

// valueAtRank returns the value at 1-based rank r of non-empty d (within
// the histogram's precision once d has left exact mode).
func (q *quantileState) valueAtRank(d *dist, r uint64) float64 {
	if d.h != nil && len(d.exact) > 0 {
		q.drain(d)
	}
	r = min(max(r, 1), d.count())
	if d.h != nil {
		v, _ := q.histAtRank(d, r)
		return v
	}
	vs := q.scratch[:0]
	for i := range d.exact {
		vs = append(vs, d.exact[i].v)
	}
	q.scratch = vs
	selectRank(vs, int(r-1))
	return vs[r-1]
}

// quantilesAscending lists the quantile types by increasing q.
var quantilesAscending = []Type{P10, P20, P25, P30, P40, Median, P50, P60, P70, P75, P80, P90, P95, P99, P999, P9999}

// prepare readies an exact d for the quantiles of aggs: it copies the values
// aside and selects their ranks in increasing order, each within what the
// one before left above it, for little more than the cost of one selection.
// The values stay valid until the next prepare.
func (q *quantileState) prepare(d *dist, aggs Set) {
	if d.h != nil {
		return
	}
	vs := q.values[:0]
	for i := range d.exact {
		vs = append(vs, d.exact[i].v)
	}
	q.values = vs
	n, lo := uint64(len(vs)), 0
	for _, t := range quantilesAscending {
		if !aggs.Has(t) {
			continue
		}
		if i := int(t.rank(n) - 1); i >= lo {
			selectRank(vs[lo:], i-lo)
			lo = i + 1
		}
	}
}

// exactQuantile returns the value at 0-based rank i of an exact d, prepared,
// and its exemplar: the first sample (in arrival order) of that value with a
// trace ID; failing that, the sample with a trace ID whose value is
// equivalent (within the histogram's relative precision) and closest, the
// first on a tie; failing that, the first sample of that value.
func (q *quantileState) exactQuantile(d *dist, i int) (float64, entry) {
	v := q.values[i]
	same, near := -1, -1
	nearD := math.Inf(1)
	for j := range d.exact {
		c := &d.exact[j]
		switch {
		case c.v == v && !c.trace.IsZero():
			return v, *c
		case c.v == v:
			if same < 0 {
				same = j
			}
		case !c.trace.IsZero() && q.equivalent(c.v, v):
			if dd := math.Abs(c.v - v); dd < nearD {
				near, nearD = j, dd
			}
		}
	}
	if near >= 0 {
		return v, d.exact[near]
	}
	return v, d.exact[same]
}

// equivalent reports whether a and b are the same within the histogram's
// relative precision.
func (q *quantileState) equivalent(a, b float64) bool {
	return a == b || math.Abs(a-b) <= q.relWidth*math.Max(math.Abs(a), math.Abs(b))
}
