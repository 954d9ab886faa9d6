package aggregator

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tumblemetrics/tumble/sample"
)

// Aggregator folds samples into tumbling windows, one per output series and
// storage policy, and emits the points of the windows that the watermark
// closes. It does no I/O and reads no clock: time comes in with the samples
// (event time) and with Advance (the watermark), so that the same input gives
// the same output, byte for byte, on every replica.
//
// An Aggregator is not safe for concurrent use: one goroutine owns it (one
// per shard).
type Aggregator struct {
	opts   Options
	q      quantileState
	series map[uint64]*series // by Target.Key
	// last is the target of the last Add and its series: samples of one
	// target come in runs.
	last struct {
		t  *Target
		sr *series
	}
	queue closeQueue
	wm    int64 // watermark, ms; windows with end+lateness <= wm are closed
	stats Stats

	freeWindows []*window
	nextSweep   int64

	// adds counts calls to Add: the n-th call that creates a series is
	// its birth, which tells apart the lives of a series that was
	// forgotten (swept) and came back.
	adds uint64
	// emitted is the watermark up to which a restored aggregator's windows
	// were emitted before its state was saved: they are not opened again.
	emitted int64
	// Saved state of series not seen since Restore, by Target.Key.
	savedIn   map[uint64]*savedSeries
	savedPost map[uint64]*savedPost

	cands []Candidate // offered since the last Candidates call
}

// series is the state of one target: its open windows and what its
// transforms remember between windows.
type series struct {
	target  *Target
	typ     sample.Type // effective type of its values, fixed by the first sample
	aggs    Set         // the target's aggregations, less those undefined on typ
	quant   bool        // aggs has a quantile
	windows []*window   // open windows, all policies
	lastEnd int64       // end of the latest window opened (or a baseline's)

	in0    inputState // the first input series; mapping rules have no other
	in0ID  uint64
	hasIn0 bool
	inMore map[uint64]*inputState
	post   []postState // [policy*aggs.Len()+i], when the target has a Post transform

	collided *series // the next series whose target has the same Key
	born     uint64  // the Add call that created it
	cand     candState
}

// SeriesIdle is how long an output series with no open window keeps its
// state (cumulative baselines, running totals) before it is forgotten.
const SeriesIdle = 15 * time.Minute

// New returns an Aggregator with the given options.
func New(opts Options) (*Aggregator, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{
		opts:    opts,
		series:  make(map[uint64]*series),
		wm:      math.MinInt64,
		emitted: math.MinInt64,
	}
	a.q = newQuantileState(a.opts.SignificantFigures, a.opts.ExactLimit, &a.stats)
	a.queue.buckets = make(map[int64][]*window)
	return a, nil
}

// Stats returns the counters of what the aggregator did so far.
func (a *Aggregator) Stats() Stats { return a.stats }

// ActiveSeries returns the number of output series the aggregator holds.
func (a *Aggregator) ActiveSeries() int { return len(a.series) }

// Watermark returns the current watermark in ms (math.MinInt64 before the
// first Advance).
func (a *Aggregator) Watermark() int64 { return a.wm }

