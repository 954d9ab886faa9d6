package wal

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestBatchEncoding: the frame Log streams is the frame appendFrame builds
// from appendBatch, and it decodes back to the batch.
func TestBatchEncoding(t *testing.T) {
	for _, b := range []Batch{
		{},
		{Position: []byte("p")},
		{Records: [][]byte{{}, nil, []byte("x")}},
		{Records: [][]byte{bytes.Repeat([]byte("r"), 300)}, Position: bytes.Repeat([]byte("p"), 200)},
		randomBatches(13, 1, 50, 1000)[0],
	} {
		payload := appendBatch(nil, b)
		if got, want := batchSize(b), int64(len(payload)); got != want {
			t.Errorf("batchSize: got %d, want %d", got, want)
		}
		got, err := decodeBatch(payload, nil)
		if err != nil || !equalBatch(got, b) {
			t.Errorf("decode: got %d records at %q (%v), want %d at %q", len(got.Records), got.Position, err, len(b.Records), b.Position)
		}
		dir := t.TempDir()
		w := mustOpen(t, dir, Options{})
		if err := w.Log(b); err != nil {
			t.Fatal(err)
		}
		w.Close()
		seg, err := os.ReadFile(segmentPath(dir, 0))
		if err != nil {
			t.Fatal(err)
		}
		h := segmentHeader()
		want := appendFrame(h[:], frameBatch, payload)
		if !bytes.Equal(seg, want) {
			t.Errorf("segment of %d records: got % x, want % x", len(b.Records), seg[:min(len(seg), 64)], want[:min(len(want), 64)])
		}
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"position beyond the frame", []byte{5, 'a'}},
		{"bad position length", []byte{0x80}},
		{"no record count", []byte{0}},
		{"count above the bytes left", []byte{0, 3, 0, 0}},
		{"record beyond the frame", []byte{0, 1, 4, 'a'}},
		{"bytes after the last record", []byte{0, 1, 1, 'a', 'b'}},
		{"overlong varint", []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeBatch(tc.payload, nil); !errors.Is(err, ErrBatchEncoding) {
				t.Errorf("got %v, want %v", err, ErrBatchEncoding)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&CorruptionError{Dir: "/data/wal", Segment: 7, Offset: 4242, Err: ErrChecksum},
			"wal: corruption in segment /data/wal/00000007 at offset 4242: frame checksum mismatch"},
		{&BatchTooLargeError{Size: 300 << 20, Max: MaxBatchSize},
			"wal: batch of 314572800 bytes exceeds the maximum of 268435456"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
