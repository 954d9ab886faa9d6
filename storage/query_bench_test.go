package storage_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/internal/modroot"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// The query benchmark's data set: 100,000 series of a counter
// x{service, instance, route} (100 services of 100 instances serving 10
// routes), one day at 10s, written as the flush path writes it (a batch per
// 10s window) with the production block duration, so that it ends as 2h
// blocks plus a head of the last 2h. Building it takes about 8 minutes, so
// the DB is kept under the repository's .cache/ and reused by later runs;
// the run that builds it needs a -timeout of 30m.
const (
	benchServices  = 100
	benchInstances = 100 // per service
	benchRoutes    = 10  // per instance
	benchSeries    = benchServices * benchInstances * benchRoutes
	benchPoints    = 24 * 360 // one day at 10s
	benchStart     = dataStart
	benchLast      = benchStart + (benchPoints-1)*scrapeMs // the newest point

	// benchDataVersion names the data set's generator in the cache key:
	// bump it when the data set changes.
	benchDataVersion = 1
)

var benchPolicy = policy.Policy{Resolution: 10 * time.Second, Retention: 2 * 24 * time.Hour}

// benchOptions: production geometry (2h blocks, 120-point chunks), no fsync,
// no background work: nothing changes the DB while it is measured.
var benchOptions = storage.Options{NoSync: true, NoBackground: true}

// BenchmarkQuerySumRate evaluates sum by (service) (rate(x[5m])) over the
// data set with the upstream PromQL engine: as a range query over the last
// hour at a 60s step (61 steps, read from the head), over an hour inside a
// block, and as an instant query at the newest point. points/op is what the
// engine read from the storage (its samples-read statistic).
func BenchmarkQuerySumRate(b *testing.B) {
	if testing.Short() {
		b.Skip("builds or opens a DB of 100k series over a day: not with -short")
	}
	db := benchDB(b)
	eng := newEngine()
	const expr = `sum by (service) (rate(x[5m]))`
	for _, c := range []struct {
		name       string
		start, end int64
		step       time.Duration
		steps      int
	}{
		{name: "range=1h/step=60s/head", start: benchLast - hourMs, end: benchLast, step: time.Minute, steps: 61},
		{name: "range=1h/step=60s/block", start: benchStart + 20*hourMs, end: benchStart + 21*hourMs, step: time.Minute, steps: 61},
		{name: "instant", start: benchLast, end: benchLast, steps: 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var read int64
			b.ReportAllocs()
			for b.Loop() {
				var qry promql.Query
				var err error
				if c.step == 0 {
					qry, err = eng.NewInstantQuery(ctx, db, nil, expr, time.UnixMilli(c.start))
				} else {
					qry, err = eng.NewRangeQuery(ctx, db, nil, expr, time.UnixMilli(c.start), time.UnixMilli(c.end), c.step)
				}
				if err != nil {
					b.Fatal(err)
				}
				res := qry.Exec(ctx)
				if err := checkSumRate(res, c.steps); err != nil {
					b.Fatal(err)
				}
				read = qry.Stats().Samples.SamplesRead
				qry.Close()
			}
			b.ReportMetric(float64(read), "points/op")
		})
	}
}

// checkSumRate requires one series per service with a value at every step.
func checkSumRate(res *promql.Result, steps int) error {
	if res.Err != nil {
		return res.Err
	}
	switch v := res.Value.(type) {
	case promql.Matrix:
		if len(v) != benchServices {
			return fmt.Errorf("got %d series, want %d", len(v), benchServices)
		}
		for _, s := range v {
			if len(s.Floats) != steps {
				return fmt.Errorf("%s: got %d points, want %d", s.Metric, len(s.Floats), steps)
			}
		}
	case promql.Vector:
		if len(v) != benchServices {
			return fmt.Errorf("got %d series, want %d", len(v), benchServices)
		}
	default:
		return fmt.Errorf("got a %s", res.Value.Type())
	}
	return nil
}

// The benchmark's DB is opened once per process: opening replays two
// hours of 100k series from the WAL. It stays open until the process ends
// (nothing writes to it; the lock goes with the process).
var benchCache struct {
	mu  sync.Mutex
	db  *storage.DB
	err error
}

func benchDB(b *testing.B) *storage.DB {
	b.Helper()
	benchCache.mu.Lock()
	defer benchCache.mu.Unlock()
	if benchCache.db == nil && benchCache.err == nil {
		benchCache.db, benchCache.err = openBenchDB(b)
	}
	if benchCache.err != nil {
		b.Fatal(benchCache.err)
	}
	return benchCache.db
}

// benchDir is the data set's directory under the repository's .cache/,
// named by its parameters, the generator's version and the chunk format's.
func benchDir() (string, error) {
	root, err := modroot.Find()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("query-bench-v%d-chunks-v%d-%dseries-%dpoints-10s", benchDataVersion, chunkenc.Version, benchSeries, benchPoints)
	return filepath.Join(root, ".cache", "storage", name), nil
}

