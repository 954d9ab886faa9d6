package aggregator

import "math"

// Candidates: a tail-based sampler decides some seconds after a trace ends,
// often before the window that will select it (Target.Selects) closes. So,
// while a window of the target's finest policy is open, a sample with a
// trace whose value exceeds a threshold taken from the series' previous
// window is offered at once as a candidate: for a selected quantile q,
// the previous window's value at rank 1-5(1-q) (P95 for P99, P99.5 for
// P99.9), below the quantile itself so that the sample the window will
// select is very likely among the candidates (the previous window's P99
// itself catches the next window's P99 sample about half the time: it is
// as likely to be lower as higher); for Max, the previous window's P99
// (its Max when the series keeps no quantile). A series' first window has
// no threshold and offers none. Each window offers at most three times the
// number of samples its predecessor had above the threshold (at least 4).
// BenchmarkCandidateHits measures the share of selections offered before
// their window closed.

// Candidate is a sample of an open window offered as a candidate for the
// selection of Aggregation.
type Candidate struct {
	Target       *Target
	Aggregation  Type
	Aggregations Set // the series' resolved aggregations, for its name
	Policy       Policy
	StartMs      int64 // the open window is [StartMs, EndMs)
	EndMs        int64
	Threshold    float64
	Sample       Exemplar
}

// SeriesName returns the name of the series the candidate may be selected
// by.
func (c *Candidate) SeriesName() string {
	return OutputName(c.Target.Name, c.Aggregation, c.Aggregations.Len())
}

// candState is what a series that selects traces keeps for candidates:
// one entry per selected aggregation it keeps.
type candState []candAgg

type candAgg struct {
	t         Type
	threshold float64 // NaN until a window closed
	bound     int     // candidates a window may offer
	start     int64   // the window n counts for
	n         int
}

// newCandState returns the candidate state of a series of t keeping aggs,
// or nil when it selects nothing.
func newCandState(t *Target, aggs Set) candState {
	if t.Selects == nil {
		return nil
	}
	var cs candState
	for _, at := range (t.Selects.Aggregations & aggs).Types() {
		if at.IsQuantile() || at == Max {
			cs = append(cs, candAgg{t: at, threshold: math.NaN(), start: math.MinInt64})
		}
	}
	return cs
}

// offer offers sample e (with a trace) of sr, which opened or found the
// window of the finest policy at start, as a candidate.
func (a *Aggregator) offer(sr *series, e *entry, start int64) {
	p := sr.target.Policies[0]
	for i := range sr.cand {
		c := &sr.cand[i]
		if !(e.v > c.threshold) { // false while the threshold is NaN
			continue
		}
		if c.start != start {
			c.start, c.n = start, 0
		}
		if c.n >= c.bound {
			a.stats.CandidatesBounded++
			continue
		}
		c.n++
		a.stats.Candidates++
		a.cands = append(a.cands, Candidate{
			Target: sr.target, Aggregation: c.t, Aggregations: sr.aggs, Policy: p,
			StartMs: start, EndMs: start + p.ResolutionMs(), Threshold: c.threshold,
			Sample: Exemplar{TraceID: e.trace, Value: e.v, TimestampMs: e.ts},
		})
	}
}

// learn sets the thresholds of sr from its closed window w of the finest
// policy.
func (a *Aggregator) learn(sr *series, w *window) {
	if w.count == 0 {
		return
	}
	for i := range sr.cand {
		c := &sr.cand[i]
		q := 0.99
		if c.t.IsQuantile() {
			q = max(0, 1-5*(1-c.t.Quantile()))
		}
		if !sr.quant {
			c.threshold, c.bound = w.x.max.v, 4
			continue
		}
		n := w.dist.count()
		r := uint64(math.Ceil(q * float64(n)))
		c.threshold = a.q.valueAtRank(&w.dist, r)
		c.bound = max(4, 3*int(n-max(r, 1)+1))
	}
}

// Candidates appends to dst the candidates offered since the last call and
// forgets them.
func (a *Aggregator) Candidates(dst []Candidate) []Candidate {
	dst = append(dst, a.cands...)
	clear(a.cands)
	a.cands = a.cands[:0]
	return dst
}
