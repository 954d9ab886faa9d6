package aggregator

// extremes keeps the samples that set a window's Min, Max and Last. Each is
// the exemplar of its point.
type extremes struct {
	min, max, last entry
}

// first initialises the extremes with the window's first sample.
func (x *extremes) first(e *entry) { x.min, x.max, x.last = *e, *e, *e }

// add folds e into the extremes. Last is the latest timestamp, the later
// arrival on a tie. For Min and Max, on a tie a sample with a trace ID
// replaces one without; otherwise the first stays.
func (x *extremes) add(e *entry) {
	if e.v < x.min.v || e.v == x.min.v && x.min.trace.IsZero() && !e.trace.IsZero() {
		x.min = *e
	}
	if e.v > x.max.v || e.v == x.max.v && x.max.trace.IsZero() && !e.trace.IsZero() {
		x.max = *e
	}
	if e.ts >= x.last.ts {
		x.last = *e
	}
}
