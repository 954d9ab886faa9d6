package selection

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		name       string
		perSecond  float64
		start, end int64
		shards     int
		want       int
	}{
		{"no cap", 0, 0, 10_000, 4, -1},
		{"negative cap is no cap", -1, 0, 10_000, 4, -1},
		{"100/s, 4 shards, 10 s", 100, 0, 10_000, 4, 250},
		{"100/s, 4 shards, 10 s at epoch time", 100, 1763800000000, 1763800010000, 4, 250},
		{"100/s, 1 shard, 10 s", 100, 0, 10_000, 1, 1000},
		{"0 shards count as 1", 100, 0, 10_000, 0, 1000},
		{"negative shards count as 1", 100, 0, 10_000, -3, 1000},
		{"2.5/s, 1 shard, 1 s", 2.5, 0, 1000, 1, 2},
		{"2.5/s, 1 shard, next 1 s", 2.5, 1000, 2000, 1, 3},
		{"0.1/s, 4 shards, first 10 s", 0.1, 0, 10_000, 4, 0},
		{"0.1/s, 4 shards, 4th 10 s", 0.1, 30_000, 40_000, 4, 1},
		{"1/s before the epoch", 1, -10_000, 0, 1, 10},
		{"1/s across the epoch", 1, -500, 500, 1, 1},
		{"empty window", 100, 10_000, 10_000, 1, 0},
		{"reversed window", 100, 20_000, 10_000, 1, 0},
		{"capped at MaxInt32", 1e9, 0, 1e12, 1, math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Budget(tc.perSecond, tc.start, tc.end, tc.shards); got != tc.want {
				t.Errorf("Budget(%v, %d, %d, %d) = %d, want %d", tc.perSecond, tc.start, tc.end, tc.shards, got, tc.want)
			}
		})
	}
}

// TestBudgetSharedOut: 0.1/s over 4 shards is one selection per shard every
// 40 s; over 40 windows of 10 s, 10 in all, never more than one a window.
func TestBudgetSharedOut(t *testing.T) {
	for _, start := range []int64{0, 1763800000000} {
		sum := 0
		for w := range int64(40) {
			b := Budget(0.1, start+w*10_000, start+(w+1)*10_000, 4)
			if b != 0 && b != 1 {
				t.Errorf("Budget(0.1, %d, %d, 4) = %d, want 0 or 1", start+w*10_000, start+(w+1)*10_000, b)
			}
			sum += b
		}
		if sum != 10 {
			t.Errorf("from %d, 40 windows of 10 s at 0.1/s on 4 shards: got %d selections, want 10", start, sum)
		}
	}
}

// exactFloor returns floor(perSecond·ms/1000/shards), perSecond read as
// the decimal it prints as, in exact rational arithmetic.
func exactFloor(perSecond float64, ms int64, shards int) int {
	r, ok := new(big.Rat).SetString(fmt.Sprint(perSecond))
	if !ok {
		panic(perSecond)
	}
	r.Mul(r, big.NewRat(ms, 1000*int64(shards)))
	q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: the floor
	return int(q.Int64())
}

// TestBudgetConsecutive: the budgets of consecutive windows add up to the
// floor difference of the whole stretch, within one of the exact share, and
// each window's budget is within one of its own share.
func TestBudgetConsecutive(t *testing.T) {
	for _, perSecond := range []float64{0.1, 0.25, 0.3, 1, 1.7, 2.5, 3.3, 7, 100, 1234.5} {
		for _, shards := range []int{1, 3, 4, 7} {
			for _, windowMs := range []int64{1000, 7000, 10_000, 15_001, 60_000} {
				for _, start := range []int64{-33_333, 0, 1763800000123} {
					const windows = 97
					end := start + windows*windowMs
					name := fmt.Sprintf("%v/s,%d shards,%d ms from %d", perSecond, shards, windowMs, start)
					per := perSecond / 1000 / float64(shards)
					share := per * float64(windowMs)
					sum := 0
					for w := range int64(windows) {
						b := Budget(perSecond, start+w*windowMs, start+(w+1)*windowMs, shards)
						if math.Abs(float64(b)-share) > 1+1e-9 {
							t.Errorf("%s: window %d has budget %d, want within one of %v", name, w, b, share)
						}
						sum += b
					}
					want := exactFloor(perSecond, end, shards) - exactFloor(perSecond, start, shards)
					if sum != want {
						t.Errorf("%s: %d windows add up to %d, want %d", name, windows, sum, want)
					}
					if whole := Budget(perSecond, start, end, shards); sum != whole {
						t.Errorf("%s: %d windows add up to %d, want the whole stretch's budget %d", name, windows, sum, whole)
					}
					if exact := per * float64(end-start); math.Abs(float64(sum)-exact) > 1+1e-9 {
						t.Errorf("%s: %d windows add up to %d, want within one of %v", name, windows, sum, exact)
					}
				}
			}
		}
	}
}