// Add folds sample s of input series input (its SeriesID) into target t. The
// sample is dropped, and counted, when its window has closed (Stats.Late,
// and Options.OnLate with t) or its type differs from the series'
// (Stats.TypeMismatch).
func (a *Aggregator) Add(t *Target, input uint64, s *sample.Sample) {
	a.adds++
	typ := t.Pre.Effective(s.Type)
	sr := a.last.sr
	if a.last.t != t || sr == nil {
		sr = a.series[t.Key]
		for sr != nil && sr.target != t && !sr.target.Same(t) {
			sr = sr.collided // another target with the same 64-bit key
		}
		if sr == nil {
			sr = a.newSeries(t, typ)
		} else if sr.target != t {
			// The same series; its selection spec may have changed.
			if a.opts.Candidates && !sr.target.Selects.Equal(t.Selects) {
				sr.cand = newCandState(t, sr.aggs)
			}
			sr.target = t
		}
		a.last.t, a.last.sr = t, sr
	}
	if sr.typ != typ {
		a.stats.TypeMismatch++
		return
	}
	ts := s.TimestampMs
	// Find each policy's window first: a sample late for every policy
	// changes nothing, baselines included.
	var stack [8]*window
	ws := stack[:0]
	if len(t.Policies) > len(stack) {
		ws = make([]*window, 0, len(t.Policies))
	}
	open := 0
	for i, p := range t.Policies {
		w, late := a.find(sr, i, p, ts)
		ws = append(ws, w)
		if !late {
			open++
		}
	}
	if open == 0 {
		for _, p := range t.Policies {
			a.late(t, s, p)
		}
		return
	}
	e := entry{v: s.Value, ts: ts, trace: s.TraceID}
	var incr float64
	switch t.Pre {
	case TransformIncrease, TransformPerSecond:
		d, dt, ok := sr.input(input).increase(e.v, ts, &a.stats)
		if !ok {
			// A baseline opens no window: the series counts as
			// active in the windows of its sample, so that the
			// sweep of idle series keeps it for the next one.
			a.touch(sr, ts)
			return
		}
		e.v = d
		if t.Pre == TransformPerSecond {
			e.v = d / (float64(dt) / 1000)
		}
	case TransformAdd:
		in := sr.input(input)
		in.total += e.v
		e.v = in.total
	}
	switch typ {
	case sample.Counter:
		incr = e.v
	case sample.Cumulative:
		if sr.aggs&(1<<Increase|1<<Rate) != 0 {
			incr, _, _ = sr.input(input).increase(e.v, ts, &a.stats)
		}
	}
	a.stats.Samples++
	offered := int64(math.MinInt64) // the finest window's start, if the sample went in
	for i, w := range ws {
		if w == nil {
			p := t.Policies[i]
			start := windowStart(ts, p.ResolutionMs())
			if a.closed(p, start) {
				a.late(t, s, p)
				continue
			}
			if end := start + p.ResolutionMs(); end+a.opts.lateness(p) <= a.emitted {
				// Emitted before a restart: the sample has
				// updated the state that spans windows, as
				// it did then.
				sr.lastEnd = max(sr.lastEnd, end)
				a.stats.Replayed++
				continue
			}
			w = a.open(sr, i, start, p.ResolutionMs())
		}
		a.addToWindow(w, &e, incr)
		if i == 0 {
			offered = w.start
		}
	}
	if sr.cand != nil && offered != math.MinInt64 && !e.trace.IsZero() {
		a.offer(sr, &e, offered)
	}
}

// late counts sample s of t dropped under policy p as its window closed.
func (a *Aggregator) late(t *Target, s *sample.Sample, p Policy) {
	a.stats.Late++
	if a.opts.OnLate != nil {
		a.opts.OnLate(t, *s, p, WindowClosed)
	}
}

// touch records that sr had a sample at ts that opened no window.
func (a *Aggregator) touch(sr *series, ts int64) {
	for _, p := range sr.target.Policies {
		res := p.ResolutionMs()
		sr.lastEnd = max(sr.lastEnd, windowStart(ts, res)+res)
	}
}

// find returns the open window of sr under policy i (p) that holds ts, nil
// if there is none, and whether that window has closed already.
func (a *Aggregator) find(sr *series, i int, p Policy, ts int64) (w *window, late bool) {
	for _, w := range sr.windows {
		if w.policy == i && ts >= w.start && ts < w.end {
			return w, false
		}
	}
	return nil, a.closed(p, windowStart(ts, p.ResolutionMs()))
}

// windowStart returns the start of the window of resolution res holding ts:
// windows are aligned to the epoch, [k·res, (k+1)·res).
func windowStart(ts, res int64) int64 {
	s := ts - ts%res
	if ts < 0 && ts%res != 0 {
		s -= res
	}
	return s
}

