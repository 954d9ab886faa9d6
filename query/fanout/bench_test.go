package fanout_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/storage"
)

// BenchmarkSelect reads 10,000 series of 60 points each, from 4 shards on
// one node: from the DBs directly and merged (the baseline), through the
// fan-out reading them in-process, and through the fan-out over gRPC.
func BenchmarkSelect(b *testing.B) {
	const series, points = 10_000, 60
	rng := rand.New(rand.NewPCG(3, 4))
	pts := make([]storage.Point, 0, series*points)
	for i := range series {
		ls := labels.FromStrings("__name__", "bench_metric", "series", fmt.Sprint(i), "service", fmt.Sprintf("svc-%d", i%50))
		for j := range points {
			pts = append(pts, storage.Point{Labels: ls, Policy: testPolicy, T: dataStart + int64(j)*stepMs, V: rng.Float64() * 100})
		}
	}
	c := newCluster(b, clusterConfig{nodes: 1, shards: 4, replicas: 1, points: pts})
	mint, maxt := dataStart, dataStart+points*stepMs
	match := labels.MustNewMatcher(labels.MatchEqual, "__name__", "bench_metric")

	for _, bc := range []struct {
		name string
		q    promstorage.Queryable
	}{
		{"storage", c.reference()},
		{"fanout-local", c.queryable(c.local(0))},
		{"fanout-grpc", c.queryable(nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var it chunkenc.Iterator
			for b.Loop() {
				q, err := bc.q.Querier(mint, maxt)
				if err != nil {
					b.Fatal(err)
				}
				set := q.Select(b.Context(), true, nil, match)
				n := 0
				for set.Next() {
					it = set.At().Iterator(it)
					for it.Next() != chunkenc.ValNone {
						n++
					}
				}
				if err := set.Err(); err != nil {
					b.Fatal(err)
				}
				if len(set.Warnings()) > 0 {
					b.Fatal(set.Warnings().AsErrors())
				}
				q.Close()
				if n != series*points {
					b.Fatalf("read %d points, want %d", n, series*points)
				}
			}
			b.ReportMetric(float64(series*points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
