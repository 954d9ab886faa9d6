package aggregator

import (
	"fmt"
	"github.com/tumblemetrics/tumble/policy"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/sample"
)

// step is one input of a table case: a sample (typ != 0) or a watermark.
type step struct {
	typ   sample.Type
	input uint64 // input series ID
	ts    int64
	v     float64
	trace byte // non-zero: trace ID {trace}
	wm    int64
}

func smp(typ sample.Type, ts int64, v float64) step { return step{typ: typ, input: 1, ts: ts, v: v} }
func wm(ts int64) step                              { return step{wm: ts} }

// day is a timestamp far from the epoch: series idle since the epoch are.
const day = int64(86_400_000)

var (
	p10s = Policy{Resolution: 10 * time.Second, Retention: 48 * time.Hour}
	p1m  = Policy{Resolution: time.Minute, Retention: 40 * 24 * time.Hour}
)

// format renders points as "Agg[start,end)=value" with "~trace" for
// exemplars that have a trace ID.
func format(ps []Point) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s/%s[%d,%d)=%g", p.Aggregation, policy.FormatDuration(p.Policy.Resolution), p.StartMs, p.EndMs, p.Value)
		if p.HasExemplar && !p.Exemplar.TraceID.IsZero() {
			fmt.Fprintf(&b, "~%d", p.Exemplar.TraceID[0])
		}
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

