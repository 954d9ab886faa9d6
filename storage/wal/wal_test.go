package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pos encodes a batch number as a position.
func pos(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

// randomBatch returns batch i: position pos(i), up to maxRecords records of
// up to maxSize random bytes each (some empty).
func randomBatch(rng *rand.Rand, i, maxRecords, maxSize int) Batch {
	b := Batch{Position: pos(i), Records: make([][]byte, rng.IntN(maxRecords+1))}
	for j := range b.Records {
		r := make([]byte, rng.IntN(maxSize+1))
		for k := range r {
			r[k] = byte(rng.Uint32())
		}
		b.Records[j] = r
	}
	return b
}

func randomBatches(seed uint64, n, maxRecords, maxSize int) []Batch {
	rng := rand.New(rand.NewPCG(seed, 0))
	bs := make([]Batch, n)
	for i := range bs {
		bs[i] = randomBatch(rng, i+1, maxRecords, maxSize)
	}
	return bs
}

func cloneBatch(b Batch) Batch {
	c := Batch{Position: bytes.Clone(b.Position), Records: make([][]byte, len(b.Records))}
	for i, r := range b.Records {
		c.Records[i] = bytes.Clone(r)
	}
	return c
}

func equalBatch(a, b Batch) bool {
	return bytes.Equal(a.Position, b.Position) && slices.EqualFunc(a.Records, b.Records, bytes.Equal)
}

// frameSpan is where a logged batch's frame lies.
type frameSpan struct {
	seg        int
	start, end int64
}

// logAll logs bs and returns where each frame went.
func logAll(t testing.TB, w *WAL, bs []Batch) []frameSpan {
	t.Helper()
	spans := make([]frameSpan, len(bs))
	for i, b := range bs {
		if err := w.Log(b); err != nil {
			t.Fatalf("log batch %d: %v", i, err)
		}
		_, last, err := w.Segments()
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(segmentPath(w.Dir(), last))
		if err != nil {
			t.Fatal(err)
		}
		spans[i] = frameSpan{seg: last, start: fi.Size() - frameOverhead - batchSize(b), end: fi.Size()}
	}
	return spans
}

// replayAll replays w and returns copies of the batches and their segments.
func replayAll(t testing.TB, w *WAL) ([]Batch, []int, ReplayStats) {
	t.Helper()
	var got []Batch
	var segs []int
	st, err := w.Replay(func(seg int, b Batch) error {
		got = append(got, cloneBatch(b))
		segs = append(segs, seg)
		return nil
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got, segs, st
}

func mustOpen(t testing.TB, dir string, opts Options) *WAL {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// checkReplay replays w and checks it delivers exactly want.
func checkReplay(t testing.TB, w *WAL, want []Batch) ReplayStats {
	t.Helper()
	got, segs, st := replayAll(t, w)
	if len(got) != len(want) {
		t.Fatalf("replayed %d batches, want %d", len(got), len(want))
	}
	records := 0
	for i := range got {
		if !equalBatch(got[i], want[i]) {
			t.Fatalf("batch %d: got %d records at position %x, want %d records at position %x",
				i, len(got[i].Records), got[i].Position, len(want[i].Records), want[i].Position)
		}
		records += len(want[i].Records)
	}
	if !slices.IsSorted(segs) {
		t.Errorf("segments of the batches: got %v, want non-decreasing", segs)
	}
	if st.Batches != len(want) || st.Records != records {
		t.Errorf("stats: got %d batches, %d records, want %d, %d", st.Batches, st.Records, len(want), records)
	}
	if len(want) > 0 && !bytes.Equal(st.LastPosition, want[len(want)-1].Position) && len(want[len(want)-1].Position) > 0 {
		t.Errorf("LastPosition: got %x, want %x", st.LastPosition, want[len(want)-1].Position)
	}
	return st
}

func TestRoundTrip(t *testing.T) {
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name     string
		opts     Options
		batches  []Batch
		minSegs  int // at least this many segments after logging
		maxBatch bool
	}{
		{name: "no batches", batches: nil, minSegs: 1},
		{name: "empty batch", batches: []Batch{{}}, minSegs: 1},
		{name: "empty records, no position", batches: []Batch{
			{Records: [][]byte{{}, {}, nil}},
			{Records: [][]byte{{}}, Position: pos(2)},
			{Records: nil, Position: pos(3)},
		}, minSegs: 1},
		{name: "one batch", batches: randomBatches(1, 1, 10, 100), minSegs: 1},
		{name: "many batches, one segment", batches: randomBatches(2, 500, 8, 300), minSegs: 1},
		{name: "rotations", opts: Options{SegmentSize: 4 << 10}, batches: randomBatches(3, 300, 8, 300), minSegs: 20},
		{name: "batches larger than a segment", opts: Options{SegmentSize: 1 << 20}, batches: []Batch{
			{Records: [][]byte{big[:1<<20], big[1<<20:]}, Position: pos(1)},
			{Records: [][]byte{[]byte("small")}, Position: pos(2)},
			{Records: [][]byte{big}, Position: pos(3)},
			{Records: [][]byte{big[:10]}, Position: pos(4)},
		}, minSegs: 3},
		{name: "many records", batches: []Batch{{Records: slices.Repeat([][]byte{[]byte("r")}, 100_000), Position: pos(1)}}, minSegs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := mustOpen(t, dir, tc.opts)
			logAll(t, w, tc.batches)
			checkReplay(t, w, tc.batches)
			first, last, err := w.Segments()
			if err != nil {
				t.Fatal(err)
			}
			if n := last - first + 1; n < tc.minSegs {
				t.Errorf("got %d segments, want at least %d", n, tc.minSegs)
			}
			if tc.opts.SegmentSize > 0 {
				for seg := first; seg <= last; seg++ {
					fi, err := os.Stat(segmentPath(dir, seg))
					if err != nil {
						t.Fatal(err)
					}
					if fi.Size() > tc.opts.SegmentSize && fi.Size() < 1<<20 {
						t.Errorf("segment %d: got %d bytes, want at most %d", seg, fi.Size(), tc.opts.SegmentSize)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w = mustOpen(t, dir, tc.opts)
			st := checkReplay(t, w, tc.batches)
			if st.DiscardedBytes != 0 || st.Corruption != nil {
				t.Errorf("after reopening: got %d bytes discarded, corruption %v, want none", st.DiscardedBytes, st.Corruption)
			}
			if st.Segments != last-first+1 {
				t.Errorf("got %d segments read, want %d", st.Segments, last-first+1)
			}
		})
	}
}

func TestReopenAppend(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 2 << 10}
	all := randomBatches(4, 60, 4, 200)
	for round := range 4 {
		w := mustOpen(t, dir, opts)
		checkReplay(t, w, all[:round*15])
		logAll(t, w, all[round*15:(round+1)*15])
		checkReplay(t, w, all[:(round+1)*15])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCutTruncate(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	bs := randomBatches(5, 10, 3, 50)
	logAll(t, w, bs[:5])
	seg, err := w.Cut()
	if err != nil {
		t.Fatal(err)
	}
	if seg != 1 {
		t.Errorf("Cut: got segment %d, want 1", seg)
	}
	logAll(t, w, bs[5:])
	if err := w.Truncate(seg); err != nil {
		t.Fatal(err)
	}
	if first, last, _ := w.Segments(); first != 1 || last != 1 {
		t.Errorf("Segments: got %d, %d, want 1, 1", first, last)
	}
	if _, err := os.Stat(segmentPath(dir, 0)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("segment 0 after Truncate(1): got %v, want it deleted", err)
	}
	checkReplay(t, w, bs[5:])

	// Truncating every segment that held batches keeps the last position.
	for range 2 {
		if seg, err = w.Cut(); err != nil {
			t.Fatal(err)
		}
	}
	if seg != 3 {
		t.Errorf("Cut: got segment %d, want 3", seg)
	}
	if err := w.Truncate(seg); err != nil {
		t.Fatal(err)
	}
	st := checkReplay(t, w, nil)
	if want := bs[9].Position; !bytes.Equal(st.LastPosition, want) {
		t.Errorf("LastPosition after truncating every batch: got %x, want %x", st.LastPosition, want)
	}
	if err := w.Truncate(seg + 1); !errors.Is(err, ErrActiveSegment) {
		t.Errorf("Truncate past the active segment: got %v, want %v", err, ErrActiveSegment)
	}
	if err := w.Truncate(0); err != nil {
		t.Errorf("Truncate below the first segment: got %v, want nil", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = mustOpen(t, dir, Options{})
	st = checkReplay(t, w, nil)
	if want := bs[9].Position; !bytes.Equal(st.LastPosition, want) {
		t.Errorf("LastPosition after reopening: got %x, want %x", st.LastPosition, want)
	}
	if first, last, _ := w.Segments(); first != 3 || last != 3 {
		t.Errorf("Segments after reopening: got %d, %d, want 3, 3", first, last)
	}
	logAll(t, w, bs[:1])
	checkReplay(t, w, bs[:1])
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTornTail cuts the last batch short at every byte offset, or zeroes
// it from there on (as a file system may leave it after a power loss): the
// batch is gone, the ones before it are whole, and appends go on after them.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		n    int
	}{
		{"one segment", Options{}, 5},
		{"third segment", Options{SegmentSize: 1 << 10}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			bs := randomBatches(6, tc.n, 3, 150)
			bs[tc.n-1] = Batch{Records: [][]byte{[]byte("last"), {}, []byte("batch")}, Position: pos(tc.n)}
			w := mustOpen(t, src, tc.opts)
			spans := logAll(t, w, bs)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			last := spans[tc.n-1]
			if tc.opts.SegmentSize > 0 && last.seg < 2 {
				t.Fatalf("last batch in segment %d, want a later one", last.seg)
			}
			seg, err := os.ReadFile(segmentPath(src, last.seg))
			if err != nil {
				t.Fatal(err)
			}
			extra := Batch{Records: [][]byte{[]byte("after the repair")}, Position: pos(1000)}
			for _, zero := range []bool{false, true} {
				for cut := last.start; cut < last.end; cut++ {
					dir := copyDir(t, src)
					torn := seg[:cut]
					if zero {
						torn = append(slices.Clone(torn), make([]byte, last.end-cut)...)
					}
					if err := os.WriteFile(segmentPath(dir, last.seg), torn, 0o666); err != nil {
						t.Fatal(err)
					}
					w, err := Open(dir, tc.opts)
					if err != nil {
						t.Fatalf("cut at %d, zeroed %v: open: %v", cut, zero, err)
					}
					want := int64(len(torn)) - last.start
					st := checkReplay(t, w, bs[:tc.n-1])
					if st.DiscardedBytes != want || st.Corruption != nil {
						t.Fatalf("cut at %d, zeroed %v: got %d bytes discarded, corruption %v, want %d, none",
							cut, zero, st.DiscardedBytes, st.Corruption, want)
					}
					if got := w.OpenStats().DiscardedBytes; got != want {
						t.Fatalf("cut at %d, zeroed %v: OpenStats: got %d bytes discarded, want %d", cut, zero, got, want)
					}
					if err := w.Log(extra); err != nil {
						t.Fatal(err)
					}
					w.Close()
					w = mustOpen(t, dir, tc.opts)
					st = checkReplay(t, w, append(slices.Clone(bs[:tc.n-1]), extra))
					if st.DiscardedBytes != 0 {
						t.Fatalf("cut at %d, zeroed %v: after the repair, got %d bytes discarded, want 0", cut, zero, st.DiscardedBytes)
					}
					w.Close()
				}
			}
		})
	}
}

// TestCorruption damages a batch that acknowledged batches follow: Open
// reports where, Replay delivers every batch before it and none after, and
// the repaired log takes appends after the last good batch.
func TestCorruption(t *testing.T) {
	const n = 20
	opts := Options{SegmentSize: 1 << 10}
	bs := randomBatches(7, n, 3, 300)
	src := t.TempDir()
	w := mustOpen(t, src, opts)
	spans := logAll(t, w, bs)
	w.Close()
	lastSeg := spans[n-1].seg
	if spans[0].seg == lastSeg {
		t.Fatal("want batches over several segments")
	}
	// The last batch of the first segment, and a batch in the middle of the
	// last segment.
	var firstSegLast, lastSegMid int
	for i, s := range spans {
		if s.seg == spans[0].seg {
			firstSegLast = i
		}
	}
	for i := n - 2; i >= 0 && spans[i].seg == lastSeg; i-- {
		lastSegMid = i
	}
	if lastSegMid == 0 || lastSegMid > n-2 {
		t.Fatal("want three batches at least in the last segment")
	}

	setFrameHeader := func(typ byte, length int) func([]byte) {
		return func(b []byte) { putFrameHeader(b, typ, length) }
	}
	for _, tc := range []struct {
		name   string
		batch  int            // the damaged batch
		at     int64          // offset of the damage in its frame
		damage func(b []byte) // applied at that offset; nil flips the byte
		cutEnd int64          // bytes then cut off the end of the segment
		want   error          // the cause; nil: a torn tail
	}{
		{name: "length", batch: 2, at: 0, want: ErrHeaderChecksum},
		{name: "length high byte", batch: 2, at: 3, want: ErrHeaderChecksum},
		{name: "type", batch: 2, at: 4, want: ErrHeaderChecksum},
		{name: "header checksum", batch: 2, at: 6, want: ErrHeaderChecksum},
		{name: "payload", batch: 2, at: frameHeaderSize + 3, want: ErrChecksum},
		{name: "payload checksum", batch: 2, at: -1, want: ErrChecksum},
		{name: "last batch of a closed segment", batch: firstSegLast, at: frameHeaderSize + 1, want: ErrChecksum},
		{name: "middle of the last segment", batch: lastSegMid, at: frameHeaderSize + 1, want: ErrChecksum},
		{name: "impossible length", batch: 3, at: 0, damage: setFrameHeader(frameBatch, MaxBatchSize+1), want: ErrFrameLength},
		{name: "length beyond the segment", batch: 0, at: 0, damage: setFrameHeader(frameBatch, 1<<20), want: ErrTruncated},
		{name: "unknown type", batch: 3, at: 0, damage: setFrameHeader(9, 10), want: ErrFrameType},
		{name: "bad batch encoding", batch: 1, at: 0, damage: func(b []byte) {
			// A frame that matches its checksums around a payload that
			// claims more records than it has.
			payload := []byte{0, 5, 1, 'x'}
			f := appendFrame(nil, frameBatch, payload)
			f = append(f, bytes.Repeat([]byte{0}, int(spans[1].end-spans[1].start)-len(f))...)
			copy(b, f)
		}, want: ErrBatchEncoding},
		{name: "last batch reads as torn", batch: n - 1, at: frameHeaderSize + 1, want: nil},
		{name: "followed by a torn batch", batch: n - 2, at: frameHeaderSize + 1, cutEnd: 3, want: ErrChecksum},
		{name: "header followed by a torn batch", batch: n - 2, at: 1, cutEnd: 3, want: ErrHeaderChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			span := spans[tc.batch]
			path := segmentPath(dir, span.seg)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			at := span.start + tc.at
			if tc.at < 0 {
				at = span.end + tc.at
			}
			if tc.damage == nil {
				b[at] ^= 0x20
			} else {
				tc.damage(b[at:])
			}
			b = b[:int64(len(b))-tc.cutEnd]
			if err := os.WriteFile(path, b, 0o666); err != nil {
				t.Fatal(err)
			}
			var later int64 // bytes in the segments after the damaged one
			for seg := span.seg + 1; seg <= lastSeg; seg++ {
				fi, err := os.Stat(segmentPath(dir, seg))
				if err != nil {
					t.Fatal(err)
				}
				later += fi.Size()
			}

			w := mustOpen(t, dir, opts)
			st := checkReplay(t, w, bs[:tc.batch])
			if tc.want == nil {
				if st.Corruption != nil || st.DiscardedBytes != span.end-span.start {
					t.Fatalf("got corruption %v, %d bytes discarded, want none, %d", st.Corruption, st.DiscardedBytes, span.end-span.start)
				}
				return
			}
			c := st.Corruption
			if c == nil {
				t.Fatal("got no corruption, want one")
			}
			if c.Dir != dir || c.Segment != span.seg || c.Offset != span.start || !errors.Is(c, tc.want) {
				t.Fatalf("got %v, want a corruption in segment %d at offset %d: %v", c, span.seg, span.start, tc.want)
			}
			if !strings.Contains(c.Error(), segmentName(span.seg)) {
				t.Errorf("message: got %q, want the segment's file named", c.Error())
			}
			if want := int64(len(b)) - span.start + later; st.DiscardedBytes != want {
				t.Errorf("got %d bytes discarded, want %d", st.DiscardedBytes, want)
			}
			if q := w.OpenStats().Quarantined; len(q) != lastSeg-span.seg+1 {
				t.Errorf("got quarantined files %v, want %d", q, lastSeg-span.seg+1)
			}
			if first, last, _ := w.Segments(); first != spans[0].seg || last != span.seg {
				t.Errorf("Segments: got %d, %d, want %d, %d", first, last, spans[0].seg, span.seg)
			}

			extra := Batch{Records: [][]byte{[]byte("after the repair")}, Position: pos(1000)}
			if err := w.Log(extra); err != nil {
				t.Fatal(err)
			}
			w.Close()
			w = mustOpen(t, dir, opts)
			st = checkReplay(t, w, append(slices.Clone(bs[:tc.batch]), extra))
			if st.Corruption != nil || st.DiscardedBytes != 0 {
				t.Errorf("after the repair: got corruption %v, %d bytes discarded, want none", st.Corruption, st.DiscardedBytes)
			}
		})
	}
}

func TestSegmentFaults(t *testing.T) {
	const n = 20
	opts := Options{SegmentSize: 1 << 10}
	bs := randomBatches(8, n, 3, 300)
	src := t.TempDir()
	w := mustOpen(t, src, opts)
	spans := logAll(t, w, bs)
	w.Close()
	before := func(seg int) int { // batches in segments below seg
		i := 0
		for i < n && spans[i].seg < seg {
			i++
		}
		return i
	}
	lastSeg := spans[n-1].seg
	if lastSeg < 3 {
		t.Fatalf("batches in %d segments, want 4 at least", lastSeg+1)
	}

	cutLast := before(2) - 1 // the last batch of segment 1
	for _, tc := range []struct {
		name   string
		seg    int
		damage func(path string) error
		want   error // nil: a torn tail
		keep   int   // batches delivered
		offset int64 // of the corruption
	}{
		{"missing segment", 2, os.Remove, ErrMissingSegment, before(2), 0},
		{"bad magic", 1, func(p string) error { return flipByte(p, 0) }, ErrSegmentHeader, before(1), 0},
		{"unknown version", 1, func(p string) error { return flipByte(p, 4) }, ErrSegmentHeader, before(1), 0},
		{"empty segment", 1, func(p string) error { return os.Truncate(p, 0) }, ErrSegmentHeader, before(1), 0},
		{"segment cut inside a frame", 1, func(p string) error {
			return os.Truncate(p, spans[cutLast].end-1)
		}, ErrTruncated, cutLast, spans[cutLast].start},
		{"last segment empty", lastSeg, func(p string) error { return os.Truncate(p, 0) }, nil, before(lastSeg), 0},
		{"last segment torn header", lastSeg, func(p string) error { return os.Truncate(p, 5) }, nil, before(lastSeg), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			if err := tc.damage(segmentPath(dir, tc.seg)); err != nil {
				t.Fatal(err)
			}
			w := mustOpen(t, dir, opts)
			st := checkReplay(t, w, bs[:tc.keep])
			switch c := st.Corruption; {
			case tc.want == nil && c != nil:
				t.Fatalf("got %v, want no corruption", c)
			case tc.want != nil && (c == nil || c.Segment != tc.seg || c.Offset != tc.offset || !errors.Is(c, tc.want)):
				t.Fatalf("got %v, want a corruption in segment %d at offset %d: %v", c, tc.seg, tc.offset, tc.want)
			}
			if !bytes.Equal(st.LastPosition, pos(tc.keep)) {
				t.Errorf("LastPosition: got %x, want %x", st.LastPosition, pos(tc.keep))
			}
			extra := Batch{Records: [][]byte{[]byte("after the repair")}, Position: pos(1000)}
			if err := w.Log(extra); err != nil {
				t.Fatal(err)
			}
			w.Close()
			w = mustOpen(t, dir, opts)
			st = checkReplay(t, w, append(slices.Clone(bs[:tc.keep]), extra))
			if st.Corruption != nil || st.DiscardedBytes != 0 {
				t.Errorf("after the repair: got corruption %v, %d bytes discarded, want none", st.Corruption, st.DiscardedBytes)
			}
		})
	}
}

func flipByte(path string, at int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[at] ^= 0x01
	return os.WriteFile(path, b, 0o666)
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		size int64
		ok   bool
	}{{0, true}, {MinSegmentSize, true}, {64 << 20, true}, {MinSegmentSize - 1, false}, {-1, false}} {
		w, err := Open(t.TempDir(), Options{SegmentSize: tc.size})
		if (err == nil) != tc.ok {
			t.Errorf("SegmentSize %d: got %v, want ok=%v", tc.size, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "SegmentSize") {
			t.Errorf("SegmentSize %d: got %q, want the field named", tc.size, err)
		}
		if w != nil {
			w.Close()
		}
	}
}

func TestClosed(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	_, err := w.Cut()
	_, _, serr := w.Segments()
	_, rerr := w.Replay(nil)
	for name, err := range map[string]error{
		"Log": w.Log(Batch{}), "Cut": err, "Truncate": w.Truncate(0), "Segments": serr, "Replay": rerr,
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got %v, want %v", name, err, ErrClosed)
		}
	}
}

func TestBatchTooLarge(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	mib := make([]byte, 1<<20)
	b := Batch{Records: slices.Repeat([][]byte{mib}, MaxBatchSize>>20)}
	err := w.Log(b)
	var tl *BatchTooLargeError
	if !errors.As(err, &tl) || tl.Size != batchSize(b) || tl.Max != MaxBatchSize {
		t.Fatalf("got %v, want a BatchTooLargeError of %d bytes", err, batchSize(b))
	}
	if err := w.Log(Batch{Position: pos(1)}); err != nil {
		t.Fatalf("Log after a refused batch: %v", err)
	}
	checkReplay(t, w, []Batch{{Position: pos(1)}})
}

// TestWriteFailure: after a failed write, appends stop; reopening repairs.
func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	bs := randomBatches(9, 3, 2, 10)
	logAll(t, w, bs[:2])
	w.f.Close() // the next write fails
	if err := w.Log(bs[2]); err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("Log on a failing file: got %v, want the write's error", err)
	}
	if err := w.Log(bs[2]); !errors.Is(err, ErrFailed) {
		t.Fatalf("Log after a failure: got %v, want %v", err, ErrFailed)
	}
	if _, err := w.Cut(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Cut after a failure: got %v, want %v", err, ErrFailed)
	}
	checkReplay(t, w, bs[:2])
	w.Close()
	w = mustOpen(t, dir, Options{})
	logAll(t, w, bs[2:])
	checkReplay(t, w, bs)
}

func TestConcurrentLog(t *testing.T) {
	const writers, each = 4, 50
	w := mustOpen(t, t.TempDir(), Options{SegmentSize: 8 << 10, NoSync: true})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 10))
			for i := range each {
				b := randomBatch(rng, g*1000+i, 3, 200)
				b.Records = append(b.Records, []byte{byte(g)})
				if err := w.Log(b); err != nil {
					t.Errorf("writer %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := w.Replay(nil); err != nil {
				t.Errorf("replay: %v", err)
			}
		}
	})
	wg.Wait()
	got, _, _ := replayAll(t, w)
	if len(got) != writers*each {
		t.Fatalf("got %d batches, want %d", len(got), writers*each)
	}
	next := make([]int, writers)
	for _, b := range got {
		g := int(b.Records[len(b.Records)-1][0])
		p := int(binary.BigEndian.Uint64(b.Position))
		if p != g*1000+next[g] {
			t.Fatalf("writer %d: got position %d, want %d", g, p, g*1000+next[g])
		}
		next[g]++
	}
}

func TestDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "wal")
	w := mustOpen(t, dir, Options{})
	logAll(t, w, randomBatches(10, 2, 2, 10))
	w.Close()
	for name, content := range map[string]string{"00000001.tmp": "partial", "README": "not a segment", "00000001.corrupt": "old"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	w = mustOpen(t, dir, Options{})
	checkReplay(t, w, randomBatches(10, 2, 2, 10))
	var names []string
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		names = append(names, de.Name())
	}
	if want := []string{"00000000", "00000001.corrupt", "README"}; !slices.Equal(names, want) {
		t.Errorf("files: got %v, want %v", names, want)
	}
	if first, last, _ := w.Segments(); first != 0 || last != 0 {
		t.Errorf("Segments: got %d, %d, want 0, 0", first, last)
	}
}

// TestQuarantineNames: a second corruption of the same segment keeps the
// first one's quarantined copy.
func TestQuarantineNames(t *testing.T) {
	dir := t.TempDir()
	bs := randomBatches(11, 5, 2, 50)
	w := mustOpen(t, dir, Options{})
	logAll(t, w, bs[:1])
	for round, want := range []string{".corrupt", ".corrupt.1"} {
		spans := logAll(t, w, bs[1+2*round:3+2*round])
		w.Close()
		if err := flipByte(segmentPath(dir, 0), spans[0].start+frameHeaderSize); err != nil {
			t.Fatal(err)
		}
		w = mustOpen(t, dir, Options{})
		checkReplay(t, w, bs[:1])
		if got, want := w.OpenStats().Quarantined, []string{segmentPath(dir, 0) + want}; !slices.Equal(got, want) {
			t.Errorf("round %d: got quarantined %v, want %v", round, got, want)
		}
	}
}
