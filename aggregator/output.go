package aggregator

import "github.com/tumblemetrics/tumble/sample"

// Exemplar is the real sample behind a point: for a percentile, the traced
// sample of the window nearest in rank to the percentile's (see the package
// documentation), with its own value and timestamp; for Min, Max and Last,
// the sample that set them.
type Exemplar struct {
	TraceID     sample.TraceID // zero when no sample that qualified had one
	Value       float64
	TimestampMs int64
}

// Point is one aggregated value of one closed window.
type Point struct {
	Target      *Target
	Aggregation Type
	// Aggregations is the target's resolved set; with the aggregation it
	// decides the output series' name and labels.
	Aggregations Set
	Policy       Policy
	StartMs      int64 // the window is [StartMs, EndMs)
	EndMs        int64
	Value        float64
	HasExemplar  bool
	Exemplar     Exemplar
}

// SeriesName returns the name of the series the point belongs to.
func (p *Point) SeriesName() string {
	return OutputName(p.Target.Name, p.Aggregation, p.Aggregations.Len())
}

// SeriesLabels returns the labels of the series the point belongs to; for a
// quantile of a multi-aggregation rule they include the quantile label.
func (p *Point) SeriesLabels() sample.Labels {
	return OutputLabels(p.Target.Labels, p.Aggregation, p.Aggregations.Len())
}

// value returns the point of aggregation t for window w, and the sample
// behind it if t carries one.
func (a *Aggregator) value(w *window, t Type) (float64, entry, bool) {
	m := &w.moments
	switch t {
	case Last:
		return w.x.last.v, w.x.last, true
	case Min:
		return w.x.min.v, w.x.min, true
	case Max:
		return w.x.max.v, w.x.max, true
	case Count:
		return float64(m.count), entry{}, false
	case Sum:
		return m.valueSum(), entry{}, false
	case Mean:
		return m.valueMean(), entry{}, false
	case SumSq:
		return m.valueSumSq(), entry{}, false
	case Stdev:
		return m.valueStdev(), entry{}, false
	case Increase:
		return w.incr + w.incrC, entry{}, false
	case Rate:
		return (w.incr + w.incrC) / (float64(w.end-w.start) / 1000), entry{}, false
	}
	v, e := a.q.quantile(&w.dist, t)
	return v, e, true
}