func TestAggregator(t *testing.T) {
	for _, tc := range []struct {
		name      string
		aggs      Set
		policies  []Policy
		pre, post Transform
		opts      Options
		steps     []step
		want      string
		stats     Stats // only the non-zero fields of want are compared
	}{
		{
			name: "window edges are [start, end)", aggs: SetOf(Count, Sum), policies: []Policy{p10s},
			steps: []step{smp(sample.Gauge, 0, 1), smp(sample.Gauge, 9999, 2), smp(sample.Gauge, 10000, 4)},
			want:  "Count/10s[0,10000)=2 Sum/10s[0,10000)=3 Count/10s[10000,20000)=1 Sum/10s[10000,20000)=4",
		},
		{
			name: "late samples are dropped and counted", aggs: SetOf(Sum), policies: []Policy{p10s},
			steps: []step{
				smp(sample.Counter, 1000, 1), wm(19999), smp(sample.Counter, 2000, 2), // still open: 10000+10000 > 19999
				wm(20000), smp(sample.Counter, 3000, 4), smp(sample.Counter, 15000, 8),
			},
			want:  "Sum/10s[0,10000)=3 Sum/10s[10000,20000)=8",
			stats: Stats{Late: 1, Samples: 3},
		},
		{
			name: "lateness option", aggs: SetOf(Sum), policies: []Policy{p10s}, opts: Options{Lateness: time.Second},
			steps: []step{smp(sample.Counter, 1000, 1), wm(11000), smp(sample.Counter, 2000, 2)},
			want:  "Sum/10s[0,10000)=1", stats: Stats{Late: 1},
		},
		{
			name: "default lateness is capped at 2m", aggs: SetOf(Sum), policies: []Policy{{Resolution: time.Hour, Retention: 24 * time.Hour}},
			steps: []step{smp(sample.Counter, 1000, 1), wm(3600000 + 120000), smp(sample.Counter, 2000, 2)},
			want:  "Sum/1h[0,3600000)=1", stats: Stats{Late: 1},
		},
		{
			name: "two policies close apart", aggs: SetOf(Max), policies: []Policy{p1m, p10s},
			steps: []step{smp(sample.Gauge, 5000, 3), smp(sample.Gauge, 15000, 1), wm(30000)},
			want:  "Max/10s[0,10000)=3 Max/10s[10000,20000)=1 Max/1m[0,60000)=3",
		},
		{
			name: "moments", aggs: SetOf(Count, Sum, Mean, SumSq, Stdev, Min, Max, Last), policies: []Policy{p10s},
			steps: []step{smp(sample.Timer, 1, 2), smp(sample.Timer, 2, 4), smp(sample.Timer, 3, 4), smp(sample.Timer, 4, 4), smp(sample.Timer, 5, 5), smp(sample.Timer, 6, 5), smp(sample.Timer, 7, 7), smp(sample.Timer, 8, 9)},
			want: "Last/10s[0,10000)=9 Min/10s[0,10000)=2 Max/10s[0,10000)=9 Mean/10s[0,10000)=5 Count/10s[0,10000)=8 " +
				"Sum/10s[0,10000)=40 SumSq/10s[0,10000)=232 Stdev/10s[0,10000)=2.138089935299395",
		},
		{
			name: "last is the latest timestamp, the later arrival on a tie", aggs: SetOf(Last), policies: []Policy{p10s},
			steps: []step{{typ: sample.Gauge, ts: 5, v: 1, trace: 1}, {typ: sample.Gauge, ts: 9, v: 2, trace: 2}, {typ: sample.Gauge, ts: 7, v: 3, trace: 3}, {typ: sample.Gauge, ts: 9, v: 4, trace: 4}},
			want:  "Last/10s[0,10000)=4~4",
		},
		{
			name: "min and max keep a traced sample on a tie", aggs: SetOf(Min, Max), policies: []Policy{p10s},
			steps: []step{smp(sample.Gauge, 1, 1), {typ: sample.Gauge, ts: 2, v: 1, trace: 7}, {typ: sample.Gauge, ts: 3, v: 1, trace: 8}},
			want:  "Min/10s[0,10000)=1~7 Max/10s[0,10000)=1~7",
		},
		{
			name: "counter increments: increase and rate", aggs: SetOf(Increase, Rate), policies: []Policy{p10s},
			steps: []step{smp(sample.Counter, 1, 3), smp(sample.Counter, 2, 2)},
			want:  "Increase/10s[0,10000)=5 Rate/10s[0,10000)=0.5",
		},
		{
			name: "cumulative: baseline, reset, windows", aggs: SetOf(Increase, Last, Count), policies: []Policy{p10s},
			steps: []step{
				smp(sample.Cumulative, 1000, 10), smp(sample.Cumulative, 2000, 15), // baseline, +5
				smp(sample.Cumulative, 11000, 3), // reset: +3
				smp(sample.Cumulative, 12000, 8), // +5
				smp(sample.Cumulative, 11500, 9), // older than the last: adds nothing
			},
			want:  "Last/10s[0,10000)=15 Count/10s[0,10000)=2 Increase/10s[0,10000)=5 Last/10s[10000,20000)=8 Count/10s[10000,20000)=3 Increase/10s[10000,20000)=8",
			stats: Stats{Baselines: 1, OutOfOrder: 1},
		},
		{
			name: "cumulative rollup: increases per input series", aggs: SetOf(Increase), policies: []Policy{p10s},
			steps: []step{
				{typ: sample.Cumulative, input: 1, ts: 1, v: 100}, {typ: sample.Cumulative, input: 2, ts: 1, v: 7},
				{typ: sample.Cumulative, input: 1, ts: 5, v: 110}, {typ: sample.Cumulative, input: 2, ts: 5, v: 9},
				{typ: sample.Cumulative, input: 3, ts: 6, v: 1000},
			},
			want: "Increase/10s[0,10000)=12",
		},
		{
			name: "pre-transform Increase then Sum", aggs: SetOf(Sum), policies: []Policy{p10s}, pre: TransformIncrease,
			steps: []step{
				{typ: sample.Gauge, input: 1, ts: 1, v: 100}, {typ: sample.Gauge, input: 2, ts: 1, v: 50},
				{typ: sample.Gauge, input: 1, ts: 10001, v: 130}, {typ: sample.Gauge, input: 2, ts: 10001, v: 20},
			},
			want: "Sum/10s[10000,20000)=50",
		},
		{
			// The baseline opens no window; a watermark (and the sweep
			// of idle series it runs) before the next sample must not
			// forget it.
			name: "pre-transform Increase: a watermark between baseline and next sample", aggs: SetOf(Sum), policies: []Policy{p10s}, pre: TransformIncrease,
			steps: []step{
				{typ: sample.Gauge, input: 1, ts: day + 999, v: 3}, wm(day + 999),
				{typ: sample.Gauge, input: 1, ts: day + 1999, v: 5}, wm(day + 20000),
			},
			want: "Sum/10s[86400000,86410000)=2", stats: Stats{Baselines: 1},
		},
		{
			name: "pre-transform PerSecond", aggs: SetOf(Max), policies: []Policy{p10s}, pre: TransformPerSecond,
			steps: []step{smp(sample.Cumulative, 0, 100), smp(sample.Cumulative, 2000, 110), smp(sample.Cumulative, 4000, 130)},
			want:  "Max/10s[0,10000)=10",
		},
		{
			name: "post-transform Add makes a running total", aggs: SetOf(Sum), policies: []Policy{p10s}, post: TransformAdd,
			steps: []step{smp(sample.Counter, 1, 2), smp(sample.Counter, 10001, 3), smp(sample.Counter, 30001, 4)},
			want:  "Sum/10s[0,10000)=2 Sum/10s[10000,20000)=5 Sum/10s[30000,40000)=9",
		},
		{
			name: "post-transform PerSecond", aggs: SetOf(Last), policies: []Policy{p10s}, post: TransformPerSecond,
			steps: []step{smp(sample.Gauge, 1, 100), smp(sample.Gauge, 10001, 150), smp(sample.Gauge, 30001, 250)},
			want:  "Last/10s[10000,20000)=5 Last/10s[30000,40000)=5",
		},
		{
			name: "percentiles on counters are left out", aggs: SetOf(P99, Sum), policies: []Policy{p10s},
			steps: []step{smp(sample.Counter, 1, 2)},
			want:  "Sum/10s[0,10000)=2", stats: Stats{Unsupported: 1},
		},
		{
			name: "a sample of another type is dropped", aggs: SetOf(Sum), policies: []Policy{p10s},
			steps: []step{smp(sample.Counter, 1, 2), smp(sample.Gauge, 2, 5)},
			want:  "Sum/10s[0,10000)=2", stats: Stats{TypeMismatch: 1},
		},
		{
			name: "default aggregations of a gauge", policies: []Policy{p10s},
			steps: []step{smp(sample.Gauge, 1, 2), smp(sample.Gauge, 2, 5)},
			want:  "Last/10s[0,10000)=5",
		},
		{
			name: "exact percentiles and their exemplars", aggs: SetOf(P50, P99, Median), policies: []Policy{p10s},
			steps: []step{
				{typ: sample.Timer, ts: 1, v: 0.3, trace: 1}, {typ: sample.Timer, ts: 2, v: 0.1, trace: 2},
				// The sample at rank 3 (P50) has no trace: its traced equal is the exemplar.
				{typ: sample.Timer, ts: 3, v: 0.2, trace: 4}, {typ: sample.Timer, ts: 4, v: 0.2}, {typ: sample.Timer, ts: 5, v: 0.9, trace: 5},
			},
			want: "Median/10s[0,10000)=0.2~4 P50/10s[0,10000)=0.2~4 P99/10s[0,10000)=0.9~5",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			tg := NewTarget("m", nil, tc.aggs, tc.policies, tc.pre, tc.post)
			var got []Point
			for _, st := range tc.steps {
				if st.typ == 0 {
					got = agg.Advance(st.wm, got)
					continue
				}
				s := sample.Sample{Name: "m", Type: st.typ, TimestampMs: st.ts, Value: st.v}
				if st.trace != 0 {
					s.TraceID = sample.TraceID{st.trace}
				}
				agg.Add(tg, st.input, &s)
			}
			got = agg.Flush(got)
			if g := format(got); g != tc.want {
				t.Errorf("points:\ngot  %s\nwant %s", g, tc.want)
			}
			checkStats(t, agg.Stats(), tc.stats)
		})
	}
}

