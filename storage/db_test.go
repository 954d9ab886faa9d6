package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

var (
	p10s = policy.Policy{Resolution: 10 * time.Second, Retention: 48 * time.Hour}
	p1m  = policy.Policy{Resolution: time.Minute, Retention: 40 * 24 * time.Hour}
)

const hour = int64(time.Hour / time.Millisecond)

func openTest(t testing.TB, dir string, o Options) *DB {
	t.Helper()
	o.NoSync, o.NoBackground = true, true
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type tp struct {
	t int64
	v float64
}

// read returns the points of every series matching ms, by labels.
func read(t testing.TB, db *DB, mint, maxt int64, ms ...*labels.Matcher) map[string][]tp {
	t.Helper()
	q, err := db.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, ms...)
	out := map[string][]tp{}
	var it promchunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var pts []tp
		for it.Next() != promchunkenc.ValNone {
			ts, v := it.At()
			pts = append(pts, tp{ts, v})
		}
		if err := it.Err(); err != nil {
			t.Fatalf("iterate %s: %v", s.Labels(), err)
		}
		out[s.Labels().String()] = pts
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func name(n string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, "__name__", n) }

func pt(ls labels.Labels, p policy.Policy, t int64, v float64) Point {
	return Point{Labels: ls, Policy: p, T: t, V: v}
}

// TestAppendSemantics: order, duplicates and overwrites as documented on
// Append, in the head and after a reopen.
func TestAppendSemantics(t *testing.T) {
	a := labels.FromStrings("__name__", "x", "k", "a")
	for _, tc := range []struct {
		name    string
		batches [][]Point
		want    []tp
		stats   AppendStats
	}{
		{
			name:    "in order",
			batches: [][]Point{{pt(a, p10s, 10, 1), pt(a, p10s, 20, 2)}, {pt(a, p10s, 30, 3)}},
			want:    []tp{{10, 1}, {20, 2}, {30, 3}},
			stats:   AppendStats{Appended: 3},
		},
		{
			name:    "out of order is sorted",
			batches: [][]Point{{pt(a, p10s, 30, 3), pt(a, p10s, 10, 1)}, {pt(a, p10s, 20, 2), pt(a, p10s, 5, 0.5)}},
			want:    []tp{{5, 0.5}, {10, 1}, {20, 2}, {30, 3}},
			stats:   AppendStats{Appended: 4},
		},
		{
			name:    "same point again is a no-op",
			batches: [][]Point{{pt(a, p10s, 10, 1), pt(a, p10s, 20, 2)}, {pt(a, p10s, 10, 1), pt(a, p10s, 20, 2)}},
			want:    []tp{{10, 1}, {20, 2}},
			stats:   AppendStats{Appended: 2, Duplicates: 2},
		},
		{
			name:    "a different value wins and is counted",
			batches: [][]Point{{pt(a, p10s, 10, 1), pt(a, p10s, 20, 2)}, {pt(a, p10s, 10, 7), pt(a, p10s, 20, 8)}},
			want:    []tp{{10, 7}, {20, 8}},
			stats:   AppendStats{Appended: 2, Overwritten: 2},
		},
		{
			name:    "NaN payloads are compared bit for bit",
			batches: [][]Point{{pt(a, p10s, 10, math.NaN())}, {pt(a, p10s, 10, math.NaN())}},
			stats:   AppendStats{Appended: 1, Duplicates: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openTest(t, dir, Options{ChunkPoints: 2})
			var got AppendStats
			for i, b := range tc.batches {
				st, err := db.Append(b, []byte{byte(i)})
				if err != nil {
					t.Fatal(err)
				}
				got.Appended += st.Appended
				got.Duplicates += st.Duplicates
				got.Overwritten += st.Overwritten
			}
			if got != tc.stats {
				t.Errorf("got stats %+v, want %+v", got, tc.stats)
			}
			check := func(db *DB) {
				t.Helper()
				res := read(t, db, math.MinInt64, math.MaxInt64, name("x"))
				if tc.want != nil && !slices.Equal(res[a.String()], tc.want) {
					t.Errorf("got %v, want %v", res[a.String()], tc.want)
				}
			}
			check(db)
			db.Close()
			db2 := openTest(t, dir, Options{ChunkPoints: 2})
			check(db2)
			if pos := db2.Position(); !slices.Equal(pos, []byte{byte(len(tc.batches) - 1)}) {
				t.Errorf("got position %v after reopen, want [%d]", pos, len(tc.batches)-1)
			}
		})
	}
}

