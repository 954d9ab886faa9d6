package replica

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/loadgen"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/storage"
)

// workload returns the shard records that a router would write for a
// minute and a half of the generated fleet under the example rules, with a
// watermark record every 200 samples. With stateless set, it keeps only the
// targets whose windows are independent of each other: no cumulative input
// (a baseline carried from window to window) and no transform.
func workload(t *testing.T, stateless bool) [][]byte {
	t.Helper()
	rs, err := rules.ParseFile("../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := rules.NewMatcher(rs, rules.MatcherOptions{})
	g := loadgen.New(loadgen.Config{Seed: 3})
	var recs [][]byte
	var batch []sample.Sample
	wm := int64(math.MinInt64)
	n := 0
	for range 90 {
		batch = g.Tick(batch[:0])
		for i := range batch {
			s := &batch[i]
			res := m.Match(s)
			for _, tg := range res.Targets {
				if stateless && (s.Type == sample.Cumulative || tg.Pre != aggregator.NoTransform || tg.Post != aggregator.NoTransform) {
					continue
				}
				recs = append(recs, shard.AppendSample(nil, tg, res.SeriesID, s))
			}
			wm = max(wm, s.TimestampMs)
			if n++; n%200 == 0 {
				recs = append(recs, shard.AppendWatermark(nil, "router-a", wm))
			}
		}
	}
	// The end of the input: a watermark far ahead closes every window.
	recs = append(recs, shard.AppendWatermark(nil, "router-a", wm+3600_000))
	return recs
}

type pointKey struct {
	series string
	t      int64
}

// dump reads every point of db.
func dump(t *testing.T, db *storage.DB) map[pointKey]float64 {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	out := map[pointKey]float64{}
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != promchunkenc.ValNone {
			ts, v := it.At()
			out[pointKey{ss.At().Labels().String(), ts}] = v
		}
	}
	return out
}

func open(t *testing.T, dir string) (*storage.DB, *Replica) {
	t.Helper()
	db, err := storage.Open(dir, storage.Options{NoSync: true, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Shard: 0, DB: db, CheckpointEvery: 500})
	if err != nil {
		t.Fatal(err)
	}
	return db, r
}

// TestRestartExactlyOnce: a replica restarted from its storage any number
// of times, reading again from the resume offset, stores the same points as
// one that never stopped: no window lost, none counted twice.
//
// Series that carry state from window to window (cumulative baselines,
// running totals) are left out: a restart loses that state until the
// replica checkpoints it with its position.
func TestRestartExactlyOnce(t *testing.T) {
	recs := workload(t, true)
	db, r := open(t, t.TempDir())
	for off, b := range recs {
		if err := r.Apply(int64(off), b); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, db)
	db.Close()
	if len(want) == 0 {
		t.Fatal("no points")
	}
	t.Logf("%d records, %d points, replica stats %+v", len(recs), len(want), r.Stats())

	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	db, r = open(t, dir)
	restarts := 0
	crashedAt := int64(0) // crash again only past the last crash
	for off := r.Resume(); off < int64(len(recs)); off++ {
		if err := r.Apply(off, recs[off]); err != nil {
			t.Fatal(err)
		}
		if off > crashedAt && rng.IntN(len(recs)/8) == 0 {
			crashedAt = off
			// A crash: the aggregator's state is gone; the storage has
			// what was flushed with its position.
			db.Close()
			db, r = open(t, dir)
			off = r.Resume() - 1
			restarts++
		}
	}
	got := dump(t, db)
	db.Close()
	t.Logf("%d restarts, last replica stats %+v", restarts, r.Stats())
	if restarts < 5 {
		t.Fatalf("only %d restarts", restarts)
	}
	bad := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Float64bits(g) != math.Float64bits(v) {
			if bad++; bad <= 10 {
				t.Errorf("%s at %d: got %v (present %v), want %v", k.series, k.t, g, ok, v)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s at %d: not in the uninterrupted run", k.series, k.t)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d points differ", bad, len(want))
	}
}
