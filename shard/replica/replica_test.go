package replica

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/internal/loadgen"
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
	rs, err := rules.ParseFile("../../testdata/rules/example.yaml")
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
				recs = append(recs, partitionsAt(wm))
			}
		}
	}
	// The end of the input: a watermark far ahead closes every window.
	recs = append(recs, partitionsAt(wm+3600_000))
	return recs
}

// partitionsAt is the watermark record of a router that read both
// partitions of its raw topic up to wm.
func partitionsAt(wm int64) []byte {
	return shard.AppendPartitions(nil, "router-a", []shard.RawTopic{{Name: "raw", Partitions: 2}},
		[]shard.PartitionWatermark{{Topic: "raw", Partition: 0, Watermark: wm}, {Topic: "raw", Partition: 1, Watermark: wm}})
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

func open(t *testing.T, dir string, onWindows ...func(int64, []windowlog.Window)) (*storage.DB, *Replica) {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "tsdb"), storage.Options{NoSync: true, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Shard: 0, DB: db, Dir: filepath.Join(dir, "checkpoints"), CheckpointInterval: 5 * time.Second}
	if len(onWindows) > 0 {
		opts.OnWindows = onWindows[0]
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db, r
}

// TestRestartExactlyOnce: a replica restarted from its storage and its
// checkpoint any number of times, reading again from the checkpoint's
// offset, stores the same points as one that never stopped: no window
// lost, none counted twice, and the series that carry state from window to
// window (cumulative baselines, running totals) as if nothing happened.
func TestRestartExactlyOnce(t *testing.T) {
	recs := workload(t, false)
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
		if off > crashedAt && rng.IntN(len(recs)/30) == 0 {
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

// TestDamagedCheckpoint: a replica refuses to start from a checkpoint that
// is missing or damaged, naming the file, rather than start from a wrong
// state.
func TestDamagedCheckpoint(t *testing.T) {
	recs := workload(t, false)
	for _, tc := range []struct {
		name   string
		damage func(path string) error
		want   string
	}{
		{"missing", os.Remove, "no such file"},
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x10
			return os.WriteFile(p, b, 0o644)
		}, "checksum"},
		{"truncated", func(p string) error { return os.Truncate(p, 3) }, "not a checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db, r := open(t, dir)
			for off, b := range recs[:len(recs)/2] {
				if err := r.Apply(int64(off), b); err != nil {
					t.Fatal(err)
				}
			}
			seq := r.Stats().Checkpoint
			db.Close()
			if seq == 0 {
				t.Fatal("no checkpoint written")
			}
			path := filepath.Join(dir, "checkpoints", checkpointName(seq))
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			db, err := storage.Open(filepath.Join(dir, "tsdb"), storage.Options{NoSync: true, NoBackground: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = New(Options{DB: db, Dir: filepath.Join(dir, "checkpoints")})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s: %s", err, path, tc.want)
			}
		})
	}
}

func TestPosition(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want Position
		err  string
	}{
		{"empty is the start", nil, Position{Watermark: math.MinInt64}, ""},
		{"round trip", must(Position{Checkpoint: 7, Next: 1234, Watermark: -5}.AppendBinary(nil)), Position{Checkpoint: 7, Next: 1234, Watermark: -5}, ""},
		{"first version", []byte{1, 2, 4, 6}, Position{}, "unknown version 1"},
		{"trailing byte", append(must(Position{Checkpoint: 1}.AppendBinary(nil)), 0), Position{}, "malformed"},
		{"truncated", []byte{2, 1}, Position{}, "bad varint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePosition(tc.b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzCheckpoint: no file makes the checkpoint decoder panic, and what it
// accepts survives encoding and decoding again.
func FuzzCheckpoint(f *testing.F) {
	f.Add((&checkpoint{seq: 3, offset: 99, wms: map[string]int64{"router-a": 5, "b": -1}, input: []byte{1, 2}, output: []byte{3}}).marshal(), false)
	f.Add((&checkpoint{seq: 4, offset: 7, wms: map[string]int64{}, parts: map[rawPartition]int64{{"raw", 0}: 5, {"raw", 3}: math.MinInt64, {"other", 1}: 9},
		input: []byte{1}, output: []byte{2}}).marshal(), true)
	f.Add([]byte(checkpointMagic), false)
	// With seal, the last four bytes are replaced by the checksum of the
	// rest, so that mutations of the body reach the decoder behind it.
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		if seal && len(b) >= 4 {
			body := b[:len(b)-4]
			b = binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, castagnoli))
		}
		c, err := parseCheckpoint(b)
		if err != nil {
			return
		}
		again, err := parseCheckpoint(c.marshal())
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("read %+v, re-read %+v (%v)", c, again, err)
		}
	})
}