// TestBudgetWholeShare: a window whose share of the cap is a whole number of
// selections gets that number (in floating point, 0.3/s on one shard would
// give [0, 10 s) 2 selections and [20 s, 30 s) 4).
func TestBudgetWholeShare(t *testing.T) {
	for _, tc := range []struct {
		perSecond  float64
		start, end int64
		shards     int
		want       int
	}{
		{0.3, 0, 10_000, 1, 3},
		{0.3, 20_000, 30_000, 1, 3},
		{0.2, 0, 10_000, 1, 2},
		{0.3, 0, 40_000, 4, 3},
		{0.3, 0, 10_000, 3, 1},
		{0.6, 0, 5000, 3, 1},
		{0.9, 0, 10_000, 9, 1},
		{100, 0, 10_000, 4, 250},
		{2.5, 0, 16_000, 4, 10},
	} {
		t.Run(fmt.Sprintf("%v/s,%d shards,[%d,%d)", tc.perSecond, tc.shards, tc.start, tc.end), func(t *testing.T) {
			if got := Budget(tc.perSecond, tc.start, tc.end, tc.shards); got != tc.want {
				t.Errorf("Budget(%v, %d, %d, %d) = %d, want %d", tc.perSecond, tc.start, tc.end, tc.shards, got, tc.want)
			}
		})
	}
}

// pend returns a pending final selection of rule for the window of policy
// ending at endMs (1 s long), with a series of its own named name.
func pend(name, rule, tenant string, value float64, policy string, endMs int64) Pending {
	return Pending{Selection: Selection{
		TraceID:     TraceID([16]byte{0: byte(len(name)), 1: name[0], 15: name[len(name)-1]}),
		Reason:      Final,
		Name:        name,
		Labels:      map[string]string{"rule": rule},
		Aggregation: "P99",
		Policy:      policy,
		StartMs:     endMs - 1000,
		EndMs:       endMs,
		Value:       value,
		SampleValue: value,
		SampleMs:    endMs - 1,
		Rule:        rule,
		Tenant:      tenant,
		Shard:       1,
	}}
}

