package aggregator

import (
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/sample"
)

func TestCandidates(t *testing.T) {
	p10s := Policy{Resolution: 10 * time.Second, Retention: 48 * time.Hour}
	p1m := Policy{Resolution: time.Minute, Retention: 40 * 24 * time.Hour}
	selected := func(aggs Set, sel Set) *Target {
		tg := NewTarget("lat", nil, aggs, []Policy{p10s, p1m}, NoTransform, NoTransform)
		tg.Selects = &SelectionSpec{Rule: "r", Aggregations: sel}
		return tg
	}
	trace := func(i int) sample.TraceID { return sample.TraceID{15: byte(i), 14: byte(i >> 8), 0: 1} }
	// window w (10s long) gets values in order, all traced, at ascending times.
	feed := func(a *Aggregator, tg *Target, w int64, values []float64) {
		for i, v := range values {
			s := sample.Sample{Type: sample.Timer, Value: v, TimestampMs: w*10_000 + int64(i), TraceID: trace(i + 1)}
			a.Add(tg, 1, &s)
		}
	}
	upto := func(n int) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = float64(i + 1)
		}
		return vs
	}
	for _, tc := range []struct {
		name       string
		enabled    bool
		target     *Target
		second     []float64 // the second window's values, after 1..100 in the first
		wantValues []float64 // the candidates of the second window
		wantAgg    Type
		bounded    uint64
	}{
		// P99 of 1..100 offers above the first window's P95, 95, at most
		// max(4, 3·6) = 18 a window.
		{"P99", true, selected(SetOf(P50, P99, Count), SetOf(P99)), []float64{50, 99, 95, 120, 95.5}, []float64{99, 120, 95.5}, P99, 0},
		{"bound", true, selected(SetOf(P99), SetOf(P99)), upto(200)[99:], upto(200)[99:117], P99, 83},
		// Max offers above the previous P99, 99.
		{"Max with quantiles", true, selected(SetOf(P50, Max), SetOf(Max)), []float64{99, 99.5, 150}, []float64{99.5, 150}, Max, 0},
		// Without quantiles, above the previous Max, 100.
		{"Max alone", true, selected(SetOf(Max, Count), SetOf(Max)), []float64{99, 100, 101}, []float64{101}, Max, 0},
		// P999 of 1..100 offers above the value at rank ceil(0.995·100).
		{"P999 above P998", true, selected(SetOf(P999), SetOf(P999)), []float64{99, 100, 100.5}, []float64{100.5}, P999, 0},
		{"not asked", false, selected(SetOf(P99), SetOf(P99)), []float64{150}, nil, P99, 0},
		{"not selected", true, NewTarget("lat", nil, SetOf(P99), []Policy{p10s}, NoTransform, NoTransform), []float64{150}, nil, P99, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(Options{Candidates: tc.enabled})
			if err != nil {
				t.Fatal(err)
			}
			feed(a, tc.target, 0, upto(100))
			if c := a.Candidates(nil); len(c) != 0 {
				t.Fatalf("the first window offered %d candidates, want none (no threshold yet)", len(c))
			}
			a.Advance(30_000, nil) // closes [0, 10s) (lateness 10s)
			feed(a, tc.target, 3, tc.second)
			got := a.Candidates(nil)
			if len(got) != len(tc.wantValues) {
				t.Fatalf("%d candidates %+v, want values %v", len(got), got, tc.wantValues)
			}
			for i, c := range got {
				if c.Sample.Value != tc.wantValues[i] || c.Aggregation != tc.wantAgg || c.StartMs != 30_000 || c.EndMs != 40_000 ||
					c.Policy != p10s || c.Sample.TraceID.IsZero() || c.Target != tc.target {
					t.Errorf("candidate %d: %+v; want value %v of %s in [30000, 40000) at 10s", i, c, tc.wantValues[i], tc.wantAgg)
				}
			}
			if st := a.Stats(); st.Candidates != uint64(len(got)) || st.CandidatesBounded != tc.bounded {
				t.Errorf("stats: %d candidates, %d bounded; want %d, %d", st.Candidates, st.CandidatesBounded, len(got), tc.bounded)
			}
			if again := a.Candidates(nil); len(again) != 0 {
				t.Errorf("taken twice: %d", len(again))
			}
		})
	}
}
