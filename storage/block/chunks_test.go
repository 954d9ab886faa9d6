package block

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func writeChunks(t testing.TB, chunks [][]byte) ([]byte, []uint64) {
	t.Helper()
	var buf bytes.Buffer
	w := NewChunkWriter(&buf)
	var refs []uint64
	for _, c := range chunks {
		ref, err := w.Write(c)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != uint64(buf.Len()) {
		t.Fatalf("Size: got %d, want %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), refs
}

func testChunks() [][]byte {
	cs := [][]byte{{}, {1}, bytes.Repeat([]byte{7}, 300)}
	for i := range 20 {
		cs = append(cs, []byte(fmt.Sprintf("chunk %d", i)))
	}
	return cs
}

func TestChunksRoundTrip(t *testing.T) {
	cs := testChunks()
	b, refs := writeChunks(t, cs)
	r, err := OpenChunks("000001.chunks", b)
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range refs {
		got, err := r.Chunk(ref)
		if err != nil || !bytes.Equal(got, cs[i]) {
			t.Fatalf("chunk %d at %d: got %q, %v; want %q", i, ref, got, err, cs[i])
		}
	}
	if n, err := r.Verify(); n != len(cs) || err != nil {
		t.Errorf("Verify: got %d, %v; want %d chunks", n, err, len(cs))
	}
}

// TestChunksCorruption: any flipped byte is caught, at the header or by the
// chunk that holds it, and reported with its file and offset.
func TestChunksCorruption(t *testing.T) {
	b, refs := writeChunks(t, testChunks())
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x10
		r, err := OpenChunks("x.chunks", c)
		if err == nil {
			_, err = r.Verify()
		}
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.File != "x.chunks" {
			t.Fatalf("byte %d flipped: got %v, want a CorruptionError for x.chunks", i, err)
		}
	}
	r, _ := OpenChunks("x.chunks", b[:len(b)-1])
	if _, err := r.Chunk(refs[len(refs)-1]); err == nil {
		t.Error("a truncated last chunk was read")
	}
	full, _ := OpenChunks("x.chunks", b)
	for _, ref := range []uint64{0, 3, uint64(len(b)), 1 << 40} {
		if _, err := full.Chunk(ref); err == nil {
			t.Errorf("ref %d: no error", ref)
		}
	}
}

func TestChunkTooLarge(t *testing.T) {
	w := NewChunkWriter(&bytes.Buffer{})
	if _, err := w.Write(make([]byte, MaxChunkSize+1)); err == nil {
		t.Error("a chunk over the limit was written")
	}
}

func FuzzChunks(f *testing.F) {
	b, _ := writeChunks(f, testChunks())
	f.Add(b, uint64(5))
	f.Add([]byte("TMCK\x01\xff\xff\xff\xff\x0f"), uint64(5))
	f.Fuzz(func(t *testing.T, b []byte, ref uint64) {
		r, err := OpenChunks("fuzz.chunks", b)
		if err != nil {
			return
		}
		_, _ = r.Chunk(ref)
		_, _ = r.Verify()
	})
}
