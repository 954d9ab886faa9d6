package aggregator

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// valueRun is n samples of value v that arrive one after the other; those
// at the positions in traced (from 0, within the run) carry a trace ID.
type valueRun struct {
	v      float64
	n      int
	traced []int
}

// runSamples returns the samples of runs in arrival order. The i-th sample
// (from 1) has timestamp i and, if traced, trace ID traceOf(i).
func runSamples(runs []valueRun) []sample.Sample {
	var ss []sample.Sample
	for _, r := range runs {
		for j := range r.n {
			ts := int64(len(ss) + 1)
			s := sample.Sample{Name: "latency", Type: sample.Timer, Value: r.v, TimestampMs: ts}
			for _, k := range r.traced {
				if k == j {
					s.TraceID = traceOf(ts)
				}
			}
			ss = append(ss, s)
		}
	}
	return ss
}

func traceOf(ts int64) sample.TraceID { return sample.TraceID{byte(ts >> 8), byte(ts), 0x7e} }

// TestExemplarNearestInRank: when the sample at a percentile's rank has no
// trace ID, the exemplar is the traced sample nearest in rank, above or
// below, with its own value and timestamp, while the point keeps the value
// at the rank; in exact windows and past the exact limit (2048 samples),
// where ranks are those of histogram buckets.
func TestExemplarNearestInRank(t *testing.T) {
	for _, tc := range []struct {
		name     string
		agg      Type
		runs     []valueRun
		value    float64 // the point's
		ts       int64   // the exemplar's sample; its trace is traceOf(ts), or none if untraced
		exV      float64
		untraced bool
	}{
		{
			// Ranks: 1 ×38 (1..38), 5 ×14 (39..52), 6 (53), 7 ×47 (54..100); P50 is rank 50.
			name: "exact: 4 ranks above beats 12 below", agg: P50,
			runs:  []valueRun{{7, 47, []int{9}}, {1, 38, []int{4}}, {6, 1, nil}, {5, 14, nil}},
			value: 5, ts: 10, exV: 7,
		},
		{
			// 1 ×45 (1..45), 5 ×10 (46..55), 9 ×45 (56..100).
			name: "exact: 5 ranks below beats 6 above", agg: P50,
			runs:  []valueRun{{1, 45, []int{44}}, {5, 10, nil}, {9, 45, []int{0}}},
			value: 5, ts: 45, exV: 1,
		},
		{
			// 1 ×45 (1..45), 5 ×9 (46..54), 9 ×46 (55..100): 5 ranks either way.
			name: "exact: a tie goes above, to the first traced sample", agg: P50,
			runs:  []valueRun{{1, 45, []int{3}}, {5, 9, nil}, {9, 46, []int{7, 2}}},
			value: 5, ts: 57, exV: 9,
		},
		{
			// 1 ×49 (1..49), 5 ×50 (50..99), 9: the traced 5, arrived last
			// of its value, shares rank 50 with the others.
			name: "exact: samples of the value at the rank share it", agg: P50,
			runs:  []valueRun{{1, 49, []int{48}}, {5, 50, []int{49}}, {9, 1, []int{0}}},
			value: 5, ts: 99, exV: 5,
		},
		{
			name: "exact: far below, the only traced sample", agg: P99,
			runs:  []valueRun{{2, 99, nil}, {1, 1, []int{0}}},
			value: 2, ts: 100, exV: 1,
		},
		{
			name: "exact: no traced sample", agg: P50,
			runs:  []valueRun{{3, 10, nil}, {1, 10, nil}},
			value: 1, ts: 11, exV: 1, untraced: true,
		},
		{
			// 1 ×1140 (1..1140), 5 ×420 (1141..1560), 6 ×30 (1561..1590),
			// 7 ×1410 (1591..3000); P50 is rank 1500: 91 above, 360 below.
			name: "histogram: 91 ranks above beats 360 below", agg: P50,
			runs:  []valueRun{{1, 1140, []int{4}}, {5, 420, nil}, {6, 30, nil}, {7, 1410, []int{9}}},
			value: 5, ts: 1600, exV: 7,
		},
		{
			// -7 ×1450 (1..1450), -1 ×100 (1451..1550), 3 ×1450 (1551..3000).
			name: "histogram: 50 ranks below, negative, beats 51 above", agg: P50,
			runs:  []valueRun{{3, 1450, []int{0}}, {-1, 100, nil}, {-7, 1450, []int{1000, 1001}}},
			value: -1, ts: 2551, exV: -7,
		},
		{
			// -2 ×1450 (1..1450), 0 ×99 (1451..1549), 4 ×1451 (1550..3000).
			name: "histogram: a tie across zero goes above", agg: P50,
			runs:  []valueRun{{-2, 1450, []int{7}}, {0, 99, nil}, {4, 1451, []int{8, 3}}},
			value: 0, ts: 1553, exV: 4,
		},
		{
			// 1 ×1490, then the bucket of 10.02 and 10.01 (1491..1520),
			// which holds rank 1500: its first traced sample stands for it.
			name: "histogram: the first traced sample of the bucket at the rank", agg: P50,
			runs:  []valueRun{{1, 1490, nil}, {10.02, 10, []int{7}}, {10.01, 20, []int{0}}, {50, 1480, []int{0}}},
			value: 10.02, ts: 1498, exV: 10.02,
		},
		{
			// 1 ×2000 (1..2000), 2 ×500 (2001..2500), 3 ×2900: P999 is rank
			// 5395, and the only traced bucket is 2895 ranks below.
			name: "histogram: far below, the only traced bucket", agg: P999,
			runs:  []valueRun{{3, 2900, nil}, {2, 500, []int{499}}, {1, 2000, nil}},
			value: 3, ts: 3400, exV: 2,
		},
		{
			name: "histogram: no traced sample", agg: P90,
			runs:  []valueRun{{1, 2000, nil}, {2, 1000, nil}},
			value: 2, ts: 2001, exV: 2, untraced: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			tg := NewTarget("latency", nil, SetOf(tc.agg), []Policy{p10s}, NoTransform, NoTransform)
			ss := runSamples(tc.runs)
			for i := range ss {
				agg.Add(tg, 1, &ss[i])
			}
			ps := agg.Flush(nil)
			if len(ps) != 1 {
				t.Fatalf("got %d points, want 1", len(ps))
			}
			p := ps[0]
			want := Exemplar{Value: tc.exV, TimestampMs: tc.ts}
			if !tc.untraced {
				want.TraceID = traceOf(tc.ts)
			}
			if p.Value != tc.value || !p.HasExemplar || p.Exemplar != want {
				t.Errorf("got value %v exemplar %+v (%v), want %v and %+v", p.Value, p.Exemplar, p.HasExemplar, tc.value, want)
			}
			// The oracle of the property test agrees.
			checkPercentiles(t, agg, ss, ps)
		})
	}
}