// CloseTime returns the watermark at which the last of the windows that a
// sample of t at ts falls in closes: the latest window end plus lateness
// over t's policies. A shard replica keeps the log offsets of the samples
// whose windows are still open, to read them again after a restart.
func (a *Aggregator) CloseTime(t *Target, ts int64) int64 {
	c := int64(math.MinInt64)
	for _, p := range t.Policies {
		res := p.ResolutionMs()
		c = max(c, windowStart(ts, res)+res+a.opts.lateness(p))
	}
	return c
}

// closed reports whether the window of p starting at start has closed.
// WindowClose returns the watermark at which the window of policy p ending
// at endMs closes: its end plus the policy's allowed lateness.
func (a *Aggregator) WindowClose(p Policy, endMs int64) int64 {
	return endMs + a.opts.lateness(p)
}

func (a *Aggregator) closed(p Policy, start int64) bool {
	return start+p.ResolutionMs()+a.opts.lateness(p) <= a.wm
}

// newSeries adds the series of t, with the state it had when it was saved
// if it was (see Restore); typ is the type of its first sample.
func (a *Aggregator) newSeries(t *Target, typ sample.Type) *series {
	sv := a.savedIn[t.Key]
	if sv != nil {
		typ = sv.typ
		delete(a.savedIn, t.Key)
	}
	want := t.Aggregations
	if want == 0 {
		want = Defaults(typ)
	}
	var aggs Set
	for _, at := range want.Types() {
		if at.Supports(typ) {
			aggs = aggs.With(at)
		} else {
			a.stats.Unsupported++
		}
	}
	sr := &series{target: t, typ: typ, aggs: aggs, quant: aggs.HasQuantile(), born: a.adds}
	if a.opts.Candidates {
		sr.cand = newCandState(t, aggs)
	}
	if t.Post != NoTransform {
		sr.post = make([]postState, len(t.Policies)*aggs.Len())
	}
	if sv != nil {
		sv.restore(sr)
	}
	if sp := a.savedPost[t.Key]; sp != nil && sp.born == sr.born && len(sp.post) == len(sr.post) {
		copy(sr.post, sp.post)
		delete(a.savedPost, t.Key)
	}
	sr.collided = a.series[t.Key]
	a.series[t.Key] = sr
	return sr
}

// input returns the state of input series id.
func (sr *series) input(id uint64) *inputState {
	if !sr.hasIn0 {
		sr.hasIn0, sr.in0ID = true, id
	}
	if sr.in0ID == id {
		return &sr.in0
	}
	if sr.inMore == nil {
		sr.inMore = make(map[uint64]*inputState)
	}
	in := sr.inMore[id]
	if in == nil {
		in = &inputState{}
		sr.inMore[id] = in
	}
	return in
}

// open opens the window of sr under policy i starting at start.
func (a *Aggregator) open(sr *series, i int, start, res int64) *window {
	var w *window
	if n := len(a.freeWindows); n > 0 {
		w = a.freeWindows[n-1]
		a.freeWindows = a.freeWindows[:n-1]
	} else {
		w = &window{}
	}
	*w = window{series: sr, policy: i, start: start, end: start + res, dist: w.dist}
	sr.windows = append(sr.windows, w)
	sr.lastEnd = max(sr.lastEnd, w.end)
	a.queue.push(w.end+a.opts.lateness(sr.target.Policies[i]), w)
	a.stats.WindowsOpened++
	return w
}

// Advance moves the watermark to wm (it never moves back) and appends to dst
// the points of every window whose end plus lateness is at or before it, in
// order of closing time, then of opening. It returns the extended dst.
func (a *Aggregator) Advance(wm int64, dst []Point) []Point {
	if wm <= a.wm {
		return dst
	}
	a.wm = wm
	for len(a.queue.times) > 0 && a.queue.times[0] <= wm {
		dst = a.closeBucket(dst)
	}
	if wm >= a.nextSweep {
		a.sweep()
		a.nextSweep = wm + SeriesIdle.Milliseconds()/4
	}
	return dst
}

