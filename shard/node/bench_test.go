package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/internal/modroot"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/shard/replica"
	"github.com/tumblemetrics/tumble/shard/router"
	"github.com/tumblemetrics/tumble/storage"
)

var (
	benchPipelineSamples = flag.Int("pipeline.samples", 2_000_000,
		"samples that each run of BenchmarkPipeline and BenchmarkPipelineCore routes and aggregates")
	benchPipelineRecord = flag.Int("pipeline.record", 1000,
		"most samples of one raw record (each holds the samples of one pod and tick)")
	benchPipelineProfile = flag.String("pipeline.cpuprofile", "",
		"write a CPU profile of each timed run of BenchmarkPipeline to FILE.SUBBENCHMARK.N (instead of -cpuprofile, which profiles the set-up too)")
)

// benchFleet is the fleet of the pipeline benchmarks: 300 pods of 12
// services, each serving about 50 requests a second (500 timer samples a
// 10s tick) and sending its request counters and memory gauge once a tick.
// A pod's tick is one raw record of some 500 samples.
var benchFleet = loadgen.Config{Seed: 1, Services: 12, PodsPerService: 25, RequestsPerPod: 500, TickMs: 10_000}

// benchRules gives every input sample one output series but the debug
// gauges: latencies rolled up by service and route, request counters by
// service and status, memory gauges per pod.
const benchRules = "../../testdata/rules/example.yaml"

// BenchmarkPipeline measures the whole path of one node: raw topic, router
// (a Kafka transaction per poll), shard topic, a replica per shard (4
// shards), their storages. Each run pre-produces the fleet's samples into
// the raw topic (4 partitions, keyed by pod) in a transaction left open
// while the router and the replicas start and route a first sample; the
// clock runs from the commit of that transaction until every replica has
// applied every shard record and stored the windows that a last sample,
// produced once the router has read the rest, closes.
//
// broker=kfake runs against the in-process Kafka-protocol broker,
// broker=kafka against a real one (internal/kafkatest, after a first run
// that warms its JVM up); it is skipped without Kafka's jars in .cache.
//
//	go test -run '^$' -bench '^BenchmarkPipeline$' -benchtime 1x -count 3 ./shard/node
//
// samples/s counts raw samples. While the clock runs: cores is the CPU time
// of this process (the in-process broker included) per second, host-cores
// that of the whole machine (a real broker included), CPU-ns/sample this
// process's CPU time per sample, and allocs/sample and B/sample its
// allocations.
func BenchmarkPipeline(b *testing.B) {
	w := newBenchWorkload(b, benchFleet, *benchPipelineSamples, *benchPipelineRecord)
	b.Run("broker=kfake", func(b *testing.B) {
		b.StopTimer()
		var m benchMeter
		for range b.N {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				b.Fatal(err)
			}
			benchPipeline(b, w, c.ListenAddrs(), &m)
			c.Close()
		}
		m.report(b, w)
	})
	b.Run("broker=kafka", func(b *testing.B) {
		b.StopTimer()
		root, err := modroot.Find()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, ".cache", "kafka", "libs")); err != nil {
			b.Skip("no Kafka jars in .cache/kafka/libs (`make kafka` fetches them): no run against a real broker")
		}
		k := kafkatest.Start(b)
		// A first run, not measured, warms the broker's JVM up.
		benchPipeline(b, w, []string{k.Addr()}, nil)
		var m benchMeter
		for range b.N {
			benchPipeline(b, w, []string{k.Addr()}, &m)
		}
		m.report(b, w)
	})
}

// benchWorkload is what each run produces to the raw topic: the fleet's
// ticks, ending ten minutes ago, as protobuf batches of at most perRecord
// samples of one pod and tick, keyed by pod (as `tumblectl loadgen
// --brokers` writes them). Runs generate it again rather than keep it, so
// that the heap is a node's, not the benchmark's.
type benchWorkload struct {
	fleet     loadgen.Config
	perRecord int
	ticks     int
	samples   int   // in the raw records
	records   int   // raw records
	bytes     int64 // of the raw values
	closeMs   int64 // the closer's timestamp: the last watermark
	primer    []byte
	closer    []byte
}