// TestExemplarNearestInRankProperty draws windows of every shape and size,
// about one sample in ten without a trace ID (and sparser traces too), and
// checks every percentile point against wantExemplar: each point of a
// window that held a traced sample has the trace nearest in rank.
func TestExemplarNearestInRankProperty(t *testing.T) {
	sizes := []int{1, 2, 3, 10, 99, 1000, 2048, 2049, 5000, 20000}
	var total exemplarCounts
	for _, untraced := range []float64{0.1, 0.9, 0.999, 1} {
		for shape, draw := range shapes {
			for _, n := range sizes {
				t.Run(fmt.Sprintf("untraced=%g/%s/n=%d", untraced, shape, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(n), uint64(untraced*1000)))
					total.add(checkWindow(t, r, draw, n, untraced, Options{}))
				})
			}
		}
	}
	t.Logf("%d percentile points, %d of windows with a traced sample, %d of them with a trace; "+
		"%d with no trace at the rank, %d with an exemplar away from the rank's value or bucket, %d past the exact limit",
		total.points, total.traced, total.withTrace, total.untracedRank, total.elsewhere, total.histogram)
	if total.withTrace != total.traced {
		t.Errorf("%d of %d points of windows with a traced sample have a trace", total.withTrace, total.traced)
	}
	if total.elsewhere == 0 || total.histogram == 0 {
		t.Errorf("no point tested an exemplar away from its rank (%d) or past the exact limit (%d)", total.elsewhere, total.histogram)
	}
}
