package chunkenc_test

import (
	"fmt"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

func Example() {
	a := chunkenc.NewAppender()
	start := int64(1763800000000)
	p99 := []float64{0.182, 0.176, 0.201, 0.873}
	for i, v := range p99 {
		ex := &chunkenc.Exemplar{TraceID: [16]byte{0x4b, 0xf9, byte(i)}, Value: v, TimestampMs: start + int64(i)*10_000 - 4211}
		if err := a.Append(start+int64(i)*10_000, v, ex); err != nil {
			fmt.Println(err)
			return
		}
	}

	c, err := chunkenc.Decode(a.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	it := c.Iterator(nil)
	for it.Next() {
		t, v := it.At()
		ex, _ := it.Exemplar()
		fmt.Printf("%d %v trace %x… at %d\n", t, v, ex.TraceID[:3], ex.TimestampMs)
	}
	if err := it.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1763800000000 0.182 trace 4bf900… at 1763799995789
	// 1763800010000 0.176 trace 4bf901… at 1763800005789
	// 1763800020000 0.201 trace 4bf902… at 1763800015789
	// 1763800030000 0.873 trace 4bf903… at 1763800025789
}

func ExampleIterator_SeekTime() {
	a := chunkenc.NewAppender()
	for i := range 6 {
		if err := a.Append(int64(i)*10_000, float64(i*i), nil); err != nil {
			fmt.Println(err)
			return
		}
	}
	c, err := chunkenc.Decode(a.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	it := c.Iterator(nil)
	if it.SeekTime(25_000) {
		t, v := it.At()
		fmt.Println(t, v)
	}
	// Output: 30000 9
}
