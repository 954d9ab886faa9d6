package loadgen

import (
	"reflect"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

func TestDeterministic(t *testing.T) {
	run := func() []sample.Sample {
		g := New(Config{Seed: 5, Services: 3})
		var out []sample.Sample
		for range 4 {
			out = g.Tick(out)
		}
		return out
	}
	a, b := run(), run()
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs with one seed differ (%d and %d samples)", len(a), len(b))
	}
}

// TestWorkload checks the shape the demo and the tests rely on: every sample
// valid, timers within their tick, most of them traced, counters that never
// go down.
func TestWorkload(t *testing.T) {
	g := New(Config{Seed: 1})
	start := g.NowMs()
	totals := map[string]float64{}
	var timers, traced int
	for tick := range 10 {
		for _, s := range g.Tick(nil) {
			from, to := start+int64(tick)*1000, start+int64(tick+1)*1000
			if s.TimestampMs < from || s.TimestampMs >= to {
				t.Fatalf("%s at %d is outside tick [%d, %d)", s.Name, s.TimestampMs, from, to)
			}
			switch s.Type {
			case sample.Timer:
				timers++
				if !s.TraceID.IsZero() {
					traced++
				}
				if s.Value <= 0 {
					t.Fatalf("latency %v is not positive", s.Value)
				}
			case sample.Cumulative:
				key := s.Labels.String()
				if s.Value < totals[key] {
					t.Fatalf("%s%s went down from %v to %v", s.Name, key, totals[key], s.Value)
				}
				totals[key] = s.Value
			}
		}
	}
	if timers == 0 || traced*100 < timers*80 {
		t.Errorf("%d of %d timer samples traced, want most", traced, timers)
	}
}