// checkStats compares the non-zero fields of want with got.
func checkStats(t *testing.T, got, want Stats) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range wv.NumField() {
		if w := wv.Field(i).Uint(); w != 0 && gv.Field(i).Uint() != w {
			t.Errorf("Stats.%s: got %d, want %d", wv.Type().Field(i).Name, gv.Field(i).Uint(), w)
		}
	}
}

func TestOutputNaming(t *testing.T) {
	ls := sample.Labels{{Name: "route", Value: "/pay"}, {Name: "service", Value: "checkout"}}
	for _, tc := range []struct {
		agg        Type
		n          int
		wantName   string
		wantLabels string
	}{
		{P99, 1, "lat", `{route="/pay", service="checkout"}`},
		{Sum, 1, "lat", `{route="/pay", service="checkout"}`},
		{P99, 3, "lat", `{quantile="0.99", route="/pay", service="checkout"}`},
		{P9999, 2, "lat", `{quantile="0.9999", route="/pay", service="checkout"}`},
		{Median, 2, "lat", `{quantile="0.5", route="/pay", service="checkout"}`},
		{Count, 2, "lat_count", `{route="/pay", service="checkout"}`},
		{SumSq, 2, "lat_sum_sq", `{route="/pay", service="checkout"}`},
		{Stdev, 2, "lat_stdev", `{route="/pay", service="checkout"}`},
		{Increase, 2, "lat_increase", `{route="/pay", service="checkout"}`},
		{Rate, 2, "lat_rate", `{route="/pay", service="checkout"}`},
		{Last, 2, "lat_last", `{route="/pay", service="checkout"}`},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.agg, tc.n), func(t *testing.T) {
			if got := OutputName("lat", tc.agg, tc.n); got != tc.wantName {
				t.Errorf("name: got %q, want %q", got, tc.wantName)
			}
			if got := OutputLabels(ls, tc.agg, tc.n).String(); got != tc.wantLabels {
				t.Errorf("labels: got %s, want %s", got, tc.wantLabels)
			}
		})
	}
}