func newBenchWorkload(b *testing.B, fleet loadgen.Config, n, perRecord int) *benchWorkload {
	b.Helper()
	// A first pass counts the ticks; the same seed gives the same samples.
	g := loadgen.New(fleet)
	w := &benchWorkload{perRecord: perRecord}
	var batch []sample.Sample
	for count := 0; count < n; w.ticks++ {
		batch = g.Tick(batch[:0])
		count += len(batch)
	}
	now := time.Now().UnixMilli()
	endMs := now - now%60_000 - 10*60_000
	fleet.StartMs = endMs - int64(w.ticks)*fleet.TickMs
	w.fleet = fleet
	w.closeMs = endMs + 3*60_000 // past the last 1m window and a minute of lateness
	w.each(func(_, v []byte, n int) {
		w.samples += n
		w.records++
		w.bytes += int64(len(v))
	})
	ls := sample.Labels{{Name: "pod", Value: "bench"}}
	w.primer = sample.AppendProto(nil, []sample.Sample{{Name: "bench_primer", Labels: ls, Type: sample.Gauge, Value: 1, TimestampMs: fleet.StartMs}})
	w.closer = sample.AppendProto(nil, []sample.Sample{{Name: "bench_closer", Labels: ls, Type: sample.Gauge, Value: 1, TimestampMs: w.closeMs}})
	b.Logf("workload: %d samples in %d raw records (%.0f samples, %.0f bytes each), %d ticks of %ds",
		w.samples, w.records, float64(w.samples)/float64(w.records), float64(w.bytes)/float64(w.records), w.ticks, fleet.TickMs/1000)
	return w
}

// each calls fn with the key, value and sample count of every raw record.
func (w *benchWorkload) each(fn func(key, value []byte, samples int)) {
	g := loadgen.New(w.fleet)
	var batch []sample.Sample
	for range w.ticks {
		batch = g.Tick(batch[:0])
		loadgen.PodRuns(batch, w.perRecord, func(pod string, part []sample.Sample) {
			fn([]byte(pod), sample.AppendProto(nil, part), len(part))
		})
	}
}

var benchProtoHeaders = []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeProto)}}

// benchMeter sums what the timed runs of a sub-benchmark used.
type benchMeter struct {
	runs                  int
	mallocs, allocBytes   uint64
	cpu, hostCPU          time.Duration
	hostCPUUnknown        bool
	beforeMem             runtime.MemStats
	beforeCPU, beforeHost time.Duration
}

// start reads the counters; stop adds what they moved since.
func (m *benchMeter) start() {
	runtime.ReadMemStats(&m.beforeMem)
	m.beforeCPU = benchProcessCPU()
	var err error
	if m.beforeHost, err = benchHostCPU(); err != nil {
		m.hostCPUUnknown = true
	}
}

func (m *benchMeter) stop() {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	m.cpu += benchProcessCPU() - m.beforeCPU
	host, err := benchHostCPU()
	if err != nil {
		m.hostCPUUnknown = true
	}
	m.hostCPU += host - m.beforeHost
	m.mallocs += after.Mallocs - m.beforeMem.Mallocs
	m.allocBytes += after.TotalAlloc - m.beforeMem.TotalAlloc
	m.runs++
}

func (m *benchMeter) report(b *testing.B, w *benchWorkload) {
	if m.runs == 0 {
		return
	}
	n := float64(m.runs) * float64(w.samples)
	wall := b.Elapsed().Seconds()
	b.ReportMetric(n/wall, "samples/s")
	b.ReportMetric(m.cpu.Seconds()/wall, "cores")
	if !m.hostCPUUnknown {
		b.ReportMetric(m.hostCPU.Seconds()/wall, "host-cores")
	}
	b.ReportMetric(float64(m.cpu.Nanoseconds())/n, "CPU-ns/sample")
	b.ReportMetric(float64(m.mallocs)/n, "allocs/sample")
	b.ReportMetric(float64(m.allocBytes)/n, "B/sample")
	b.SetBytes(w.bytes)
}

