package node

import (
	"flag"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/shard/router"
)

var (
	benchMemorySeries = flag.Int("memory.series", 1_000_000,
		"about how many active output series BenchmarkMemoryActiveSeries makes")
	benchMemoryProfile = flag.String("memory.heapprofile", "",
		"write the heap profile of BenchmarkMemoryActiveSeries's node, at its measure, to this file")
)

// benchMemoryFleet is the fleet of the memory benchmark, its pods as many as it
// takes: each pod sends about 20 requests a 10s tick, its request counters
// and its gauges; testdata/rules/per-series.yaml keeps every series.
var benchMemoryFleet = loadgen.Config{Seed: 2, Services: 12, RequestsPerPod: 20, TickMs: 10_000}

const benchMemoryTicks = 4

// BenchmarkMemoryActiveSeries measures the heap in use (after a GC) that a
// node of 4 shards holds per active output series, at about a million of
// them: router, replicas (aggregation, shard record decoding) and
// storages, fed without Kafka on one goroutine. Four 10s ticks of the fleet
// go through Route and Apply with a watermark record after each: after the
// fourth, the windows of the first two ticks are stored and those of the
// last two are open, as in steady state (lateness one resolution).
//
//	go test -run '^$' -bench '^BenchmarkMemoryActiveSeries$' -benchtime 1x -count 3 ./shard/node
//
// B/series is the whole node's heap in use per active series;
// pre-flush-B/series the same after two ticks, before any window closed
// (no storage yet); router-B/series the router's share (its match cache);
// samples/s the rate of Route and Apply together at this cardinality, the
// making of every series and their first flushes included.
func BenchmarkMemoryActiveSeries(b *testing.B) {
	b.StopTimer()
	for range b.N {
		benchMemory(b, *benchMemorySeries)
	}
}

func benchMemory(b *testing.B, series int) {
	fleet := benchMemoryFleet
	fleet.PodsPerService = benchPodsFor(fleet, series)
	now := time.Now().UnixMilli()
	fleet.StartMs = now - now%60_000 - 10*60_000
	ticks, samples := benchFleetRecords(fleet, benchMemoryTicks)
	var before, preFlush, full, noRouter runtime.MemStats
	benchReadHeap(&before)

	o := benchOptions(b, "../../testdata/rules/per-series.yaml")
	o.Lateness = 0
	s := newBenchNode(b, o)
	defer s.Close()
	offsets := make([]int64, len(s.replicas))
	apply := func(p int32, v []byte) {
		if err := s.replicas[p].Apply(offsets[p], v); err != nil {
			b.Fatal(err)
		}
		offsets[p]++
	}
	var outs []router.Output
	var fed time.Duration
	routed := int64(shard.NoWatermark) // the largest timestamp routed
	feed := func(recs [][]byte) {
		start := time.Now()
		b.StartTimer()
		nowMs := time.Now().UnixMilli()
		for _, v := range recs {
			var err error
			outs, err = s.router.Route("bench-raw", v, sample.FormatProto, nowMs, outs[:0])
			if err != nil {
				b.Fatal(err)
			}
			routed = max(routed, s.router.RecordMax())
			for _, o := range outs {
				apply(o.Partition, o.Value)
			}
		}
		wm := shard.AppendPartitions(nil, "bench", []shard.RawTopic{{Name: "bench-raw", Partitions: 1}},
			[]shard.PartitionWatermark{{Topic: "bench-raw", Partition: 0, Watermark: routed}})
		for p := range s.replicas {
			apply(int32(p), wm)
		}
		b.StopTimer()
		fed += time.Since(start)
	}
	active := func() (n int) {
		for _, r := range s.replicas {
			n += r.ActiveSeries()
		}
		return n
	}
	for _, recs := range ticks[:2] {
		feed(recs)
	}
	benchReadHeap(&preFlush)
	activePre := active()
	for _, recs := range ticks[2:] {
		feed(recs)
	}
	benchReadHeap(&full)
	if *benchMemoryProfile != "" {
		f, err := os.Create(*benchMemoryProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	n := active()
	var points, flushes uint64
	var late uint64
	for _, r := range s.replicas {
		st := r.Stats()
		points += st.Points
		flushes += st.Flushes
		late += st.Aggregator.Late
	}
	var headSeries int
	for _, db := range s.dbs {
		for _, ps := range db.Stats() {
			headSeries += ps.HeadSeries
		}
	}
	s.router = nil
	benchReadHeap(&noRouter)
	runtime.KeepAlive(ticks)

	if points == 0 || late > 0 {
		b.Errorf("points stored %d, late %d: the windows of the first ticks should be stored, none late", points, late)
	}
	perSeries := func(heap, base uint64, n int) float64 { return (float64(heap) - float64(base)) / float64(n) }
	b.ReportMetric(float64(n), "active-series")
	b.ReportMetric(perSeries(full.HeapInuse, before.HeapInuse, n), "B/series")
	b.ReportMetric(perSeries(preFlush.HeapInuse, before.HeapInuse, activePre), "pre-flush-B/series")
	b.ReportMetric(perSeries(full.HeapInuse, noRouter.HeapInuse, n), "router-B/series")
	b.ReportMetric(float64(samples)/fed.Seconds(), "samples/s")
	b.Logf("%d pods, %d samples in %d ticks; %d active series (%d after two ticks), %d storage head series, %d points in %d flushes; "+
		"heap in use %.0f MB (%.0f MB before the first flush, %.0f MB without the router); heap allocated %.0f MB",
		fleet.Services*fleet.PodsPerService, samples, benchMemoryTicks, n, activePre, headSeries, points, flushes,
		benchMiB(full.HeapInuse-before.HeapInuse), benchMiB(preFlush.HeapInuse-before.HeapInuse), benchMiB(noRouter.HeapInuse-before.HeapInuse),
		benchMiB(full.HeapAlloc-before.HeapAlloc))
}

func benchMiB(n uint64) float64 { return float64(n) / (1 << 20) }

// benchReadHeap reads the memory statistics after collecting the garbage.
func benchReadHeap(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
}

// benchPodsFor returns the pods per service that give fleet about series
// output series under the per-series rules, from the series a small fleet
// of the same shape has over benchMemoryTicks ticks.
func benchPodsFor(fleet loadgen.Config, series int) int {
	const pods = 10
	fleet.PodsPerService = pods
	g := loadgen.New(fleet)
	seen := map[string]bool{}
	var batch []sample.Sample
	for range benchMemoryTicks {
		batch = g.Tick(batch[:0])
		for i := range batch {
			if s := &batch[i]; s.Name != "debug_goroutines" {
				seen[s.Name+s.Labels.String()] = true
			}
		}
	}
	perPod := float64(len(seen)) / float64(fleet.Services*pods)
	return max(1, int(math.Round(float64(series)/perPod/float64(fleet.Services))))
}

// benchFleetRecords returns ticks of fleet as raw record values, per tick: the
// samples of one pod a record, protobuf batches.
func benchFleetRecords(fleet loadgen.Config, ticks int) (recs [][][]byte, samples int) {
	g := loadgen.New(fleet)
	var batch []sample.Sample
	for range ticks {
		batch = g.Tick(batch[:0])
		var tick [][]byte
		loadgen.PodRuns(batch, 0, func(_ string, part []sample.Sample) {
			tick = append(tick, sample.AppendProto(nil, part))
			samples += len(part)
		})
		recs = append(recs, tick)
	}
	return recs, samples
}