func names(ss []Selection) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestChoose(t *testing.T) {
	const p = "1s:1d"
	// capped sets the caps (per second; 1 s windows, so per window on one
	// shard) of every pending.
	capped := func(ruleCaps map[string]float64, tenantCap float64, ps ...Pending) []Pending {
		for i := range ps {
			ps[i].PerSecond, ps[i].TenantPerSecond = ruleCaps[ps[i].Rule], tenantCap
		}
		return ps
	}
	for _, tc := range []struct {
		name   string
		ps     []Pending
		shards int
		want   []string // Names, in output order
	}{
		{
			name:   "nothing pending",
			ps:     nil,
			shards: 1,
			want:   []string{},
		},
		{
			name: "no caps: all, rank by rank across rules in name order",
			ps: capped(nil, 0,
				pend("b1", "b", "", 1, p, 1000),
				pend("a1", "a", "", 1, p, 1000),
				pend("a3", "a", "", 3, p, 1000),
				pend("b5", "b", "", 5, p, 1000),
				pend("a2", "a", "", 2, p, 1000),
				pend("c0", "c", "", -7, p, 1000),
			),
			shards: 4,
			want:   []string{"a3", "b5", "c0", "a2", "b1", "a1"},
		},
		{
			name: "rule cap keeps the rule's highest values",
			ps: capped(map[string]float64{"a": 2}, 0,
				pend("a1", "a", "", 1, p, 1000),
				pend("a5", "a", "", 5, p, 1000),
				pend("a3", "a", "", 3, p, 1000),
				pend("a4", "a", "", 4, p, 1000),
				pend("b0", "b", "", 0, p, 1000),
				pend("b9", "b", "", 9, p, 1000),
				pend("b8", "b", "", 8, p, 1000),
			),
			shards: 1,
			want:   []string{"a5", "b9", "a4", "b8", "b0"},
		},
		{
			name: "rule cap shared out between shards",
			ps: capped(map[string]float64{"a": 8}, 0,
				pend("a1", "a", "", 1, p, 1000),
				pend("a5", "a", "", 5, p, 1000),
				pend("a3", "a", "", 3, p, 1000),
				pend("a4", "a", "", 4, p, 1000),
			),
			shards: 4,
			want:   []string{"a5", "a4"},
		},
		{
			name: "rule cap below one a window selects none",
			ps: capped(map[string]float64{"a": 0.5}, 0,
				pend("a1", "a", "", 1, p, 1000),
				pend("b1", "b", "", 1, p, 1000),
			),
			shards: 1,
			want:   []string{"b1"},
		},
		{
			name: "tenant cap taken rank by rank across rules, not by value",
			ps: capped(nil, 3,
				pend("b3", "b", "t", 3, p, 1000),
				pend("a8", "a", "t", 8, p, 1000),
				pend("b2", "b", "t", 2, p, 1000),
				pend("a9", "a", "t", 9, p, 1000),
				pend("b1", "b", "t", 1, p, 1000),
				pend("a7", "a", "t", 7, p, 1000),
			),
			shards: 1,
			want:   []string{"a9", "b3", "a8"},
		},
		{
			name: "each tenant has its own budget",
			ps: capped(nil, 1,
				pend("a9", "a", "t", 9, p, 1000),
				pend("a8", "a", "u", 8, p, 1000),
				pend("a7", "a", "t", 7, p, 1000),
				pend("b6", "b", "u", 6, p, 1000),
				pend("b5", "b", "", 5, p, 1000),
				pend("b4", "b", "", 4, p, 1000),
			),
			shards: 1,
			want:   []string{"a9", "b6", "b5"},
		},
		{
			name: "a rule over its cap spends no tenant budget",
			ps: capped(map[string]float64{"a": 1}, 3,
				pend("a9", "a", "t", 9, p, 1000),
				pend("a8", "a", "t", 8, p, 1000),
				pend("a7", "a", "t", 7, p, 1000),
				pend("b3", "b", "t", 3, p, 1000),
				pend("b2", "b", "t", 2, p, 1000),
				pend("b1", "b", "t", 1, p, 1000),
			),
			shards: 1,
			want:   []string{"a9", "b3", "b2"},
		},
		{
			name: "a tenant over its cap spends no rule budget",
			ps: capped(map[string]float64{"a": 2}, 1,
				pend("a9", "a", "t", 9, p, 1000),
				pend("a8", "a", "t", 8, p, 1000),
				pend("a7", "a", "u", 7, p, 1000),
				pend("a6", "a", "v", 6, p, 1000),
			),
			shards: 1,
			want:   []string{"a9", "a7"},
		},
		{
			name: "windows (policy, end) budgeted separately, in policy then end order",
			ps: capped(map[string]float64{"a": 1}, 0,
				pend("p2e2-1", "a", "", 1, "p2", 2000),
				pend("p1e2-5", "a", "", 5, "p1", 2000),
				pend("p1e1-1", "a", "", 1, "p1", 1000),
				pend("p2e1-2", "a", "", 2, "p2", 1000),
				pend("p1e2-9", "a", "", 9, "p1", 2000),
				pend("p2e1-3", "a", "", 3, "p2", 1000),
				pend("p1e1-4", "a", "", 4, "p1", 1000),
				pend("p2e2-0", "a", "", 0, "p2", 2000),
			),
			shards: 1,
			want:   []string{"p1e1-4", "p1e2-9", "p2e1-3", "p2e2-1"},
		},
		{
			name: "tenant budgets per window too",
			ps: capped(nil, 1,
				pend("e1-a", "a", "t", 1, p, 1000),
				pend("e1-b", "b", "t", 2, p, 1000),
				pend("e2-a", "a", "t", 1, p, 2000),
				pend("e2-b", "b", "t", 0, p, 2000),
			),
			shards: 1,
			want:   []string{"e1-a", "e2-a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := names(Choose(nil, tc.ps, tc.shards))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestChooseKeepsSelections: what comes out is the pending's Selection,
// unchanged, appended to dst.
func TestChooseKeepsSelections(t *testing.T) {
	a := pend("a", "r", "t", 2, "10s:2d", 10_000)
	b := pend("b", "r", "t", 1, "10s:2d", 10_000)
	b.Reason, b.Leader, b.Term, b.SampleValue, b.SampleMs = Candidate, "node-b", 9, 0.5, 1234
	prior := full()
	got := Choose([]Selection{prior}, []Pending{b, a}, 4)
	want := []Selection{prior, a.Selection, b.Selection}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestChooseTies: among equal values of a rule, the series order (name, then
// labels in name order) decides, then the aggregation, then the trace ID.
func TestChooseTies(t *testing.T) {
	// 1 s windows on one shard: a cap of n a second is n a window.
	mk := func(name string, labels map[string]string, agg string, id byte) Pending {
		p := pend("x", "r", "", 1, "1s:1d", 10_000)
		p.Name, p.Labels, p.Aggregation, p.TraceID = name, labels, agg, TraceID([16]byte{15: id})
		return p
	}
	describe := func(ss []Selection) []string {
		var out []string
		for _, s := range ss {
			out = append(out, fmt.Sprintf("%s%v %s %s", s.Name, s.Labels, s.Aggregation, s.TraceID[30:]))
		}
		return out
	}
	// In the order ties are broken.
	ordered := []Pending{
		mk("lat", nil, "P99", 9),
		mk("lat", map[string]string{"a": "1"}, "P99", 9),
		mk("lat", map[string]string{"a": "1", "b": "1"}, "P99", 9),
		mk("lat", map[string]string{"a": "1", "b": "2"}, "Max", 9),
		mk("lat", map[string]string{"a": "1", "b": "2"}, "P99", 1),
		mk("lat", map[string]string{"a": "1", "b": "2"}, "P99", 2),
		mk("lat", map[string]string{"a": "2"}, "P99", 0),
		mk("lat", map[string]string{"b": "0"}, "P99", 0),
		mk("lau", nil, "Max", 0),
	}
	want := make([]Selection, len(ordered))
	for i := range ordered {
		want[i] = ordered[i].Selection
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for i, n := range []int{len(ordered), 1, 2, 5} {
		for range 10 {
			ps := slices.Clone(ordered)
			rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
			perSecond := 0.0 // no cap
			if i > 0 {
				perSecond = float64(n)
			}
			for k := range ps {
				ps[k].PerSecond = perSecond
			}
			got := Choose(nil, ps, 1)
			if !reflect.DeepEqual(got, want[:n]) {
				t.Fatalf("cap %d a window: got\n%q\nwant\n%q", n, describe(got), describe(want[:n]))
			}
		}
	}
}

// TestChooseOrderFree: the result depends on the set of pending selections,
// not their order. Values, series and trace IDs are drawn from small sets so
// that every tie-break is needed; no two pendings share all of the sort keys
// (window, rule, value, series, aggregation, trace ID).
func TestChooseOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ps []Pending
	seen := map[string]bool{}
	for len(ps) < 400 {
		if n := len(ps); n%10 == 1 {
			// A twin of the last: only the trace ID breaks their tie.
			p := ps[n-1]
			p.TraceID = TraceID([16]byte{14: 1, 15: byte(n)})
			ps = append(ps, p)
			continue
		}
		rule := []string{"d", "a", "c", "b"}[rng.IntN(4)]
		name := fmt.Sprintf("s%d", rng.IntN(6))
		policy := []string{"10s:2d", "1m:40d"}[rng.IntN(2)]
		p := pend(name, rule, "t"+name[1:], float64(rng.IntN(4)), policy, int64(1+rng.IntN(3))*10_000)
		p.StartMs = p.EndMs - 10_000
		p.Labels = map[string]string{"i": fmt.Sprint(rng.IntN(3))}
		if rng.IntN(2) == 0 {
			p.Labels["j"] = "x"
		}
		p.Aggregation = []string{"P99", "Max"}[rng.IntN(2)]
		p.TraceID = TraceID([16]byte{15: byte(1 + rng.IntN(4))})
		p.PerSecond = map[string]float64{"a": 0.8, "b": 2, "c": 0}[rule]
		key := fmt.Sprint(p.Policy, p.EndMs, p.Rule, p.Value, p.Name, p.Labels, p.Aggregation, p.TraceID)
		if seen[key] {
			continue
		}
		seen[key] = true
		ps = append(ps, p)
	}
	// With a tenant cap, and without (so that rules c and d select all,
	// ties included).
	for _, tenantPerSecond := range []float64{3.2, 0} {
		t.Run(fmt.Sprintf("tenant cap %v", tenantPerSecond), func(t *testing.T) {
			for i := range ps {
				ps[i].TenantPerSecond = tenantPerSecond
			}
			want := Choose(nil, slices.Clone(ps), 4)
			if len(want) == 0 || len(want) >= len(ps) {
				t.Fatalf("chose %d of %d, want some but not all (the caps should bite)", len(want), len(ps))
			}
			for i := range 20 {
				in := slices.Clone(ps)
				rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
				if got := Choose(nil, in, 4); !reflect.DeepEqual(got, want) {
					t.Fatalf("shuffle %d: got %d selections %q\nwant %d %q", i, len(got), names(got), len(want), names(want))
				}
			}
		})
	}
}