// benchProcessCPU returns the CPU time, user and system, of this process.
func benchProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchHostCPU returns the CPU time the machine's processors were busy, from
// Linux's /proc/stat.
func benchHostCPU() (time.Duration, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("cpu ")) {
		return 0, fmt.Errorf("/proc/stat: no cpu line")
	}
	// user nice system idle iowait irq softirq steal...: all but idle
	// and iowait, in clock ticks of 1/100s.
	var busy int64
	for i, f := range strings.Fields(string(line))[1:] {
		if i == 3 || i == 4 || i > 7 {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond, nil
}

var benchRunSeq atomic.Int64

// benchPipeline runs one node on brokers over a fresh set of topics and
// storages, and times it into m (see BenchmarkPipeline); with no m, it
// runs without measuring.
func benchPipeline(b *testing.B, w *benchWorkload, brokers []string, m *benchMeter) {
	b.Helper()
	seq := benchRunSeq.Add(1)
	sfx := fmt.Sprintf("-%d", seq)
	kopts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	cfg := benchOptions(b, benchRules)
	cfg.ID = "bench" + sfx
	cfg.Kafka = Kafka{
		Client: kopts, RawTopics: []string{"bench-raw" + sfx}, ShardTopic: "bench-shards" + sfx,
		DeadLetterTopic: "bench-dead-letter" + sfx, RouterGroup: "bench-router" + sfx,
		WindowTopic: "bench-windows" + sfx, SelectionTopic: "bench-selections" + sfx,
	}
	s := newBenchNode(b, cfg)
	defer s.Close()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	if err := s.ensureTopics(ctx); err != nil {
		b.Fatal(err)
	}

	// The primer, committed; then the workload, in a transaction that the
	// router does not see (it reads committed records only) until the
	// clock starts.
	raw := cfg.Kafka.RawTopics[0]
	prod, err := kgo.NewClient(append(kopts, kgo.TransactionalID("bench-load"+sfx), kgo.TransactionTimeout(10*time.Minute))...)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	err = benchProduce(ctx, prod, true, func(produce func(*kgo.Record)) {
		produce(&kgo.Record{Topic: raw, Key: []byte("bench"), Value: w.primer, Headers: benchProtoHeaders})
	})
	if err != nil {
		b.Fatalf("produce the primer: %v", err)
	}
	err = benchProduce(ctx, prod, false, func(produce func(*kgo.Record)) {
		w.each(func(k, v []byte, _ int) {
			produce(&kgo.Record{Topic: raw, Key: k, Value: v, Headers: benchProtoHeaders})
		})
	})
	if err != nil {
		b.Fatalf("produce the workload: %v", err)
	}

	errc := make(chan error, len(s.replicas)+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, r := range s.replicas {
		wg.Go(func() { errc <- r.Run(ctx, cfg.Kafka.ShardTopic, kopts...) })
	}
	wg.Go(func() {
		errc <- s.router.Run(ctx, router.Config{
			RawTopics: cfg.Kafka.RawTopics, Group: cfg.Kafka.RouterGroup, ShardTopic: cfg.Kafka.ShardTopic,
			DeadLetterTopic: cfg.Kafka.DeadLetterTopic, ID: cfg.ID, OnBatch: s.metrics.routerBatch,
		}, kopts...)
	})
	primed := func() bool {
		if benchSamplesIn(s.router.Published()) < 1 {
			return false
		}
		for _, r := range s.replicas {
			if r.Published().Watermarks < 1 {
				return false
			}
		}
		return true
	}
	if err := benchWait(ctx, errc, 2*time.Minute, primed); err != nil {
		b.Fatalf("the primer: %v; router %+v", err, s.router.Published())
	}

	// The closers, one a raw partition (each partition's event time is its
	// own), go once the router has read everything else: a partition's
	// closer read before the rest of it would make that rest late.
	closer, err := kgo.NewClient(append(kopts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	all := uint64(w.samples) + 1 // and the primer
	routed := func() bool { return benchSamplesIn(s.router.Published()) >= all }
	finished := func() bool {
		rt := s.router.Published()
		if benchSamplesIn(rt) < all+uint64(cfg.Shards) {
			return false
		}
		var applied uint64
		for _, r := range s.replicas {
			st := r.Published()
			if st.Watermark < w.closeMs {
				return false
			}
			applied += st.Samples
		}
		return applied >= rt.SamplesOut[cfg.Kafka.ShardTopic]
	}
	stopProfile := func() {}
	if m != nil {
		stopProfile = benchProfile(b, seq)
		runtime.GC()
		m.start()
		b.StartTimer()
	}
	err = prod.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		err = benchWait(ctx, errc, 10*time.Minute, routed)
	}
	if err == nil {
		var recs []*kgo.Record
		for p := range int32(cfg.Shards) { // the raw topic's partitions
			recs = append(recs, &kgo.Record{Topic: raw, Partition: p, Key: []byte("bench"), Value: w.closer, Headers: benchProtoHeaders})
		}
		err = closer.ProduceSync(ctx, recs...).FirstErr()
	}
	if err == nil {
		err = benchWait(ctx, errc, 10*time.Minute, finished)
	}
	if m != nil {
		b.StopTimer()
		m.stop()
	}
	stopProfile()
	if err != nil {
		b.Fatalf("%v; router %+v", err, s.router.Published())
	}

	rt := s.router.Published()
	var late, points, malformed uint64
	for _, r := range s.replicas {
		st := r.Published()
		late += st.Aggregator.Late
		points += st.Points
		malformed += st.Malformed
	}
	if late > 0 || malformed > 0 || len(rt.DeadLetters) > 0 || points == 0 {
		b.Errorf("late %d, malformed %d, dead letters %v, points %d: the workload is not what it should be", late, malformed, rt.DeadLetters, points)
	}
	if m != nil && m.runs == 1 {
		b.Logf("router: %d raw records, %d samples, %d dropped, %d samples out in %d shard records (watermarks included), %d transactions; replicas: %d points stored",
			rt.Records, benchSamplesIn(rt), rt.Dropped, rt.SamplesOut[cfg.Kafka.ShardTopic], rt.RecordsOut[cfg.Kafka.ShardTopic],
			s.metrics.routerBatches.Load(), points)
	}
}

// benchSamplesIn returns the samples the router decoded, of every topic
// and format.
func benchSamplesIn(st router.Stats) uint64 {
	var n uint64
	for _, v := range st.SamplesIn {
		n += v
	}
	return n
}

// benchProduce produces the records that gen gives in one transaction of
// cl, and commits it if commit is set; else the transaction stays open.
func benchProduce(ctx context.Context, cl *kgo.Client, commit bool, gen func(produce func(*kgo.Record))) error {
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		errs error
	)
	gen(func(r *kgo.Record) {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				errs = errors.Join(errs, err)
				mu.Unlock()
			}
		})
	})
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if errs != nil {
		return errs
	}
	if commit {
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	return nil
}

