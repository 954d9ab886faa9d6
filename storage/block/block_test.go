package block

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
	"github.com/tumblemetrics/tumble/storage/index"
)

type point struct {
	t int64
	v float64
}

// testBlock writes a block of 30 series, two chunks each, and returns its
// directory and the points of each series by its labels' string.
func testBlock(t *testing.T) (string, map[string][]point) {
	t.Helper()
	want := map[string][]point{}
	var series []Series
	for i := range 30 {
		ls := labels.FromStrings("__name__", "latency", "service", fmt.Sprintf("svc%d", i%3), "route", fmt.Sprintf("/r%d", i))
		s := Series{Labels: ls}
		for c := range 2 {
			a := chunkenc.NewAppender()
			for k := range 50 {
				p := point{t: int64(c*50+k) * 10_000, v: float64(i) + float64(k)/100}
				if err := a.Append(p.t, p.v, nil); err != nil {
					t.Fatal(err)
				}
				want[ls.String()] = append(want[ls.String()], p)
			}
			s.Chunks = append(s.Chunks, Chunk{MinTime: a.MinTime(), MaxTime: a.MaxTime(), NumPoints: a.NumPoints(), Bytes: a.Bytes()})
		}
		series = append(series, s)
	}
	dir := t.TempDir()
	if err := Write(dir, "b1", Meta{MinTime: 0, MaxTime: 1_000_000, Policy: "10s:2d"}, series); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "b1"), want
}

func TestWriteOpenRead(t *testing.T) {
	dir, want := testBlock(t)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Meta.NumSeries != 30 || b.Meta.NumChunks != 60 || b.Meta.NumPoints != 3000 || b.Meta.Policy != "10s:2d" {
		t.Errorf("meta: got %+v", b.Meta)
	}
	refs, err := index.Select(b.Index, labels.MustNewMatcher(labels.MatchEqual, "service", "svc1"))
	if err != nil || len(refs) != 10 {
		t.Fatalf("select svc1: got %d series, %v; want 10", len(refs), err)
	}
	for _, ref := range refs {
		ls, cms, err := b.Series(ref)
		if err != nil {
			t.Fatal(err)
		}
		var got []point
		var it *chunkenc.Iterator
		for _, cm := range cms {
			cb, err := b.Chunk(cm.Ref)
			if err != nil {
				t.Fatal(err)
			}
			c, err := chunkenc.Decode(cb)
			if err != nil {
				t.Fatal(err)
			}
			it = c.Iterator(it)
			for it.Next() {
				ts, v := it.At()
				got = append(got, point{ts, v})
			}
			if it.Err() != nil || c.NumPoints() != cm.NumPoints {
				t.Fatalf("chunk %+v: %v, %d points", cm, it.Err(), c.NumPoints())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[ls.String()]) {
			t.Errorf("%s: got %d points, want %d", ls, len(got), len(want[ls.String()]))
		}
	}
	if n, err := b.Verify(); n != 60 || err != nil {
		t.Errorf("Verify: got %d, %v; want 60 chunks", n, err)
	}
	if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary directory is left: %v", err)
	}
}

// TestCorruptBlock: damage to any file of a block is reported with the file
// and, for the index and the chunks, the offset.
func TestCorruptBlock(t *testing.T) {
	for _, tc := range []struct {
		file   string
		damage func(b []byte) []byte
		verify bool // only Verify can see it
	}{
		{IndexFile, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, false},
		{IndexFile, func(b []byte) []byte { return b[:len(b)-3] }, false},
		{ChunksFile, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, true},
		{ChunksFile, func(b []byte) []byte { return b[:2] }, false},
		{MetaFile, func(b []byte) []byte { return b[:len(b)/2] }, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir, _ := testBlock(t)
			path := filepath.Join(dir, tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := Open(dir)
			if tc.verify {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				_, err = b.Verify()
				var ce *CorruptionError
				if !errors.As(err, &ce) || ce.File != path || ce.Offset == 0 {
					t.Fatalf("verify: got %v, want a CorruptionError in %s with an offset", err, path)
				}
				return
			}
			if err == nil {
				t.Fatal("a damaged block opened")
			}
		})
	}
}