// TestWindowRecords: the records of the windows a replica stores (what a
// leader emits to the window log) count every stored point, come in close
// order with the emitted watermark, and are the same, window for window,
// from a replica restarted many times as from one that never stopped.
func TestWindowRecords(t *testing.T) {
	recs := workload(t, false)
	type key struct {
		policy string
		end    int64
	}
	collect := func(into map[key]windowlog.Window, emitted *int64) func(int64, []windowlog.Window) {
		return func(e int64, ws []windowlog.Window) {
			if e < *emitted {
				t.Fatalf("emitted watermark went back from %d to %d", *emitted, e)
			}
			*emitted = e
			for i, w := range ws {
				if w.CloseMs > e || i > 0 && w.CloseMs < ws[i-1].CloseMs {
					t.Fatalf("window %+v out of order or after the emitted watermark %d", w, e)
				}
				into[key{w.Policy, w.EndMs}] = w
			}
		}
	}
	want := map[key]windowlog.Window{}
	var emitted int64 = math.MinInt64
	db, r := open(t, t.TempDir(), collect(want, &emitted))
	for off, b := range recs {
		if err := r.Apply(int64(off), b); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	points := 0
	for _, w := range want {
		points += w.Points
	}
	if st := r.Stats(); uint64(points) != st.Points || len(want) == 0 {
		t.Fatalf("%d windows of %d points; the replica stored %d points", len(want), points, st.Points)
	}

	got := map[key]windowlog.Window{}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	restarts := 0
	crashedAt := int64(0) // crash again only past the last crash
	emitted = math.MinInt64
	db, r = open(t, dir, collect(got, &emitted))
	for off := r.Resume(); off < int64(len(recs)); off++ {
		if err := r.Apply(off, recs[off]); err != nil {
			t.Fatal(err)
		}
		if off > crashedAt && rng.IntN(len(recs)/20) == 0 {
			crashedAt = off
			db.Close()
			emitted = math.MinInt64
			db, r = open(t, dir, collect(got, &emitted))
			off = r.Resume() - 1
			restarts++
		}
	}
	db.Close()
	if restarts < 5 {
		t.Fatalf("only %d restarts", restarts)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("window %v: after %d restarts %+v (present %v), want %+v", k, restarts, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d windows after restarts, %d without", len(got), len(want))
	}
	selected := 0
	for _, w := range want {
		selected += len(w.Selections)
	}
	if selected == 0 {
		t.Error("no window selected a trace: the selections were not compared")
	}
	t.Logf("%d windows, %d selections, the same after %d restarts", len(want), selected, restarts)
}

// TestRouterLeft: the shard's watermark is the slowest router's; once that
// router says it has left, the others' watermark closes windows, and if it
// writes again, it is waited for again.
func TestRouterLeft(t *testing.T) {
	db, r := open(t, t.TempDir())
	defer db.Close()
	const base = int64(1_767_225_600_000)
	off := int64(0)
	apply := func(router string, wm int64) {
		t.Helper()
		if err := r.Apply(off, shard.AppendWatermark(nil, router, wm)); err != nil {
			t.Fatal(err)
		}
		off++
	}
	apply("a", base+60_000)
	apply("b", base+10_000)
	if got := r.watermark(); got != base+10_000 {
		t.Fatalf("two routers: watermark %d, want b's %d", got-base, 10_000)
	}
	apply("b", shard.RouterLeft)
	if got := r.watermark(); got != base+60_000 {
		t.Fatalf("b left: watermark %d, want a's %d", got-base, 60_000)
	}
	apply("b", base+70_000)
	apply("a", base+80_000)
	if got := r.watermark(); got != base+70_000 {
		t.Fatalf("b back: watermark %d, want b's %d", got-base, 70_000)
	}
}

// TestPartitionWatermarks: the shard's watermark is the smallest over the
// raw partitions, whichever router told of each; a partition a topic's
// count names but no router told of holds it; a partition moved to another
// router keeps its watermark until the new owner moves it on; a topic no
// router reads any more stops holding it; and a replica restarted from its
// checkpoint, reading the records after it again, is where it was.
func TestPartitionWatermarks(t *testing.T) {
	dir := t.TempDir()
	db, r := open(t, dir)
	const base = int64(1_767_225_600_000)
	var log [][]byte
	raw3 := []shard.RawTopic{{Name: "raw", Partitions: 3}}
	pw := func(topic string, p int32, wm int64) shard.PartitionWatermark {
		return shard.PartitionWatermark{Topic: topic, Partition: p, Watermark: wm}
	}
	apply := func(router string, topics []shard.RawTopic, wms ...shard.PartitionWatermark) {
		t.Helper()
		log = append(log, shard.AppendPartitions(nil, router, topics, wms))
		if err := r.Apply(int64(len(log)-1), log[len(log)-1]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, want int64) {
		t.Helper()
		if got := r.watermark(); got != want {
			t.Fatalf("%s: watermark %d, want %d", what, got-base, want-base)
		}
	}
	apply("a", raw3, pw("raw", 0, base+60_000))
	check("partitions 1 and 2 not told of", shard.NoWatermark)
	apply("b", raw3, pw("raw", 1, base+10_000), pw("raw", 2, shard.NoWatermark))
	check("partition 2 not known yet", shard.NoWatermark)
	apply("b", raw3, pw("raw", 1, base+20_000), pw("raw", 2, base+30_000))
	check("three partitions", base+20_000)
	// Partition 1 moves from b to a, which starts it over from what b
	// committed: nothing moves back.
	apply("a", raw3, pw("raw", 0, base+70_000), pw("raw", 1, shard.NoWatermark))
	check("partition 1 moved", base+20_000)
	apply("a", raw3, pw("raw", 0, base+70_000), pw("raw", 1, base+15_000))
	check("the new owner behind the old", base+20_000)
	for i := range int64(10) { // enough to take and write a checkpoint
		apply("a", raw3, pw("raw", 0, base+80_000+i*10_000), pw("raw", 1, base+50_000+i*10_000))
	}
	check("partition 1 moved on", base+30_000)
	apply("b", append(raw3, shard.RawTopic{Name: "new", Partitions: 1}), pw("raw", 2, base+40_000))
	check("a new topic's partition not told of", shard.NoWatermark)

	db.Close()
	db, r = open(t, dir)
	defer db.Close()
	if r.Resume() == 0 {
		t.Fatal("no checkpoint was written")
	}
	if len(r.parts) != 3 {
		t.Fatalf("restored %v, want the watermarks of the three raw partitions", r.parts)
	}
	for off := r.Resume(); off < int64(len(log)); off++ {
		if err := r.Apply(off, log[off]); err != nil {
			t.Fatal(err)
		}
	}
	check("restarted", shard.NoWatermark)
	apply("b", raw3, pw("raw", 2, base+45_000))
	check("the new topic is no longer read", base+45_000)
}

// TestLateByRule: a sample that comes after its window closed is counted
// under the rule of its target and the reason, per policy, as the
// aggregator's total counts it; a target of a record written before records
// named rules is counted under no rule.
func TestLateByRule(t *testing.T) {
	rs, err := rules.Parse("late.yaml", []byte(`
mappingRules:
  - name: keep latency
    filter: "__name__:latency"
    aggregations: [Max]
    storagePolicies: [{resolution: 10s, retention: 1d}, {resolution: 1m, retention: 2d}]
rollupRules:
  - name: latency by route
    filter: "__name__:latency"
    transforms:
      - rollup: {metricName: latency_by_route, groupBy: [route], aggregations: [Max]}
    storagePolicies: [{resolution: 10s, retention: 1d}]
`))
	if err != nil {
		t.Fatal(err)
	}
	m := rules.NewMatcher(rs, rules.MatcherOptions{})
	db, r := open(t, t.TempDir())
	defer db.Close()
	const base = int64(1_767_225_600_000) // a minute's start
	off := int64(0)
	apply := func(rec []byte) {
		t.Helper()
		if err := r.Apply(off, rec); err != nil {
			t.Fatal(err)
		}
		off++
	}
	send := func(ts int64) {
		t.Helper()
		s := sample.Sample{Name: "latency", Labels: sample.Labels{{Name: "pod", Value: "p1"}, {Name: "route", Value: "/pay"}}, Type: sample.Gauge, Value: 1, TimestampMs: ts}
		res := m.Match(&s)
		if len(res.Targets) != 2 {
			t.Fatalf("%d targets, want 2", len(res.Targets))
		}
		var b shard.Batch
		for _, tg := range res.Targets {
			b.Add(tg, res.SeriesID, &s)
		}
		apply(b.Bytes())
	}
	send(base + 1000)
	apply(partitionsAt(base + 20_000)) // the 10s window [0, 10s) closes; [0, 1m) is open
	if st := r.Stats(); st.Aggregator.Late != 0 || len(st.Late) != 0 {
		t.Fatalf("nothing late yet: got %d, %v", st.Aggregator.Late, st.Late)
	}
	send(base + 2000)
	// The same series from a router that names no rule.
	old := aggregator.NewTarget("latency", sample.Labels{{Name: "pod", Value: "p1"}, {Name: "route", Value: "/pay"}}, aggregator.SetOf(aggregator.Max),
		[]aggregator.Policy{{Resolution: 10 * time.Second, Retention: 24 * time.Hour}, {Resolution: time.Minute, Retention: 48 * time.Hour}},
		aggregator.NoTransform, aggregator.NoTransform)
	apply(shard.AppendSample(nil, old, 7, &sample.Sample{Type: sample.Gauge, Value: 2, TimestampMs: base + 3000}))

	r.publish()
	st := r.Published()
	want := map[LateKey]uint64{
		{"keep latency", aggregator.WindowClosed}:     1, // its 1m window is open
		{"latency by route", aggregator.WindowClosed}: 1,
		{"", aggregator.WindowClosed}:                 1,
	}
	if !reflect.DeepEqual(st.Late, want) {
		t.Errorf("got %v, want %v", st.Late, want)
	}
	if st.Aggregator.Late != 3 {
		t.Errorf("Aggregator.Late: got %d, want 3, the sum by rule", st.Aggregator.Late)
	}
	// The published counts are a copy: the replica counts on apart.
	send(base + 4000)
	if got := st.Late[LateKey{"latency by route", aggregator.WindowClosed}]; got != 1 {
		t.Errorf("published count moved with the replica's: got %d, want 1", got)
	}
	if got := r.Stats().Late[LateKey{"latency by route", aggregator.WindowClosed}]; got != 2 {
		t.Errorf("got %d, want 2", got)
	}
}
