package wal

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// snapshot returns the names and contents of the files of dir.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = string(b)
	}
	return out
}

// sameCorruption compares two corruptions but for their directory.
func sameCorruption(a, b *CorruptionError) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Segment == b.Segment && a.Offset == b.Offset && a.Err.Error() == b.Err.Error()
}

// TestVerify damages a log in the ways Open repairs: Verify reports what
// Open and Replay would, reports every corruption, and changes nothing.
func TestVerify(t *testing.T) {
	const n = 20
	opts := Options{SegmentSize: 1 << 10}
	bs := randomBatches(9, n, 3, 300)
	src := t.TempDir()
	w := mustOpen(t, src, opts)
	spans := logAll(t, w, bs)
	w.Close()
	lastSeg := spans[n-1].seg
	if lastSeg < 3 {
		t.Fatalf("batches in %d segments, want 4 at least", lastSeg+1)
	}
	firstOf := func(seg int) int { // the first batch in seg
		for i, s := range spans {
			if s.seg == seg {
				return i
			}
		}
		t.Fatalf("no batch in segment %d", seg)
		return 0
	}
	lastOf := func(seg int) int { return firstOf(seg+1) - 1 }
	flipIn := func(batch int) func(dir string) error {
		return func(dir string) error {
			s := spans[batch]
			return flipByte(segmentPath(dir, s.seg), s.start+frameHeaderSize+1)
		}
	}
	type found struct {
		seg    int
		offset int64
		cause  error
	}
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		want   []found   // every corruption, in order
		torn   *TornTail // want
		repair bool      // open the damaged log once before Verify
	}{
		{name: "sound", damage: func(string) error { return nil }},
		{
			name: "torn tail",
			damage: func(dir string) error {
				return os.Truncate(segmentPath(dir, lastSeg), spans[n-1].start+5)
			},
			torn: &TornTail{Segment: lastSeg, Offset: spans[n-1].start, Bytes: 5},
		},
		{
			name:   "checksum in a closed segment",
			damage: flipIn(firstOf(1) + 1),
			want:   []found{{1, spans[firstOf(1)+1].start, ErrChecksum}},
		},
		{
			name: "segment cut inside a frame",
			damage: func(dir string) error {
				return os.Truncate(segmentPath(dir, 1), spans[lastOf(1)].end-3)
			},
			want: []found{{1, spans[lastOf(1)].start, ErrTruncated}},
		},
		{
			name:   "missing segment",
			damage: func(dir string) error { return os.Remove(segmentPath(dir, 2)) },
			want:   []found{{2, 0, ErrMissingSegment}},
		},
		{
			name: "a corruption in two segments",
			damage: func(dir string) error {
				return errors.Join(flipIn(firstOf(1))(dir), flipIn(firstOf(3)+1)(dir))
			},
			want: []found{{1, spans[firstOf(1)].start, ErrChecksum}, {3, spans[firstOf(3)+1].start, ErrChecksum}},
		},
		{name: "set aside by an earlier open", damage: flipIn(firstOf(2)), repair: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			if tc.repair {
				w, err := Open(dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
			}
			before := snapshot(t, dir)
			st, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, dir); !maps.Equal(after, before) {
				t.Fatal("Verify changed the directory")
			}

			if len(st.Corruptions) != len(tc.want) {
				t.Fatalf("got corruptions %v, want %d", st.Corruptions, len(tc.want))
			}
			for i, c := range st.Corruptions {
				if w := tc.want[i]; c.Dir != dir || c.Segment != w.seg || c.Offset != w.offset || !errors.Is(c, w.cause) {
					t.Errorf("corruption %d: got %v, want segment %d at offset %d: %v", i, c, w.seg, w.offset, w.cause)
				}
			}
			if len(tc.want) > 0 && st.Corruption != st.Corruptions[0] {
				t.Errorf("got Corruption %v, want the first of Corruptions", st.Corruption)
			}
			if (st.Torn == nil) != (tc.torn == nil) || st.Torn != nil && *st.Torn != *tc.torn {
				t.Errorf("got torn tail %+v, want %+v", st.Torn, tc.torn)
			}
			if tc.repair != (len(st.SetAside) > 0) {
				t.Errorf("got set-aside files %v, want some: %v", st.SetAside, tc.repair)
			}
			var size int64
			for name := range before {
				if _, ok := parseSegmentName(name); ok {
					size += int64(len(before[name]))
				}
			}
			if st.Bytes != size || st.First != 0 {
				t.Errorf("got %d bytes from segment %d, want %d from 0", st.Bytes, st.First, size)
			}

			// What Open and Replay report on a copy is what Verify said.
			w := mustOpen(t, copyDir(t, dir), opts)
			_, _, want := replayAll(t, w)
			got := st.ReplayStats
			if got.Segments != want.Segments || got.Batches != want.Batches || got.Records != want.Records ||
				got.DiscardedBytes != want.DiscardedBytes || !bytes.Equal(got.LastPosition, want.LastPosition) ||
				!sameCorruption(got.Corruption, want.Corruption) {
				t.Errorf("got %+v,\nwant what Open and Replay report: %+v", got, want)
			}
		})
	}
}

func TestVerifyDirectory(t *testing.T) {
	st, err := Verify(t.TempDir())
	if err != nil || st.Files != 0 || st.Corruption != nil {
		t.Errorf("empty directory: got %+v, %v, want nothing found", st, err)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing directory: got no error")
	}
}
