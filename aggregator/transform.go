package aggregator

// inputState is what an output series remembers of one of its input series
// across windows: the previous cumulative sample, for increases, and the
// running total, for a TransformAdd before the rollup.
type inputState struct {
	set   bool
	ts    int64
	v     float64
	total float64
}

// increase folds cumulative value v at ts into in and returns the increase
// since the previous value and the milliseconds between them. ok is false for
// the first value (a baseline) and for a value no newer than the previous.
func (in *inputState) increase(v float64, ts int64, st *Stats) (d float64, dtMs int64, ok bool) {
	switch {
	case !in.set:
		in.set, in.ts, in.v = true, ts, v
		st.Baselines++
		return 0, 0, false
	case ts <= in.ts:
		st.OutOfOrder++
		return 0, 0, false
	}
	d = v - in.v
	if v < in.v { // a reset: the counter restarted from zero
		d = v
	}
	dtMs = ts - in.ts
	in.ts, in.v = ts, v
	return d, dtMs, true
}

// postState is what a post-rollup transform remembers of one aggregated
// series (one aggregation under one policy) across its windows.
type postState struct {
	set   bool
	endMs int64
	v     float64
	total float64
}

// apply transforms the value v of the window ending at endMs. ok is false when
// the transform has no output for it yet (the first window of Increase and
// PerSecond only sets the baseline).
func (ps *postState) apply(t Transform, v float64, endMs int64) (out float64, ok bool) {
	switch t {
	case TransformAdd:
		ps.total += v
		return ps.total, true
	case TransformIncrease, TransformPerSecond:
		prev, prevEnd, had := ps.v, ps.endMs, ps.set
		ps.set, ps.v, ps.endMs = true, v, endMs
		if !had {
			return 0, false
		}
		d := v - prev
		if v < prev {
			d = v
		}
		if t == TransformPerSecond {
			d /= float64(endMs-prevEnd) / 1000
		}
		return d, true
	}
	return v, true
}
