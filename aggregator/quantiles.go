package aggregator

import (
	"bytes"
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

// before reports whether e comes before o when the two would serve alike (a
// tie of value, of rank or of timestamp): a sample with a trace ID before
// one without, then the earlier timestamp, then the smaller trace ID, then
// the smaller value. It depends on the samples alone, not on the order
// they arrived in, so that a window gives the same exemplars whichever raw
// partition its samples came through first.
func (e *entry) before(o *entry) bool {
	if et, ot := !e.trace.IsZero(), !o.trace.IsZero(); et != ot {
		return et
	}
	if e.ts != o.ts {
		return e.ts < o.ts
	}
	if c := bytes.Compare(e.trace[:], o.trace[:]); c != 0 {
		return c < 0
	}
	return e.v < o.v
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
	subMag     uint // log2 of the histogram's sub-bucket count
	buckets    int  // bucket indexes of one histogram
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
		sigFigs: sigFigs, exactLimit: exactLimit, subMag: subMag, stats: stats,
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
	// A bucket is represented by the sample of it that comes first by
	// entry.before: a traced one as soon as one arrives, so that every
	// bucket that saw a traced sample can give one as an exemplar (see
	// histQuantile), and the same whatever the order of arrival.
	w, bit := idx/64, uint64(1)<<(idx%64)
	if h.seen[w]&bit == 0 || e.before(&h.reps[w][idx%64]) {
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
	return d.h.count()
}

// count returns how many values h's histograms hold.
func (h *histState) count() uint64 {
	n := h.pos.TotalCount()
	if h.neg != nil {
		n += h.neg.TotalCount()
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

// quantile returns the value of quantile type t and its exemplar (see
// exactQuantile and histQuantile). d must be non-empty.
func (q *quantileState) quantile(d *dist, t Type) (float64, entry) {
	if d.h != nil && len(d.exact) > 0 {
		q.drain(d)
	}
	r := t.rank(d.count())
	if d.h == nil {
		return q.exactQuantile(d, r)
	}
	return q.histQuantile(d.h, r)
}

// histBucket returns the index in h.reps of the bucket that holds 1-based
// rank r of h, which has no buffered sample.
func (q *quantileState) histBucket(h *histState, r uint64) int {
	if h.neg != nil {
		nn := uint64(h.neg.TotalCount())
		if r <= nn {
			// The r-th smallest value is the negative one of the
			// (nn-r+1)-th smallest magnitude.
			return q.buckets + q.bucketAtRank(h.neg, nn-r+1)
		}
		r -= nn
	}
	return q.bucketAtRank(h.pos, r)
}

// bucketAtRank returns the index of the bucket of hist that holds its
// 1-based rank r.
func (q *quantileState) bucketAtRank(hist *hdr.Histogram, r uint64) int {
	// ValueAtPercentile takes the rank round(p/100·total); aiming a quarter
	// below r makes that rank exactly r, free of float error.
	return q.bucketIndex(hist.ValueAtPercentile((float64(r) - 0.25) / float64(hist.TotalCount()) * 100))
}

// histQuantile returns the value at 1-based rank r of h and its exemplar.
// The value is that of the representative of the bucket that holds rank r.
// A bucket spans the ranks of the values it counts, and one that saw a
// traced sample is represented by a traced one (see record): the
// exemplar is the representative of the traced bucket nearest in rank to r,
// the one above on a tie; without any, the untraced representative at r.
func (q *quantileState) histQuantile(h *histState, r uint64) (float64, entry) {
	at := q.histBucket(h, r)
	e := h.reps[at/64][at%64]
	if !e.trace.IsZero() {
		return e.v, e
	}
	// The traced buckets nearest above and below in value. Indexes from
	// q.buckets on are those of negative values' magnitudes: larger is
	// lower.
	nb := q.buckets
	var above, below int
	if at < nb {
		above = nextBit(h.traced, at+1, nb)
		if below = prevBit(h.traced, 0, at); below < 0 {
			below = nextBit(h.traced, nb, 2*nb)
		}
	} else {
		if above = prevBit(h.traced, nb, at); above < 0 {
			above = nextBit(h.traced, 0, nb)
		}
		below = nextBit(h.traced, at+1, 2*nb)
	}
	switch {
	case above < 0 && below < 0:
		return e.v, e
	case below < 0:
		return e.v, h.reps[above/64][above%64]
	case above < 0:
		return e.v, h.reps[below/64][below%64]
	}
	// The bucket below ends at rank last, r-last ranks below r; the one
	// above is at least as near if it starts by rank r+(r-last).
	last := q.lastRankUpTo(h, r, q.place(below))
	if k := 2*r - last; k >= h.count() || q.place(q.histBucket(h, k)) >= q.place(above) {
		return e.v, h.reps[above/64][above%64]
	}
	return e.v, h.reps[below/64][below%64]
}

// place returns the place of bucket index i in the order of values: the
// buckets of negative values, by decreasing magnitude, then the others.
func (q *quantileState) place(i int) int {
	if i < q.buckets {
		return q.buckets + i
	}
	return 2*q.buckets - 1 - i
}

// lastRankUpTo returns the largest rank below r whose bucket is at place p
// or before; r must be past 1 and its bucket past p, and the bucket of rank
// 1 at p or before. It gallops down from r, then bisects: each step reads
// the histogram once, and there are about twice the logarithm of the
// distance.
func (q *quantileState) lastRankUpTo(h *histState, r uint64, p int) uint64 {
	// The bucket of rank hi is past p, that of rank lo is not.
	var lo uint64
	hi := r
	for d := uint64(1); ; d *= 2 {
		k := r - min(d, r-1) // at worst rank 1, which ends the search
		if q.place(q.histBucket(h, k)) <= p {
			lo = k
			break
		}
		hi = k
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if q.place(q.histBucket(h, mid)) <= p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// nextBit returns the lowest index in [from, to) whose bit is set in bs, or
// -1.
func nextBit(bs []uint64, from, to int) int {
	for i := from; i < to; {
		w := bs[i/64] >> (i % 64)
		if w == 0 {
			i = (i/64 + 1) * 64
			continue
		}
		if j := i + bits.TrailingZeros64(w); j < to {
			return j
		}
		return -1
	}
	return -1
}

// prevBit returns the highest index in [from, to) whose bit is set in bs,
// or -1.
func prevBit(bs []uint64, from, to int) int {
	for i := to - 1; i >= from; {
		w := bs[i/64] << (63 - i%64)
		if w == 0 {
			i = i/64*64 - 1
			continue
		}
		if j := i - bits.LeadingZeros64(w); j >= from {
			return j
		}
		return -1
	}
	return -1
}

// valueAtRank returns the value at 1-based rank r of non-empty d (within
// the histogram's precision once d has left exact mode).
func (q *quantileState) valueAtRank(d *dist, r uint64) float64 {
	if d.h != nil && len(d.exact) > 0 {
		q.drain(d)
	}
	r = min(max(r, 1), d.count())
	if h := d.h; h != nil {
		i := q.histBucket(h, r)
		return h.reps[i/64][i%64].v
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
// one before left above it, for little more than the cost of one selectRank.
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

// exactQuantile returns the value at 1-based rank r of an exact d, prepared,
// and its exemplar: the traced sample nearest in rank to r, the one above on
// a tie, then the first by entry.before among samples of one value. The
// samples of one value share the ranks they span, so a traced sample of the
// value at r is at distance 0, the smallest traced value above it at its
// first rank minus r, and the largest below at r minus its last rank.
// Without a traced sample, the exemplar is the first by entry.before of the
// samples of the value at r.
func (q *quantileState) exactQuantile(d *dist, r uint64) (float64, entry) {
	v := q.values[r-1]
	at, above, below := -1, -1, -1 // of the value at r, the nearest traced above and below
	for j := range d.exact {
		c := &d.exact[j]
		switch {
		case c.v == v:
			if at < 0 || c.before(&d.exact[at]) {
				at = j
			}
		case c.trace.IsZero():
		case c.v > v:
			if above < 0 || c.v < d.exact[above].v || c.v == d.exact[above].v && c.before(&d.exact[above]) {
				above = j
			}
		case c.v < v:
			if below < 0 || c.v > d.exact[below].v || c.v == d.exact[below].v && c.before(&d.exact[below]) {
				below = j
			}
		}
	}
	if !d.exact[at].trace.IsZero() {
		return v, d.exact[at]
	}
	if above >= 0 && below >= 0 {
		// The last rank of the value below, and the first of the one above.
		va, vb := d.exact[above].v, d.exact[below].v
		var lessA, upToB uint64
		for _, x := range q.values {
			if x < va {
				lessA++
				if x <= vb {
					upToB++
				}
			}
		}
		if lessA+1-r <= r-upToB {
			below = -1
		} else {
			above = -1
		}
	}
	switch {
	case above >= 0:
		return v, d.exact[above]
	case below >= 0:
		return v, d.exact[below]
	}
	return v, d.exact[at]
}