// openBenchDB opens the cached data set, building it first if it is
// missing, does not open or does not hold the whole data set.
func openBenchDB(b *testing.B) (*storage.DB, error) {
	dir, err := benchDir()
	if err != nil {
		return nil, fmt.Errorf("find the cache: %w", err)
	}
	start := time.Now()
	if _, err = os.Stat(dir); err == nil {
		var db *storage.DB
		db, err = storage.Open(dir, benchOptions)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			return nil, err // in use by another process: leave it alone
		case err == nil:
			if err = checkBenchDB(db); err == nil {
				b.Logf("opened %s in %s: %s", dir, time.Since(start).Round(time.Millisecond), db.Startup())
				return db, nil
			}
			db.Close()
		}
	}
	if d := testTimeout(); d > 0 && d < buildTimeout {
		return nil, fmt.Errorf("the data set is not in %s (%v) and building it takes about 8 minutes: "+
			"run once with -timeout %s, later runs reuse it", dir, err, buildTimeout)
	}
	b.Logf("building the data set: %v", err)
	if err := buildBenchDB(b, dir); err != nil {
		return nil, err
	}
	start = time.Now()
	db, err := storage.Open(dir, benchOptions)
	if err != nil {
		return nil, err
	}
	if err := checkBenchDB(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("the data set just built: %w", err)
	}
	b.Logf("opened %s in %s: %s", dir, time.Since(start).Round(time.Millisecond), db.Startup())
	return db, nil
}

// buildTimeout is the least -timeout a run that builds the data set needs:
// the build takes about 8 minutes, opening it a minute, the benchmark a few.
const buildTimeout = 30 * time.Minute

// testTimeout is the -timeout of the run, 0 for none.
func testTimeout() time.Duration {
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok {
				return d
			}
		}
	}
	return 0
}

// checkBenchDB requires the whole data set, as 2h blocks and a head.
func checkBenchDB(db *storage.DB) error {
	st := db.Stats()
	if len(st) != 1 {
		return fmt.Errorf("got %d policies, want 1", len(st))
	}
	s := st[0]
	if s.Policy != benchPolicy.String() || s.MinTime != benchStart || s.MaxTime != benchLast ||
		s.HeadPoints+s.BlockPoints != benchSeries*benchPoints || s.HeadSeries != benchSeries || s.Blocks == 0 {
		return fmt.Errorf("got %+v, want %d series of %d points from %d to %d in blocks and a head",
			s, benchSeries, benchPoints, benchStart, benchLast)
	}
	for _, bl := range db.Blocks() {
		if bl.MaxTime-bl.MinTime != 2*hourMs {
			return fmt.Errorf("block %s spans [%d, %d), want 2h blocks", bl.Dir, bl.MinTime, bl.MaxTime)
		}
	}
	return nil
}

// buildBenchDB writes the data set into a new directory beside dir and
// renames it into place once complete, so that an interrupted build is
// never taken for a data set.
func buildBenchDB(b *testing.B, dir string) error {
	start := time.Now()
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	db, err := storage.Open(tmp, benchOptions)
	if err != nil {
		return err
	}
	defer db.Close()

	// A generator goroutine fills one batch while the other is appended.
	done := make(chan struct{})
	defer close(done)
	free := make(chan []storage.Point, 2)
	full := make(chan []storage.Point, 1)
	for range 2 {
		free <- make([]storage.Point, benchSeries)
	}
	go generateBench(done, free, full)

	k := 0
	for batch := range full {
		if _, err := db.Append(batch, nil); err != nil {
			return fmt.Errorf("append window %d: %w", k, err)
		}
		free <- batch
		k++
		if k%360 == 0 { // an hour of data
			if err := db.Compact(); err != nil {
				return err
			}
		}
		if k%(6*360) == 0 {
			b.Logf("built %dh of data in %s", k/360, time.Since(start).Round(time.Second))
		}
	}
	if err := db.Compact(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	b.Logf("built %d series × %d points in %s", benchSeries, benchPoints, time.Since(start).Round(time.Second))
	return nil
}

// generateBench sends the batches of the data set, one per 10s window, in
// the buffers it takes from free, until done. Each series counts requests
// at its own rate (exponentially distributed, 2 per second on average),
// with jitter; one series in 25 restarts (its counter resets) once a day.
func generateBench(done <-chan struct{}, free <-chan []storage.Point, full chan<- []storage.Point) {
	defer close(full)
	rng := rand.New(rand.NewPCG(100_000, 8_640))
	series := make([]labels.Labels, 0, benchSeries)
	for s := range benchServices {
		for i := range benchInstances {
			for r := range benchRoutes {
				series = append(series, labels.FromStrings(
					"__name__", "x",
					"service", fmt.Sprintf("svc-%02d", s),
					"instance", fmt.Sprintf("10.%d.%d.%d:8080", s, i/10, i%10),
					"route", fmt.Sprintf("/api/v1/route-%d", r),
				))
			}
		}
	}
	rates := make([]float64, benchSeries) // requests per 10s
	values := make([]float64, benchSeries)
	resets := make([]int, benchSeries) // the window of the reset, -1 for none
	for i := range rates {
		rates[i] = rng.ExpFloat64() * 20
		values[i] = float64(rng.IntN(1_000_000))
		resets[i] = -1
		if rng.IntN(25) == 0 {
			resets[i] = rng.IntN(benchPoints)
		}
	}
	for k := range benchPoints {
		var batch []storage.Point
		select {
		case batch = <-free:
		case <-done:
			return
		}
		t := benchStart + int64(k)*scrapeMs
		for i := range batch {
			if resets[i] == k {
				values[i] = 0
			}
			values[i] += float64(int(rates[i] * (0.5 + rng.Float64())))
			batch[i] = storage.Point{Labels: series[i], Policy: benchPolicy, T: t, V: values[i]}
		}
		select {
		case full <- batch:
		case <-done:
			return
		}
	}
}
