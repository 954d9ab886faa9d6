package aggregator

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// event is one input of a stateful workload: a sample of target tg, or a
// watermark (tg < 0).
type event struct {
	tg    int
	input uint64
	s     sample.Sample
	wm    int64
}

// statefulTargets are targets whose windows depend on earlier windows: a
// cumulative input under Increase, running totals before and after the
// rollup, a post-rollup Increase, Increase and Rate of a cumulative.
func statefulTargets() []*Target {
	return []*Target{
		NewTarget("req_increase", nil, SetOf(Sum, Max), []Policy{p10s, p1m}, TransformIncrease, NoTransform),
		NewTarget("bytes_total", nil, SetOf(Sum), []Policy{p10s}, NoTransform, TransformAdd),
		NewTarget("queue_delta", nil, SetOf(Max, P99), []Policy{p10s}, NoTransform, TransformIncrease),
		NewTarget("hits", nil, SetOf(Increase, Rate), []Policy{p10s, p1m}, NoTransform, NoTransform),
		NewTarget("level_sum", nil, SetOf(Last, Max), []Policy{p10s}, TransformAdd, NoTransform),
		NewTarget("latency", nil, SetOf(P50, P99, Count), []Policy{p10s}, NoTransform, NoTransform),
	}
}

// statefulWorkload is 40 minutes of samples of statefulTargets from several
// input series each: out of order and late samples, counter resets, and a
// 20-minute silence of some inputs and of three whole series, which are
// forgotten meanwhile.
func statefulWorkload(seed uint64) []event {
	r := rand.New(rand.NewPCG(seed, 1))
	types := []sample.Type{sample.Cumulative, sample.Counter, sample.Gauge, sample.Cumulative, sample.Gauge, sample.Timer}
	cum := map[[2]uint64]float64{}
	var evs []event
	newest := int64(0)
	for ms := int64(0); ms < 40*60_000; ms += 250 {
		for tg, typ := range types {
			for in := range uint64(3) {
				if r.IntN(3) != 0 {
					continue
				}
				if (tg <= 2 || in == 2) && ms > 8*60_000 && ms < 28*60_000 {
					continue // silent long enough to be forgotten
				}
				ts := ms + r.Int64N(250)
				if r.IntN(40) == 0 {
					ts -= r.Int64N(25_000) // out of order, sometimes late
				}
				v := float64(r.IntN(100))
				if typ == sample.Cumulative {
					k := [2]uint64{uint64(tg), in}
					cum[k] += v
					if r.IntN(200) == 0 {
						cum[k] = v // a reset
					}
					v = cum[k]
				}
				evs = append(evs, event{tg: tg, input: in, s: sample.Sample{Type: typ, TimestampMs: ts, Value: v, TraceID: sample.TraceID{byte(ms), byte(in)}}})
				newest = max(newest, ts)
			}
		}
		if ms%1000 == 0 {
			evs = append(evs, event{tg: -1, wm: newest - 2000})
		}
	}
	return append(evs, event{tg: -1, wm: newest + 3600_000})
}

// run feeds evs to agg and returns the points emitted after each event.
func run(agg *Aggregator, tgs []*Target, evs []event, visit func(i int)) [][]Point {
	out := make([][]Point, len(evs))
	for i := range evs {
		e := &evs[i]
		if e.tg < 0 {
			out[i] = agg.Advance(e.wm, nil)
		} else {
			agg.Add(tgs[e.tg], e.input, &e.s)
		}
		if visit != nil {
			visit(i)
		}
	}
	return out
}

