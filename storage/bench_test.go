package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// BenchmarkAppend: flush batches of 10k points (one window of 10k series,
// a third with exemplars) into a DB, with and without an fsync per batch.
func BenchmarkAppend(b *testing.B) {
	const nSeries = 10_000
	series := make([]labels.Labels, nSeries)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "http_request_duration_seconds", "quantile", "0.99",
			"service", fmt.Sprintf("svc-%d", i%50), "route", fmt.Sprintf("/r/%d", i/50))
	}
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			batch := make([]Point, nSeries)
			ex := &chunkenc.Exemplar{TraceID: [16]byte{1}, Value: 0.1}
			step := int64(10 * time.Second / time.Millisecond)
			var k int64
			b.ReportAllocs()
			for b.Loop() {
				k++
				for i := range batch {
					batch[i] = Point{Labels: series[i], Policy: p10s, T: k * step, V: float64(k%97) / 100}
					if i%3 == 0 {
						ex.TimestampMs = k*step - 1
						batch[i].Exemplar = ex
					}
				}
				if _, err := db.Append(batch, []byte{byte(k)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*nSeries)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
