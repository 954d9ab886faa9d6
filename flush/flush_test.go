package flush

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// TestFailedWriteLosesNothing: points a failed write did not take are
// written, in order, by the next call.
func TestFailedWriteLosesNothing(t *testing.T) {
	agg, err := aggregator.New(aggregator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tg := aggregator.NewTarget("m", nil, aggregator.SetOf(aggregator.Sum), []aggregator.Policy{{Resolution: 10 * time.Second, Retention: time.Hour}}, aggregator.NoTransform, aggregator.NoTransform)
	var written []string
	fail := false
	f := New(agg, func(ps []aggregator.Point) error {
		if fail {
			return errors.New("disk full")
		}
		for _, p := range ps {
			written = append(written, fmt.Sprintf("%d=%g", p.StartMs, p.Value))
		}
		return nil
	})
	add := func(ts int64, v float64) {
		s := sample.Sample{Type: sample.Counter, TimestampMs: ts, Value: v}
		agg.Add(tg, 1, &s)
	}
	add(1000, 1)
	add(11000, 2)
	fail = true
	if err := f.Advance(30000); err == nil { // closes [0,10s) and [10s,20s)
		t.Fatal("a failed write was not reported")
	}
	if f.Pending() != 2 {
		t.Fatalf("got %d pending points, want 2", f.Pending())
	}
	add(25000, 4)
	fail = false
	if err := f.Advance(30000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := "[0=1 10000=2 20000=4]"
	if got := fmt.Sprint(written); got != want {
		t.Errorf("written: got %s, want %s", got, want)
	}
	if st := f.Stats(); st.FailedWrites != 1 || st.Points != 3 || f.Pending() != 0 {
		t.Errorf("stats: got %+v with %d pending, want 1 failed write, 3 points, none pending", st, f.Pending())
	}
}