// Flush closes every open window, as if the watermark had passed them all,
// and appends their points to dst. The watermark moves to the last closing
// time, so later samples of those windows count as late.
func (a *Aggregator) Flush(dst []Point) []Point {
	for len(a.queue.times) > 0 {
		a.wm = max(a.wm, a.queue.times[0])
		dst = a.closeBucket(dst)
	}
	return dst
}

// closeBucket closes the windows of the earliest closing time.
func (a *Aggregator) closeBucket(dst []Point) []Point {
	ct := a.queue.times[0]
	a.queue.times = a.queue.times[1:]
	ws := a.queue.buckets[ct]
	delete(a.queue.buckets, ct)
	for _, w := range ws {
		dst = a.emit(w, dst)
		a.release(w)
	}
	a.queue.free = append(a.queue.free, ws[:0])
	return dst
}

// emit appends the points of closed window w.
func (a *Aggregator) emit(w *window, dst []Point) []Point {
	sr := w.series
	if sr.quant {
		a.q.prepare(&w.dist, sr.aggs)
	}
	n, i := sr.aggs.Len(), -1
	for t := Last; t < numTypes; t++ {
		if !sr.aggs.Has(t) {
			continue
		}
		i++
		v, e, hasEx := a.value(w, t)
		p := Point{
			Target: sr.target, Aggregation: t, Aggregations: sr.aggs,
			Policy: sr.target.Policies[w.policy], StartMs: w.start, EndMs: w.end, Value: v,
		}
		if sr.post != nil {
			out, ok := sr.post[w.policy*n+i].apply(sr.target.Post, v, w.end)
			if !ok {
				continue
			}
			p.Value = out
		} else if hasEx {
			p.HasExemplar = true
			p.Exemplar = Exemplar{TraceID: e.trace, Value: e.v, TimestampMs: e.ts}
		}
		dst = append(dst, p)
		a.stats.Points++
	}
	if sr.cand != nil && w.policy == 0 {
		a.learn(sr, w)
	}
	a.stats.WindowsClosed++
	return dst
}

// release detaches closed window w from its series and recycles it.
func (a *Aggregator) release(w *window) {
	sr := w.series
	if i := slices.Index(sr.windows, w); i >= 0 {
		sr.windows = slices.Delete(sr.windows, i, i+1)
	}
	a.q.reset(&w.dist)
	*w = window{dist: w.dist}
	a.freeWindows = append(a.freeWindows, w)
}

// sweep forgets series that have had no open window for SeriesIdle.
func (a *Aggregator) sweep() {
	a.last.t, a.last.sr = nil, nil
	idle := SeriesIdle.Milliseconds()
	for k, sv := range a.savedIn {
		if sv.lastEnd+idle <= a.wm {
			delete(a.savedIn, k)
		}
	}
	for k, head := range a.series {
		var keep *series
		for sr := head; sr != nil; {
			next := sr.collided
			if len(sr.windows) > 0 || sr.lastEnd+idle > a.wm {
				sr.collided, keep = keep, sr
			}
			sr = next
		}
		if keep == nil {
			delete(a.series, k)
		} else {
			a.series[k] = keep
		}
	}
}

// closeQueue holds open windows by closing time (end plus lateness). Windows
// are aligned, so few distinct closing times are pending at once: a sorted
// slice of them beats a heap.
type closeQueue struct {
	times   []int64 // sorted, distinct
	buckets map[int64][]*window
	free    [][]*window
}

func (q *closeQueue) push(ct int64, w *window) {
	b, ok := q.buckets[ct]
	if !ok {
		i, _ := slices.BinarySearch(q.times, ct)
		q.times = slices.Insert(q.times, i, ct)
		if n := len(q.free); n > 0 {
			b = q.free[n-1]
			q.free = q.free[:n-1]
		}
	}
	q.buckets[ct] = append(b, w)
}

// String describes the aggregator's state, for debugging.
func (a *Aggregator) String() string {
	return fmt.Sprintf("aggregator{series=%d open windows=%d watermark=%d}",
		len(a.series), a.stats.WindowsOpened-a.stats.WindowsClosed, a.wm)
}