// TestCutCompactExpire: the head becomes blocks, blocks merge, old blocks
// go, the WAL shrinks; points stay readable throughout and after a reopen,
// and a point older than the head is refused.
func TestCutCompactExpire(t *testing.T) {
	dir := t.TempDir()
	pol := policy.Policy{Resolution: 10 * time.Minute, Retention: 30 * time.Hour}
	o := Options{BlockDuration: time.Hour, MaxBlockDuration: 9 * time.Hour, WALSegmentSize: 4096}
	db := openTest(t, dir, o)
	series := []labels.Labels{
		labels.FromStrings("__name__", "m", "svc", "a"),
		labels.FromStrings("__name__", "m", "svc", "b"),
	}
	want := map[string][]tp{}
	step := int64(10 * time.Minute / time.Millisecond)
	end := 40 * hour
	for ts := int64(0); ts < end; ts += step {
		var batch []Point
		for i, ls := range series {
			if i == 1 && ts >= 20*hour {
				continue // b stops: its series leaves the head
			}
			v := float64(ts/step) + float64(i)/10
			batch = append(batch, pt(ls, pol, ts, v))
			want[ls.String()] = append(want[ls.String()], tp{ts, v})
		}
		if _, err := db.Append(batch, []byte(fmt.Sprint(ts))); err != nil {
			t.Fatal(err)
		}
		if ts%(3*hour) == 0 {
			if err := db.Compact(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	// Retention is 30h back from the newest point: blocks ending at or
	// before 10h are gone.
	cutoff := end - step - 30*hour
	for k, pts := range want {
		want[k] = slices.DeleteFunc(pts, func(p tp) bool { return p.t < floorDiv(cutoff, 9*hour)*9*hour })
	}
	infos := db.Blocks()
	if len(infos) == 0 {
		t.Fatal("no blocks")
	}
	var spans []int64
	for _, b := range infos {
		spans = append(spans, (b.MaxTime-b.MinTime)/hour)
		if b.MaxTime <= cutoff {
			t.Errorf("block %s [%d, %d) outlived the retention cutoff %d", b.Dir, b.MinTime, b.MaxTime, cutoff)
		}
	}
	if !slices.Contains(spans, 9) {
		t.Errorf("block spans %v: no block compacted to 9h", spans)
	}
	check := func(db *DB) {
		t.Helper()
		got := read(t, db, math.MinInt64, math.MaxInt64, name("m"))
		for _, ls := range series {
			g, w := got[ls.String()], want[ls.String()]
			// What retention removed depends on block boundaries: compare
			// from the first point kept.
			if len(g) == 0 || len(g) > len(w) || !slices.Equal(g, w[len(w)-len(g):]) {
				t.Fatalf("%s: got %d points from %v, want the tail of %d points from %v", ls, len(g), first(g), len(w), first(w))
			}
			if g[0].t > cutoff+9*hour {
				t.Errorf("%s: data from %d on only, retention cutoff is %d", ls, g[0].t, cutoff)
			}
		}
	}
	check(db)
	if _, err := db.Append([]Point{pt(series[0], pol, 2*hour, 1)}, []byte("old")); !errors.Is(err, ErrTooOld) {
		t.Fatalf("got %v appending a point before the head, want ErrTooOld", err)
	} else {
		t.Log(err)
	}
	first, last, _ := db.wal.Segments()
	if last-first > 8 {
		t.Errorf("WAL has segments %d to %d: not truncated", first, last)
	}
	db.Close()
	db2 := openTest(t, dir, o)
	check(db2)
	st := db2.Startup()
	t.Log(st)
	if string(st.Position) != fmt.Sprint(end-step) && string(st.Position) != "old" {
		t.Errorf("got position %q, want %q", st.Position, fmt.Sprint(end-step))
	}
}

func first(p []tp) any {
	if len(p) == 0 {
		return nil
	}
	return p[0]
}

// TestPolicies: the same labels under two policies are two series; a query
// reads the finest policy whose retention covers its start, and __policy__
// picks one.
func TestPolicies(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{})
	ls := labels.FromStrings("__name__", "lat")
	now := int64(100 * 24 * hour)
	var batch []Point
	for ts := now - 10*24*hour; ts <= now; ts += 60_000 {
		batch = append(batch, pt(ls, p1m, ts, 1))
		if ts >= now-24*hour {
			batch = append(batch, pt(ls, p10s, ts, 2))
		}
	}
	if _, err := db.Append(batch, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mint int64
		ms   []*labels.Matcher
		want float64
	}{
		{mint: now - hour, want: 2},
		{mint: now - 5*24*hour, want: 1},
		{mint: now - hour, ms: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, PolicyLabel, "1m:40d")}, want: 1},
	} {
		got := read(t, db, tc.mint, now, append(tc.ms, name("lat"))...)
		if len(got) != 1 || got[ls.String()][0].v != tc.want {
			t.Errorf("from %d %v: got %v, want values %g", tc.mint, tc.ms, got, tc.want)
		}
	}
}