// TestDeterministic: the same input twice gives identical points, exemplars
// included, across exact and histogram windows, one sample in ten untraced.
func TestDeterministic(t *testing.T) {
	run := func() []Point {
		agg, _ := New(Options{ExactLimit: 32})
		tgs := []*Target{
			NewTarget("a", nil, SetOf(P50, P99, Max, Count), []Policy{p10s, p1m}, NoTransform, NoTransform),
			NewTarget("b", nil, SetOf(Increase, Rate), []Policy{p10s}, NoTransform, NoTransform),
		}
		var out []Point
		for i := range 5000 {
			s := sample.Sample{Type: sample.Timer, TimestampMs: int64(i * 37), Value: math.Mod(float64(i)*0.7919, 3.3)}
			if i%10 != 3 { // some exemplars are the traced sample nearest in rank
				s.TraceID = sample.TraceID{byte(i), byte(i >> 8)}
			}
			agg.Add(tgs[0], uint64(i%7), &s)
			c := sample.Sample{Type: sample.Cumulative, TimestampMs: int64(i * 37), Value: float64(i / 3)}
			agg.Add(tgs[1], uint64(i%5), &c)
			out = agg.Advance(int64(i*37), out)
		}
		return agg.Flush(out)
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs differ: %d and %d points", len(a), len(b))
	}
	if len(a) == 0 {
		t.Fatal("no points")
	}
}

// TestKeyCollision: two targets with the same Key (forced here) keep
// separate state; the Key is a hash, never trusted alone.
func TestKeyCollision(t *testing.T) {
	agg, _ := New(Options{})
	a := NewTarget("a", nil, SetOf(Sum), []Policy{p10s}, NoTransform, NoTransform)
	b := NewTarget("b", nil, SetOf(Sum), []Policy{p10s}, NoTransform, NoTransform)
	b.Key = a.Key
	for i, tg := range []*Target{a, b, a} {
		s := sample.Sample{Type: sample.Counter, Value: float64(i + 1), TimestampMs: 5}
		agg.Add(tg, 1, &s)
	}
	var got []string
	for _, p := range agg.Flush(nil) {
		got = append(got, fmt.Sprintf("%s=%g", p.SeriesName(), p.Value))
	}
	if strings.Join(got, " ") != "a=4 b=2" {
		t.Errorf("got %v, want a=4 b=2", got)
	}
}

