package aggregator

// extremes keeps the samples that set a window's Min, Max and Last. Each is
// the exemplar of its point.
type extremes struct {
	min, max, last entry
}

// first initialises the extremes with the window's first sample.
func (x *extremes) first(e *entry) { x.min, x.max, x.last = *e, *e, *e }

// add folds e into the extremes. Last is the sample of the latest
// timestamp, the larger value on a tie. On a tie of value (of Min, Max, or
// Last's value), the first by entry.before stays: the extremes, like their
// exemplars, do not depend on the order the samples arrived in.
func (x *extremes) add(e *entry) {
	if e.v < x.min.v || e.v == x.min.v && e.before(&x.min) {
		x.min = *e
	}
	if e.v > x.max.v || e.v == x.max.v && e.before(&x.max) {
		x.max = *e
	}
	if e.ts > x.last.ts || e.ts == x.last.ts && (e.v > x.last.v || e.v == x.last.v && e.before(&x.last)) {
		x.last = *e
	}
}