// benchWait polls cond until it holds, a component fails or timeout
// passes. The polling interval, 1ms, is what a run's time may overshoot by.
func benchWait(ctx context.Context, errc <-chan error, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case err := <-errc:
			if err == nil {
				err = errors.New("returned")
			}
			return fmt.Errorf("a component stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", timeout)
		}
	}
	return nil
}

// benchProfile starts the CPU profile of a timed run if
// -pipeline.cpuprofile asks for one, and returns the function that stops
// it.
func benchProfile(b *testing.B, seq int64) func() {
	if *benchPipelineProfile == "" {
		return func() {}
	}
	name := strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())
	f, err := os.Create(fmt.Sprintf("%s.%s.%d", *benchPipelineProfile, name, seq))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("start the CPU profile (give -pipeline.cpuprofile without -cpuprofile): %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkPipelineCore measures tumble's own work per sample on one
// goroutine, without Kafka, on the workload of BenchmarkPipeline: the
// router's Route (protobuf decoding, limits, matching, shard record
// encoding), and the replicas' Apply (shard record decoding, aggregation,
// flushes into storage) of what Route made, with a watermark record every
// 64 raw records.
//
//	go test -run '^$' -bench '^BenchmarkPipelineCore$' -benchtime 1x -count 3 ./shard/node
func BenchmarkPipelineCore(b *testing.B) {
	w := newBenchWorkload(b, benchFleet, *benchPipelineSamples, *benchPipelineRecord)
	var raw [][]byte
	w.each(func(_, v []byte, _ int) { raw = append(raw, v) })
	raw = append(raw, w.closer)
	// route routes the raw records, calling out with each shard record.
	route := func(b *testing.B, s *benchNode, out func(router.Output)) {
		var outs []router.Output
		nowMs := time.Now().UnixMilli()
		routed := int64(shard.NoWatermark)
		for i, v := range raw {
			var err error
			outs, err = s.router.Route("bench-raw", v, sample.FormatProto, nowMs, outs[:0])
			if err != nil {
				b.Fatal(err)
			}
			routed = max(routed, s.router.RecordMax())
			for _, o := range outs {
				out(o)
			}
			if i%64 == 63 || i == len(raw)-1 {
				v := shard.AppendPartitions(nil, "bench", []shard.RawTopic{{Name: "bench-raw", Partitions: 1}},
					[]shard.PartitionWatermark{{Topic: "bench-raw", Partition: 0, Watermark: routed}})
				for p := range s.replicas {
					out(router.Output{Partition: int32(p), Value: v})
				}
			}
		}
	}
	b.Run("stage=route", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			s := newBenchNode(b, benchOptions(b, benchRules))
			b.StartTimer()
			route(b, s, func(router.Output) {})
			b.StopTimer()
			s.Close()
		}
		b.ReportMetric(float64(b.N)*float64(w.samples)/b.Elapsed().Seconds(), "samples/s")
	})
	b.Run("stage=apply", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			s := newBenchNode(b, benchOptions(b, benchRules))
			perShard := make([][][]byte, len(s.replicas))
			route(b, s, func(o router.Output) { perShard[o.Partition] = append(perShard[o.Partition], o.Value) })
			b.StartTimer()
			for p, recs := range perShard {
				for off, v := range recs {
					if err := s.replicas[p].Apply(int64(off), v); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			s.Close()
		}
		b.ReportMetric(float64(b.N)*float64(w.samples)/b.Elapsed().Seconds(), "samples/s")
	})
}

