package storage

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/policy"
)

// TestConcurrentReads: readers running while one writer appends and another
// goroutine cuts and compacts blocks always see, for every series, a
// gap-free run of points with the right values.
func TestConcurrentReads(t *testing.T) {
	pol := policy.Policy{Resolution: time.Minute, Retention: 1000 * time.Hour}
	db, err := Open(t.TempDir(), Options{BlockDuration: 10 * time.Minute, MaxBlockDuration: 90 * time.Minute, NoSync: true, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const nSeries, nSteps = 20, 600
	step := int64(time.Minute / time.Millisecond)
	series := make([]labels.Labels, nSeries)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "c", "i", fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var it promchunkenc.Iterator
			for ctx.Err() == nil {
				q, err := db.Querier(math.MinInt64, math.MaxInt64)
				if err != nil {
					t.Error(err)
					return
				}
				ss := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "i", fmt.Sprintf("%d.*", r)))
				for ss.Next() {
					it = ss.At().Iterator(it)
					next := int64(0)
					for it.Next() != promchunkenc.ValNone {
						ts, v := it.At()
						if ts != next || v != float64(ts/step) {
							t.Errorf("%s: got %g at %d, want %g at %d", ss.At().Labels(), v, ts, float64(next/step), next)
							return
						}
						next += step
					}
					if err := it.Err(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := db.Compact(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for k := range int64(nSteps) {
		batch := make([]Point, nSeries)
		for i, ls := range series {
			batch[i] = Point{Labels: ls, Policy: pol, T: k * step, V: float64(k)}
		}
		if _, err := db.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	if n := len(db.Blocks()); n < 5 {
		t.Errorf("got %d blocks, want several", n)
	}
}
