package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/tumblemetrics/tumble/storage/wal"
)

func Example() {
	dir, err := os.MkdirTemp("", "wal")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A first run logs two flushes, each with the offset it reached.
	w, err := wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for i, points := range [][]string{{"a 1", "b 2"}, {"a 3"}} {
		b := wal.Batch{Position: fmt.Appendf(nil, "offset %d", 100*(i+1))}
		for _, p := range points {
			b.Records = append(b.Records, []byte(p))
		}
		if err := w.Log(b); err != nil {
			log.Fatal(err)
		}
	}
	w.Close()

	// The next run replays them and resumes after the last position.
	w, err = wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	st, err := w.Replay(func(segment int, b wal.Batch) error {
		fmt.Printf("segment %d: %q up to %s\n", segment, b.Records, b.Position)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d batches, %d records; resume after %s\n", st.Batches, st.Records, st.LastPosition)
	// Output:
	// segment 0: ["a 1" "b 2"] up to offset 100
	// segment 0: ["a 3"] up to offset 200
	// 2 batches, 3 records; resume after offset 200
}