// benchOptions are the options of a benchmark's node: rules from
// rulesPath, 4 shards, storages in a temporary directory, and a minute of
// lateness, as the figures in the README were measured with (windows
// close a minute later, which changes how many trace candidates their
// successors offer). Its Kafka options name no topics.
func benchOptions(b *testing.B, rulesPath string) Options {
	b.Helper()
	rs, err := rules.ParseFile(rulesPath)
	if err != nil {
		b.Fatal(err)
	}
	return Options{
		Rules: rs, Shards: 4, DataDir: b.TempDir(), ID: "bench", Lateness: time.Minute,
		Kafka: Kafka{RawTopics: []string{"bench-raw"}, RouterGroup: "bench-router", ShardTopic: "bench-shards",
			DeadLetterTopic: "bench-dead-letter", WindowTopic: "bench-windows", SelectionTopic: "bench-selections"},
	}
}

// benchNode is a lone node of a benchmark, not running, with its
// replicas and storages at hand.
type benchNode struct {
	*Node
	replicas []*replica.Replica
	dbs      []*storage.DB
}

func newBenchNode(b *testing.B, o Options) *benchNode {
	b.Helper()
	n, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	s := &benchNode{Node: n}
	for _, r := range n.alone {
		s.replicas, s.dbs = append(s.replicas, r.rep), append(s.dbs, r.db)
	}
	return s
}