// TestExemplars: exemplars come back through the exemplar querier.
func TestExemplars(t *testing.T) {
	db := openTest(t, t.TempDir(), Options{})
	ls := labels.FromStrings("__name__", "lat", "quantile", "0.99")
	ex := &chunkenc.Exemplar{TraceID: [16]byte{0xab, 1}, Value: 0.25, TimestampMs: 9_000}
	if _, err := db.Append([]Point{{Labels: ls, Policy: p10s, T: 10_000, V: 0.25, Exemplar: ex}, pt(ls, p10s, 20_000, 0.3)}, nil); err != nil {
		t.Fatal(err)
	}
	eq, err := db.ExemplarQuerier(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eq.Select(0, 10_000, []*labels.Matcher{name("lat")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Exemplars) != 1 {
		t.Fatalf("got %v, want one exemplar", res)
	}
	e := res[0].Exemplars[0]
	if e.Labels.Get(TraceIDLabel) != "ab010000000000000000000000000000" || e.Value != 0.25 || e.Ts != 9_000 {
		t.Errorf("got %v, want trace ab01…, value 0.25 at 9000", e)
	}
}

// TestCorruptBlock: a damaged block is set aside at Open, a damaged chunk
// fails the read that meets it; neither returns wrong values.
func TestCorruptBlock(t *testing.T) {
	dir := t.TempDir()
	o := Options{BlockDuration: time.Hour, MaxBlockDuration: time.Hour}
	db := openTest(t, dir, o)
	ls := labels.FromStrings("__name__", "m")
	for ts := int64(0); ts < 4*hour; ts += 60_000 {
		if _, err := db.Append([]Point{pt(ls, p1m, ts, float64(ts))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	infos := db.Blocks()
	if len(infos) < 2 {
		t.Fatalf("got %d blocks, want 2", len(infos))
	}
	db.Close()

	// Flip a byte inside a chunk of the first block: Open does not read
	// chunks, the query does and fails.
	chunks := filepath.Join(infos[0].Dir, "chunks")
	b, err := os.ReadFile(chunks)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(chunks, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Truncate the index of the second: Open sets it aside.
	idx := filepath.Join(infos[1].Dir, "index")
	if err := os.Truncate(idx, 40); err != nil {
		t.Fatal(err)
	}
	db2 := openTest(t, dir, o)
	st := db2.Startup()
	if len(st.SetAside) != 1 || st.SetAside[0].Path != infos[1].Dir {
		t.Fatalf("set aside %v, want %s", st.SetAside, infos[1].Dir)
	}
	t.Log(st.SetAside[0].Err)
	q, _ := db2.Querier(0, 4*hour)
	ss := q.Select(context.Background(), true, nil, name("m"))
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != promchunkenc.ValNone {
			ts, v := it.At()
			if float64(ts) != v {
				t.Fatalf("wrong value %g at %d", v, ts)
			}
		}
		if it.Err() == nil {
			t.Fatal("no error reading a corrupt chunk")
		}
		t.Log(it.Err())
	}
}

// TestReopenAfterTruncation: after the WAL lost the segments that first
// defined the head's series, a reopen still replays every head point, and
// the head's index finds them with several matchers.
func TestReopenAfterTruncation(t *testing.T) {
	dir := t.TempDir()
	o := Options{BlockDuration: time.Hour, MaxBlockDuration: time.Hour, WALSegmentSize: 1024}
	db := openTest(t, dir, o)
	var series []labels.Labels
	for i := range 8 {
		series = append(series, labels.FromStrings("__name__", "m", "svc", fmt.Sprint(i%2), "i", fmt.Sprint(i)))
	}
	want := map[string][]tp{}
	for ts := int64(0); ts < 3*hour; ts += 10_000 {
		var batch []Point
		for i, ls := range series {
			batch = append(batch, pt(ls, p10s, ts, float64(ts+int64(i))))
			want[ls.String()] = append(want[ls.String()], tp{ts, float64(ts + int64(i))})
		}
		if _, err := db.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
		if ts%(hour/2) == 0 {
			if err := db.Compact(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := db.wal.Segments(); first == 0 {
		t.Fatal("the WAL was not truncated")
	}
	db.Close()
	db2 := openTest(t, dir, o)
	t.Log(db2.Startup())
	got := read(t, db2, math.MinInt64, math.MaxInt64, name("m"), labels.MustNewMatcher(labels.MatchEqual, "svc", "1"))
	if len(got) != 4 {
		t.Fatalf("got %d series, want 4", len(got))
	}
	for k, pts := range got {
		if !slices.Equal(pts, want[k]) {
			t.Errorf("%s: got %d points, want %d", k, len(pts), len(want[k]))
		}
	}
}
