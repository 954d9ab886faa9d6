package aggregator

// window is the state of one output series under one policy over one window
// [start, end). Windows are pooled by the aggregator.
type window struct {
	series *series
	policy int // index into series.target.Policies
	start  int64
	end    int64

	moments
	x           extremes
	incr, incrC float64 // Increase, compensated
	dist        dist    // used when the series has quantiles
}

// add folds one sample into w. incr is its increase (counters and cumulative
// counters), e carries its value.
func (a *Aggregator) addToWindow(w *window, e *entry, incr float64) {
	aggs := w.series.aggs
	if w.count == 0 {
		w.x.first(e)
	} else {
		w.x.add(e)
	}
	w.count++
	if aggs&(1<<Sum|1<<Mean) != 0 {
		w.addSum(e.v)
	}
	if aggs.Has(SumSq) {
		w.addSumSq(e.v)
	}
	if aggs.Has(Stdev) {
		w.addWelford(e.v)
	}
	if aggs&(1<<Increase|1<<Rate) != 0 {
		w.incr, w.incrC = neumaier(w.incr, w.incrC, incr)
	}
	if w.series.quant {
		a.q.add(&w.dist, *e)
	}
}