// TestOrderFree: the samples of one window, which reach a shard through
// several raw partitions in no fixed order, give the same points and
// exemplars whatever their order, ties of value and timestamp included
// (values in multiples of 1/64, whose sums are exact in any order).
func TestOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var ss []sample.Sample
	for i := range 1500 {
		s := sample.Sample{Type: sample.Timer, TimestampMs: int64(rng.IntN(40)) * 250, Value: float64(rng.IntN(64)) / 64}
		if i%10 != 3 {
			s.TraceID = sample.TraceID{byte(i), byte(i >> 8), 1}
		}
		ss = append(ss, s)
	}
	run := func(order []int) []Point {
		agg, _ := New(Options{})
		tg := NewTarget("latency", nil, SetOf(P10, P50, P90, P99, P999, Min, Max, Last, Count, Sum), []Policy{p10s}, NoTransform, NoTransform)
		for _, i := range order {
			agg.Add(tg, uint64(i%4), &ss[i])
		}
		return agg.Flush(nil)
	}
	want := run(rng.Perm(len(ss)))
	for range 5 {
		if got := run(rng.Perm(len(ss))); !reflect.DeepEqual(got, want) {
			for i := range got {
				if i < len(want) && !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("%s: got %+v, want %+v", got[i].Aggregation, got[i], want[i])
				}
			}
			t.Fatal("another order gave other points")
		}
	}
}

// TestOnLate: OnLate is told of each (sample, policy) pair Stats.Late
// counts, with the target the sample came for, and costs nothing while no
// sample is late.
func TestOnLate(t *testing.T) {
	type call struct {
		rule, policy string
		why          LateReason
	}
	var calls []call
	agg, _ := New(Options{OnLate: func(tg *Target, s sample.Sample, p Policy, why LateReason) {
		calls = append(calls, call{tg.Rule, p.String(), why})
		if s.TimestampMs != 2000 && s.TimestampMs != 3000 {
			t.Errorf("told of the sample at %d, not a late one", s.TimestampMs)
		}
	}})
	tg := NewTarget("m", nil, SetOf(Sum), []Policy{p10s, p1m}, NoTransform, NoTransform)
	tg.Rule = "by route"
	// Another rule's target of the same series: the same state, its own
	// name in the count.
	other := NewTarget("m", nil, SetOf(Sum), []Policy{p10s, p1m}, NoTransform, NoTransform)
	other.Rule = "by service"
	if other.Key != tg.Key || !other.Same(tg) {
		t.Fatal("the rule is part of the target's identity")
	}
	add := func(tg *Target, ts int64) {
		s := sample.Sample{Type: sample.Counter, Value: 1, TimestampMs: ts}
		agg.Add(tg, 1, &s)
	}
	add(tg, 1000)
	agg.Advance(20_000, nil) // closes [0,10s); [0,1m) is open until 2m
	if allocs := testing.AllocsPerRun(100, func() { add(tg, 25_000) }); allocs != 0 || len(calls) != 0 {
		t.Errorf("samples in open windows: got %v allocations and %d calls, want none", allocs, len(calls))
	}
	add(other, 2000) // late for 10s only
	agg.Advance(120_000, nil)
	add(tg, 3000) // late for both
	want := []call{{"by service", "10s:2d", WindowClosed}, {"by route", "10s:2d", WindowClosed}, {"by route", "1m:40d", WindowClosed}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("got %v, want %v", calls, want)
	}
	if late := agg.Stats().Late; late != uint64(len(calls)) {
		t.Errorf("Stats.Late: got %d, want %d, one per call", late, len(calls))
	}
	if got := WindowClosed.String(); got != "window_closed" {
		t.Errorf("got %q, want window_closed", got)
	}
}
