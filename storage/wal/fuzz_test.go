package wal

import (
	"os"
	"slices"
	"testing"
)

// segmentBytes returns the bytes of a segment holding bs, written by Log.
func segmentBytes(t testing.TB, bs []Batch) []byte {
	t.Helper()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	logAll(t, w, bs)
	w.Close()
	b, err := os.ReadFile(segmentPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReplay opens arbitrary bytes as a segment, followed or not by a valid
// segment: Open repairs whatever it finds without panicking, Replay ends,
// and the repaired log replays the same batches again, plus one appended.
// Memory stays bounded: a frame is never read past the end of its file.
func FuzzReplay(f *testing.F) {
	valid := segmentBytes(f, randomBatches(12, 5, 3, 40))
	withPos := append(slices.Clone(valid[:segmentHeaderSize]), appendFrame(nil, framePosition, pos(7))...)
	withPos = append(withPos, valid[segmentHeaderSize:]...)
	f.Add([]byte{}, false)
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(withPos, false)
	f.Add(valid[:len(valid)-3], false)
	f.Add(valid[:len(valid)-3], true)
	f.Add(valid[:segmentHeaderSize], false)
	flipped := slices.Clone(valid)
	flipped[segmentHeaderSize+20] ^= 1
	f.Add(flipped, false)
	f.Add(flipped, true)
	huge := slices.Clone(valid)
	putFrameHeader(huge[segmentHeaderSize:], frameBatch, 1<<31)
	f.Add(huge, false)
	f.Add(append(slices.Clone(valid), make([]byte, 100)...), false)

	next := Batch{Records: [][]byte{[]byte("appended")}, Position: pos(99)}
	nextSeg := segmentBytes(f, []Batch{{Records: [][]byte{[]byte("second segment")}, Position: pos(98)}})
	f.Fuzz(func(t *testing.T, data []byte, twoSegments bool) {
		dir := t.TempDir()
		if err := os.WriteFile(segmentPath(dir, 0), data, 0o666); err != nil {
			t.Fatal(err)
		}
		if twoSegments {
			if err := os.WriteFile(segmentPath(dir, 1), nextSeg, 0o666); err != nil {
				t.Fatal(err)
			}
		}
		w, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got, _, st := replayAll(t, w)
		if c := st.Corruption; c != nil && (c.Segment != 0 || c.Offset < 0 || c.Offset > int64(len(data))) {
			t.Fatalf("got %v, want a corruption inside segment 0", c)
		}
		if st.DiscardedBytes < 0 || st.DiscardedBytes > int64(len(data)+len(nextSeg)) {
			t.Fatalf("got %d bytes discarded of %d", st.DiscardedBytes, len(data)+len(nextSeg))
		}
		if err := w.Log(next); err != nil {
			t.Fatalf("log after the repair: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w = mustOpen(t, dir, Options{})
		st = checkReplay(t, w, append(got, next))
		if st.Corruption != nil || st.DiscardedBytes != 0 {
			t.Fatalf("after the repair: got corruption %v, %d bytes discarded, want none", st.Corruption, st.DiscardedBytes)
		}
	})
}
