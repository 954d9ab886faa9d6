package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchBatch returns a batch of size bytes of random records, 16 of them,
// with an 8-byte position: the shape of a flush.
func benchBatch(size int) Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	b := Batch{Position: pos(1), Records: make([][]byte, 16)}
	for i := range b.Records {
		r := make([]byte, size/16)
		for j := range r {
			r[j] = byte(rng.Uint32())
		}
		b.Records[i] = r
	}
	return b
}

// BenchmarkLog measures Log of one batch, with the fsync that makes it
// durable and without (NoSync), in batches/s and MB/s.
func BenchmarkLog(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, noSync := range []bool{false, true} {
			mode := "fsync"
			if noSync {
				mode = "nosync"
			}
			b.Run(fmt.Sprintf("batch=%dKiB/%s", size>>10, mode), func(b *testing.B) {
				batch := benchBatch(size)
				w, err := Open(b.TempDir(), Options{NoSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				b.SetBytes(batchSize(batch))
				b.ReportAllocs()
				for b.Loop() {
					if err := w.Log(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
			})
		}
	}
}

// BenchmarkReplay measures Replay of a 64 MiB log of 64 KiB batches.
func BenchmarkReplay(b *testing.B) {
	batch := benchBatch(64 << 10)
	dir := b.TempDir()
	w, err := Open(dir, Options{NoSync: true, SegmentSize: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const n = 1024
	for range n {
		if err := w.Log(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(n * batchSize(batch))
	b.ReportAllocs()
	for b.Loop() {
		st, err := w.Replay(func(int, Batch) error { return nil })
		if err != nil || st.Batches != n {
			b.Fatalf("replayed %d batches, %v; want %d", st.Batches, err, n)
		}
	}
}
