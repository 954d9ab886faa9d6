package vmbench

import (
	"fmt"
	"math"
	"testing"
)

// answer is what a system flushed for one output series.
type answer map[string]float64 // by tumble's aggregation name

// TestSameAnswer feeds each system one window, on each path and in each
// arrival mode, and holds every output series to the workload's truth:
// count and max exactly, sum to within rounding. The benchmarks compare
// equal work only if this holds. Percentiles may differ (VictoriaMetrics'
// quantiles are estimates): the log says by how much, against the exact
// nearest-rank percentile, and from each other. -short leaves out the
// remote-write path.
func TestSameAnswer(t *testing.T) {
	for _, p := range []path{core, remoteWrite} {
		for _, a := range Arrivals {
			t.Run(fmt.Sprintf("path=%s/arrival=%s", p, a), func(t *testing.T) {
				if p == remoteWrite && testing.Short() {
					t.Skip("the remote-write path in -short mode")
				}
				w := workload(t, a)
				var got []map[[2]string]answer
				for _, sys := range systems {
					g := oneWindow(t, sys, w, p)
					compare(t, sys.name, w, g)
					got = append(got, g)
				}
				for _, agg := range []string{"P50", "P99"} {
					worst, sum, differ := 0.0, 0.0, 0
					for k, a := range got[0] {
						x, y := a[agg], got[1][k][agg]
						if x != y {
							differ++
						}
						e := math.Abs(y-x) / x
						worst, sum = max(worst, e), sum+e
					}
					t.Logf("%s %s and %s %s differ in %d of %d output series, by %.3f%% on average, %.3f%% at worst",
						systems[1].name, agg, systems[0].name, agg, differ, len(got[0]), 100*sum/float64(len(got[0])), 100*worst)
				}
			})
		}
	}
}

func (p path) String() string {
	if p == core {
		return "core"
	}
	return "remote-write"
}

// oneWindow pushes w's window through a new pipeline of sys and flushes
// it; every output series' answer is keyed by service and route.
func oneWindow(t *testing.T, sys system, w *Workload, p path) map[[2]string]answer {
	t.Helper()
	got := map[[2]string]answer{}
	pl, err := sys.open(w, p, func(service, route, agg string, v float64) {
		k := [2]string{service, route}
		if got[k] == nil {
			got[k] = answer{}
		}
		if _, dup := got[k][agg]; dup {
			t.Errorf("%s: %s %s: a second %s", sys.name, service, route, agg)
		}
		got[k][agg] = v
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.close()
	for req := range w.Native {
		if err := pl.push(req, 0); err != nil {
			t.Fatal(err)
		}
	}
	f, err := pl.final()
	if err != nil {
		t.Fatal(err)
	}
	if f.windows != 1 || f.count != WindowSamples {
		t.Fatalf("%s: flushed %d windows, with a count of %.0f samples, want 1 with %d", sys.name, f.windows, f.count, WindowSamples)
	}
	return got
}

// compare holds got to w's truth, and logs how far its percentiles are
// from the exact ones.
func compare(t *testing.T, name string, w *Workload, got map[[2]string]answer) {
	t.Helper()
	if len(got) != Outputs {
		t.Errorf("%s: %d output series, want %d", name, len(got), Outputs)
	}
	type errStat struct{ worst, sum float64 }
	pct := map[string]*errStat{"P50": {}, "P99": {}}
	for i := range w.Want {
		o := &w.Want[i]
		a := got[[2]string{o.Service, o.Route}]
		if a == nil {
			t.Errorf("%s: no output for service %s route %s", name, o.Service, o.Route)
			continue
		}
		if g, want := a["Count"], float64(o.Count()); g != want {
			t.Errorf("%s: %s %s: count %v, want %v", name, o.Service, o.Route, g, want)
		}
		if g, want := a["Max"], o.Max(); g != want {
			t.Errorf("%s: %s %s: max %v, want %v", name, o.Service, o.Route, g, want)
		}
		if g, want := a["Sum"], o.Sum(); math.Abs(g-want) > 1e-9*want {
			t.Errorf("%s: %s %s: sum %v, want %v", name, o.Service, o.Route, g, want)
		}
		for agg, q := range map[string]float64{"P50": 0.5, "P99": 0.99} {
			g, ok := a[agg]
			if !ok {
				t.Errorf("%s: %s %s: no %s", name, o.Service, o.Route, agg)
				continue
			}
			want := o.Quantile(q)
			e := math.Abs(g-want) / want
			pct[agg].worst = max(pct[agg].worst, e)
			pct[agg].sum += e
		}
	}
	for _, agg := range []string{"P50", "P99"} {
		t.Logf("%-6s %s off the exact nearest-rank value by %.3f%% on average, %.3f%% at worst",
			name, agg, 100*pct[agg].sum/Outputs, 100*pct[agg].worst)
	}
}