// TestRestore: an aggregator restored from the input state saved at event S
// and the output state saved once every window open at S was emitted, fed
// the events from S on, emits exactly the points the uninterrupted run
// emitted after the output state was saved, and nothing before.
func TestRestore(t *testing.T) {
	tgs := statefulTargets()
	evs := statefulWorkload(7)
	ref, _ := New(Options{ExactLimit: 64})
	want := run(ref, tgs, evs, nil)
	total := 0
	for _, ps := range want {
		total += len(ps)
	}
	if st := ref.Stats(); st.Late == 0 || st.OutOfOrder == 0 || total < 1000 {
		t.Fatalf("workload too tame: %d points, stats %+v", total, st)
	}

	for _, tc := range []struct {
		name  string
		s     int // the event the input state is taken before
		extra int // events between the earliest valid output state and the one taken
	}{
		{"at the start", 0, 0},
		{"early", 1000, 0},
		{"mid, output state at once", len(evs) / 3, 0},
		{"mid, output state later", len(evs) / 3, 5000},
		{"during the silence", len(evs) / 2, 17},
		{"output state after a forgotten series came back", len(evs) / 2, 15000},
		{"after the silence", len(evs) * 3 / 4, 300},
		{"at the end", len(evs) - 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg, _ := New(Options{ExactLimit: 64})
			var in, out []byte
			mustClose := int64(math.MinInt64) // latest closing of a window open at S
			t2 := -1
			run(agg, tgs, evs[:tc.s], func(i int) {
				if e := &evs[i]; e.tg >= 0 {
					mustClose = max(mustClose, agg.CloseTime(tgs[e.tg], e.s.TimestampMs))
				}
			})
			in = agg.AppendInputState(nil)
			waited := -1
			run(agg, tgs, evs[tc.s:], func(i int) {
				if out != nil {
					return
				}
				if agg.Emitted() >= mustClose && waited < 0 {
					waited = 0
				}
				if waited >= 0 {
					if waited == tc.extra {
						out, t2 = agg.AppendOutputState(nil), tc.s+i
					}
					waited++
				}
			})
			if out == nil {
				t.Fatal("every window open at S never closed")
			}

			restored, _ := New(Options{ExactLimit: 64})
			if err := restored.Restore(in, out); err != nil {
				t.Fatal(err)
			}
			got := run(restored, tgs, evs[tc.s:], nil)
			for i, ps := range got {
				at := tc.s + i
				exp := want[at]
				if at <= t2 {
					exp = nil
				}
				if len(ps) == 0 && len(exp) == 0 {
					continue
				}
				if !reflect.DeepEqual(ps, exp) {
					t.Fatalf("event %d (output state at %d): restored emitted\n%s\nwant\n%s", at, t2, format(ps), format(exp))
				}
			}
		})
	}
}

// TestRestoreMalformed: a damaged state is refused with the reason, never
// half applied.
func TestRestoreMalformed(t *testing.T) {
	tgs := statefulTargets()
	evs := statefulWorkload(3)
	agg, _ := New(Options{})
	run(agg, tgs, evs[:len(evs)/2], nil)
	in, out := agg.AppendInputState(nil), agg.AppendOutputState(nil)
	for _, tc := range []struct {
		name    string
		in, out []byte
	}{
		{"empty input state", nil, out},
		{"input state truncated", in[:len(in)/2], out},
		{"output state truncated", in, out[:len(out)-3]},
		{"bytes after the input state", append(append([]byte(nil), in...), 0), out},
		{"unknown version", append([]byte{9}, in[1:]...), out},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := New(Options{})
			if err := a.Restore(tc.in, tc.out); err == nil {
				t.Fatal("restored")
			}
			if a.Watermark() != math.MinInt64 || a.savedIn != nil {
				t.Error("a refused state was partly applied")
			}
		})
	}
	a, _ := New(Options{})
	if err := a.Restore(in, out); err != nil {
		t.Fatal(err)
	}
	a.Add(tgs[0], 1, &evs[0].s)
	if err := a.Restore(in, out); err == nil {
		t.Error("restored into an aggregator in use")
	}
}

// FuzzRestore: no input state or output state makes Restore panic, and
// whatever it accepts, the aggregator can run on.
func FuzzRestore(f *testing.F) {
	tgs := statefulTargets()
	evs := statefulWorkload(5)
	agg, _ := New(Options{})
	run(agg, tgs, evs[:2000], nil)
	f.Add(agg.AppendInputState(nil), agg.AppendOutputState(nil))
	f.Fuzz(func(t *testing.T, in, out []byte) {
		a, _ := New(Options{})
		if a.Restore(in, out) != nil {
			return
		}
		run(a, tgs, evs[2000:2500], nil)
		_ = a.Flush(nil)
		_ = a.AppendInputState(nil)
	})
}
