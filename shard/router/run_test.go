package router

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
)

const (
	testShardTopic = "shards"
	testDeadTopic  = "dead"
	testShards     = 4
)

// testCluster starts an in-process broker with the shard and dead-letter
// topics and the raw topics, each of its number of partitions.
func testCluster(t *testing.T, raw map[string]int32) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(testShards, testShardTopic), kfake.SeedTopics(1, testDeadTopic)}
	for topic, parts := range raw {
		opts = append(opts, kfake.SeedTopics(parts, topic))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// startRouter runs r in the group "routers" as ID until the test ends or
// stop is called; onBatch, if set, is Config.OnBatch.
func startRouter(t *testing.T, c *kfake.Cluster, r *Router, id string, raw []string, every time.Duration,
	onBatch func(int), opts ...kgo.Opt) (stop func()) {
	t.Helper()
	return startRouterConfig(t, c, r, Config{RawTopics: raw, ID: id, IdleWake: every, OnBatch: onBatch}, opts...)
}

// startRouterConfig is startRouter with the whole Config; the group and
// the topics are the tests'.
func startRouterConfig(t *testing.T, c *kfake.Cluster, r *Router, cfg Config, opts ...kgo.Opt) (stop func()) {
	t.Helper()
	id := cfg.ID
	cfg.Group, cfg.ShardTopic, cfg.DeadLetterTopic = "routers", testShardTopic, testDeadTopic
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, cfg, append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router %s: %v", id, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// produced is a raw record to produce: in a transaction that commits or
// aborts, or in none.
type produced struct {
	rec *kgo.Record
	txn string // "", "commit" or "abort"
}

func raw(topic string, p int32, value []byte, contentType string) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Partition: p, Value: value}
	if contentType != "" {
		rec.Headers = []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(contentType)}}
	}
	return rec
}

// produce writes recs in order, each in a batch of its own, those of a
// transaction in one transaction each.
func produce(t *testing.T, c *kfake.Cluster, recs []produced) {
	t.Helper()
	ctx := context.Background()
	plain := testClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	txn := testClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("raw-producer"))
	for _, p := range recs {
		if p.txn == "" {
			if err := plain.ProduceSync(ctx, p.rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, p.rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(p.txn == "commit")); err != nil {
			t.Fatal(err)
		}
	}
}

// consumeAll counts the records of topic, read committed, up to its end,
// and those of them that are sample records.
func consumeAll(t *testing.T, c *kfake.Cluster, topic string) (records, samples uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(testClient(t, c)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	var dec shard.Decoder
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := testClient(t, c, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d records and partitions %v short of their end", topic, records, left)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset+1 >= left[rec.Partition] {
				delete(left, rec.Partition)
			}
			if rec.Attrs.IsControl() {
				return
			}
			records++
			if len(rec.Value) > 0 && rec.Value[0] == shard.KindSamples {
				var r shard.Record
				if err := dec.Decode(rec.Value, &r); err != nil {
					t.Fatalf("shard record at offset %d: %v", rec.Offset, err)
				}
				samples += uint64(len(r.Samples))
			}
		})
	}
	return records, samples
}

// nonZero returns m without its zero values.
func nonZero[K comparable](m map[K]uint64) map[K]uint64 {
	out := map[K]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestRunKfakeAccounting produces raw records to a broker, runs a router
// over them and checks what it published once it has read them all: what
// it read, by topic and format, as the deterministic core counts the same
// records; what it wrote, as the shard and dead-letter topics hold it; a
// consumer lag of 0 on every partition it read.
func TestRunKfakeAccounting(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	now := time.Now().UnixMilli()
	g := gauges("mem_bytes", 3, now-60_000)
	debug := gauges("debug_x", 2, now-60_000)
	for _, tc := range []struct {
		name string
		raw  map[string]int32 // partitions per raw topic
		recs []produced
	}{
		{
			name: "formats and topics",
			raw:  map[string]int32{"raw-a": 2, "raw-b": 1},
			recs: []produced{
				{rec: raw("raw-a", 0, jsonLines(g), sample.ContentTypeJSON)},
				{rec: raw("raw-a", 1, sample.AppendProto(nil, g[:2]), "")},
				{rec: raw("raw-a", 1, sample.AppendProto(nil, append(debug, g[0])), sample.ContentTypeProto)},
				{rec: raw("raw-b", 0, jsonLines(g[:1]), "")},
				{rec: raw("raw-b", 0, sample.AppendProto(nil, g), "")},
				{rec: raw("raw-a", 0, []byte(`{"name":"x","value":1}`), "")},
				{rec: raw("raw-b", 0, jsonLines(g), "text/plain")},
			},
		},
		{
			name: "transactional producers",
			raw:  map[string]int32{"raw": 2},
			recs: []produced{
				{rec: raw("raw", 0, jsonLines(g), ""), txn: "commit"},
				{rec: raw("raw", 0, sample.AppendProto(nil, g), ""), txn: "abort"},
				{rec: raw("raw", 1, sample.AppendProto(nil, g[:1]), ""), txn: "abort"},
				{rec: raw("raw", 1, sample.AppendProto(nil, g[:2]), ""), txn: "commit"},
				{rec: raw("raw", 1, []byte("\x0a\x05garbage"), ""), txn: "commit"},
				{rec: raw("raw", 0, jsonLines(g[:1]), "")},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster(t, tc.raw)
			produce(t, c, tc.recs)

			// What the deterministic core makes of the records that
			// committed.
			oracle := testRouter(t, testShards)
			var out []Output
			var wantSamples uint64
			want := 0
			for _, p := range tc.recs {
				if p.txn == "abort" {
					continue
				}
				want++
				var f sample.Format
				for _, h := range p.rec.Headers {
					f = sample.ParseFormat(string(h.Value))
				}
				out, _ = oracle.Route(p.rec.Topic, p.rec.Value, f, now, out[:0])
				for _, o := range out {
					wantSamples += uint64(o.Samples)
				}
			}
			wantSt := oracle.Stats()

			// The router, until it has read every record and its
			// position is at the end of every partition.
			r := testRouter(t, testShards)
			caughtUp, closed := make(chan struct{}), false
			topics := slices.Sorted(maps.Keys(tc.raw))
			stop := startRouter(t, c, r, "a", topics, time.Hour, func(int) {
				st := r.Published()
				if closed || st.Records < uint64(want) || len(st.Lag) != len(partitionsOf(tc.recs)) {
					return
				}
				for _, lag := range st.Lag {
					if lag != 0 {
						return
					}
				}
				close(caughtUp)
				closed = true
			})
			select {
			case <-caughtUp:
			case <-time.After(30 * time.Second):
				t.Fatalf("router did not catch up; published %+v", r.Published())
			}
			stop()
			st := r.Published()

			if st.Records != uint64(want) {
				t.Errorf("records: got %d, want %d", st.Records, want)
			}
			if got := nonZero(st.SamplesIn); !maps.Equal(got, wantSt.SamplesIn) {
				t.Errorf("samples in: got %v, want %v", got, wantSt.SamplesIn)
			}
			for _, topic := range topics {
				for _, f := range []sample.Format{sample.FormatJSON, sample.FormatProto} {
					if _, ok := st.SamplesIn[TopicFormat{topic, f}]; !ok {
						t.Errorf("samples in: no %s %v in %v", topic, f, st.SamplesIn)
					}
				}
			}
			if st.Dropped != wantSt.Dropped || !maps.Equal(st.DeadLetters, wantSt.DeadLetters) {
				t.Errorf("dropped and dead letters: got %d %v, want %d %v", st.Dropped, st.DeadLetters, wantSt.Dropped, wantSt.DeadLetters)
			}
			shardRecs, shardSamples := consumeAll(t, c, testShardTopic)
			deadRecs, _ := consumeAll(t, c, testDeadTopic)
			wantOut := map[string]uint64{testShardTopic: shardRecs, testDeadTopic: deadRecs}
			if !maps.Equal(st.RecordsOut, wantOut) {
				t.Errorf("records out: got %v, want %v (the topics' records)", st.RecordsOut, wantOut)
			}
			var dead uint64
			for _, n := range wantSt.DeadLetters {
				dead += n
			}
			if deadRecs != dead || shardSamples != wantSamples {
				t.Errorf("the topics hold %d dead letters and %d shard records with %d samples; want %d dead letters and %d samples",
					deadRecs, shardRecs, shardSamples, dead, wantSamples)
			}
			if wantOut := map[string]uint64{testShardTopic: wantSamples}; !maps.Equal(st.SamplesOut, wantOut) {
				t.Errorf("samples out: got %v, want %v", st.SamplesOut, wantOut)
			}
			wantLag := map[TopicPartition]int64{}
			for tp := range partitionsOf(tc.recs) {
				wantLag[tp] = 0
			}
			if !maps.Equal(st.Lag, wantLag) {
				t.Errorf("lag: got %v, want %v", st.Lag, wantLag)
			}
		})
	}
}

func partitionsOf(recs []produced) map[TopicPartition]bool {
	ps := map[TopicPartition]bool{}
	for _, p := range recs {
		ps[TopicPartition{p.rec.Topic, p.rec.Partition}] = true
	}
	return ps
}

// TestRunKfakeLag has a router read a partition whose records were all
// produced before, a batch a fetch, and checks the lag it publishes after
// every transaction: the records it has not read yet.
func TestRunKfakeLag(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const n = 20
	c := testCluster(t, map[string]int32{"raw": 1})
	g := gauges("mem_bytes", 1, time.Now().UnixMilli())
	var recs []produced
	for range n {
		recs = append(recs, produced{rec: raw("raw", 0, jsonLines(g), "")})
	}
	produce(t, c, recs)

	r := testRouter(t, testShards)
	read, behind := 0, 0
	done := make(chan struct{})
	startRouter(t, c, r, "a", []string{"raw"}, time.Hour, func(records int) {
		read += records
		lag, ok := r.Published().Lag[TopicPartition{"raw", 0}]
		if records > 0 && (!ok || lag != int64(n-read)) {
			t.Errorf("after %d records: got lag %d (%v), want %d", read, lag, ok, n-read)
		}
		if lag > 0 {
			behind++
		}
		if read == n {
			close(done)
		}
	}, kgo.FetchMaxBytes(1))
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("router read %d records of %d", read, n)
	}
	if behind == 0 {
		t.Error("the router never published a lag above 0")
	}
}

// TestRunKfakeRevoked runs a router alone on a raw topic, then a second in
// its group: the partitions the first loses leave its lag, and the two
// publish the lag of every partition once, each that of its own.
func TestRunKfakeRevoked(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const parts = 4
	c := testCluster(t, map[string]int32{"raw": parts})
	g := gauges("mem_bytes", 1, time.Now().UnixMilli())
	round := func() {
		var recs []produced
		for p := range int32(parts) {
			recs = append(recs, produced{rec: raw("raw", p, jsonLines(g), "")})
		}
		produce(t, c, recs)
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a, b := testRouter(t, testShards), testRouter(t, testShards)
	round()
	startRouter(t, c, a, "a", []string{"raw"}, 50*time.Millisecond, nil)
	wait("router a lags on every partition", func() bool { return len(a.Published().Lag) == parts })

	startRouter(t, c, b, "b", []string{"raw"}, 50*time.Millisecond, nil)
	wait("router a loses partitions", func() bool { return len(a.Published().Lag) < parts })
	round()
	// Each has routed the second round on its partitions.
	wait("both routers lag on their partitions, by nothing", func() bool {
		la, lb := a.Published().Lag, b.Published().Lag
		for _, lag := range la {
			if lag != 0 {
				return false
			}
		}
		for _, lag := range lb {
			if lag != 0 {
				return false
			}
		}
		return len(la)+len(lb) == parts && len(lb) > 0
	})
	la, lb := a.Published().Lag, b.Published().Lag
	for tp, lag := range la {
		if _, ok := lb[tp]; ok || lag != 0 {
			t.Errorf("lag of %v: a %d, b %d (%v); want 0 in one of them", tp, lag, lb[tp], ok)
		}
	}
	for tp, lag := range lb {
		if lag != 0 {
			t.Errorf("lag of %v: b %d, want 0", tp, lag)
		}
	}
	if a.Published().Records+b.Published().Records < 2*parts {
		t.Errorf("records read: a %d, b %d, want %d or more in all", a.Published().Records, b.Published().Records, 2*parts)
	}
}

// TestRunWatermarkWithSamples routes two batches in two transactions, the
// second before a watermark would be due by time, and stops the router: the
// shard partitions must already hold a watermark covering the second batch,
// since a successor does not read those samples again and could never write
// it.
func TestRunWatermarkWithSamples(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testCluster(t, map[string]int32{"raw": 1})
	ts := time.Now().UnixMilli()
	r := testRouter(t, testShards)
	batches := make(chan int, 2)
	stop := startRouter(t, c, r, "a", []string{"raw"}, time.Hour, func(records int) {
		if records > 0 {
			batches <- records
		}
	})
	for i, at := range []int64{ts - 60_000, ts} {
		produce(t, c, []produced{{rec: raw("raw", 0, jsonLines(gauges("mem_bytes", 3, at)), "")}})
		select {
		case <-batches:
		case <-time.After(20 * time.Second):
			t.Fatalf("batch %d not routed", i)
		}
	}
	stop()

	cl := testClient(t, c, kgo.ConsumeTopics(testShardTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(testClient(t, c)).ListEndOffsets(ctx, testShardTopic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { left[o.Partition] = o.Offset })
	highest := map[int32]int64{}
	var dec shard.Decoder
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("shard partitions %v short of their end", left)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset+2 >= left[rec.Partition] { // the last is a commit marker
				delete(left, rec.Partition)
			}
			var sr shard.Record
			if err := dec.Decode(rec.Value, &sr); err != nil {
				t.Fatalf("shard record at offset %d: %v", rec.Offset, err)
			}
			if sr.Kind == shard.KindPartitions {
				for _, w := range sr.Partitions {
					if w.Topic == "raw" && w.Partition == 0 {
						highest[rec.Partition] = max(highest[rec.Partition], w.Watermark)
					}
				}
			}
		})
	}
	for p := range int32(testShards) {
		if highest[p] != ts {
			t.Errorf("shard %d: highest watermark of raw/0 %d, want %d (the second batch's)", p, highest[p], ts)
		}
	}
}

// TestRunAbortsPredecessorTransaction: a router killed mid-transaction
// leaves it open, and readers of the shard partitions (read committed)
// cannot pass it. Restarted, even with nothing to route, the router claims
// its transactional ID at once, which aborts it.
func TestRunAbortsPredecessorTransaction(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testCluster(t, map[string]int32{"raw": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dead := testClient(t, c, kgo.TransactionalID("tumble-router-a"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := dead.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := dead.ProduceSync(ctx, &kgo.Record{Topic: testShardTopic, Partition: 0, Value: []byte("left open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	other := testClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := other.ProduceSync(ctx, &kgo.Record{Topic: testShardTopic, Partition: 0, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reader := testClient(t, c, kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testShardTopic: {0: kgo.NewOffset().AtStart()}}))
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if n := reader.PollFetches(pctx).NumRecords(); n != 0 {
		t.Fatalf("read %d records past an open transaction", n)
	}
	pcancel()

	stop := startRouter(t, c, testRouter(t, testShards), "a", []string{"raw"}, 50*time.Millisecond, nil)
	defer stop()
	for {
		fs := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the shard partition stayed blocked by the predecessor's transaction")
		}
		var vals []string
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
		if len(vals) > 0 {
			if !slices.Equal(vals, []string{"after"}) {
				t.Fatalf("read %q, want only the record after the aborted transaction", vals)
			}
			return
		}
	}
}

// TestRunLeave: a router that stops for good leaves the routers' group at
// once, so that its raw partitions go to another router well before the
// group's session timeout; one that stops to restart stays a member.
func TestRunLeave(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testCluster(t, map[string]int32{"raw": 1})
	ts := time.Now().UnixMilli()
	routed := make(chan string, 16)
	start := func(id string, leave bool) func() {
		return startRouterConfig(t, c, testRouter(t, testShards), Config{RawTopics: []string{"raw"}, ID: id,
			IdleWake: 50 * time.Millisecond, LeaveOnStop: func() bool { return leave },
			OnBatch: func(n int) {
				if n > 0 {
					routed <- id
				}
			}})
	}
	wait := func(what string) string {
		select {
		case id := <-routed:
			return id
		case <-time.After(20 * time.Second): // well below the session timeout of 45s
			t.Fatalf("%s: nothing routed", what)
			return ""
		}
	}
	stopGoes := start("goes", true)
	produce(t, c, []produced{{rec: raw("raw", 0, jsonLines(gauges("mem_bytes", 3, ts)), "")}})
	if id := wait("the first record"); id != "goes" {
		t.Fatalf("the first record was routed by %s, want goes (the only router)", id)
	}
	start("stays", false)
	stopGoes()
	produce(t, c, []produced{{rec: raw("raw", 0, jsonLines(gauges("mem_bytes", 3, ts+1000)), "")}})
	if id := wait("the record after goes left"); id != "stays" {
		t.Fatalf("the record after goes left was routed by %s, want stays", id)
	}
}

// TestRunPartitionWatermarks routes a backlog of four raw partitions whose
// event times lie far apart, keyed as producers key series, and reads the
// shard log as a replica does: the shard's watermark (the smallest over the
// partitions the records name) must never pass a sample that comes after
// it, and once every partition is read and quiet it follows the clock.
func TestRunPartitionWatermarks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const parts = 4
	c := testCluster(t, map[string]int32{"raw": parts})
	now := time.Now().UnixMilli()
	var recs []produced
	for i := range 30 {
		for p := range int32(parts) {
			// Partition p is p*10 minutes behind partition 0.
			ts := now - int64(p)*10*60_000 - int64(30-i)*1000
			recs = append(recs, produced{rec: raw("raw", p, jsonLines(gauges("mem_bytes", 5, ts)), "")})
		}
	}
	produce(t, c, recs)
	// Small fetches: the backlog is read a few records at a time, the
	// partitions side by side.
	startQuickRouter(t, c, kgo.FetchMaxPartitionBytes(1000), kgo.FetchMaxBytes(2000))
	if samples := followShard0(t, c, parts, now-2000); samples < 30*parts*5/testShards/2 {
		t.Errorf("shard 0 got %d samples, want about %d", samples, 30*parts*5/testShards)
	}
}

// TestRunQuietPartitions: of three raw partitions, one holds a sample and
// two are empty; once all are read and quiet, the watermark follows the
// clock, and the single sample's window can close.
func TestRunQuietPartitions(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testCluster(t, map[string]int32{"raw": 3})
	now := time.Now().UnixMilli()
	produce(t, c, []produced{{rec: raw("raw", 1, jsonLines(gauges("mem_bytes", 1, now-60_000)), "")}})
	startQuickRouter(t, c)
	followShard0(t, c, 3, now-2000)
}

// startQuickRouter runs a router over the topic "raw" whose partitions go
// idle after 300ms and whose samples may be 2s ahead of its clock.
func startQuickRouter(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) {
	t.Helper()
	rs, err := rules.Parse("test.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	limits := sample.DefaultLimits()
	limits.MaxFuture = 2 * time.Second
	r, err := New(rs, testShards, limits)
	if err != nil {
		t.Fatal(err)
	}
	startRouterConfig(t, c, r, Config{RawTopics: []string{"raw"}, ID: "a", IdleWake: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, opts...)
}

// followShard0 reads shard 0's log as a replica does until the shard's
// watermark, the smallest over the parts partitions of the raw topic
// "raw", reaches until. It fails if a sample comes after the watermark
// passed it, and returns the samples read.
func followShard0(t *testing.T, c *kfake.Cluster, parts int32, until int64) (samples int) {
	t.Helper()
	cl := testClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testShardTopic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dec shard.Decoder
	wms := map[TopicPartition]int64{}
	shardWM := func() int64 {
		if len(wms) < int(parts) {
			return shard.NoWatermark
		}
		return slices.Min(slices.Collect(maps.Values(wms)))
	}
	for shardWM() < until {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the shard watermark %d did not reach %d (%d samples read, partitions %v)", shardWM(), until, samples, wms)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var sr shard.Record
			if err := dec.Decode(rec.Value, &sr); err != nil {
				t.Fatalf("shard record at offset %d: %v", rec.Offset, err)
			}
			switch sr.Kind {
			case shard.KindSamples:
				for _, e := range sr.Samples {
					samples++
					if wm := shardWM(); e.Sample.TimestampMs <= wm {
						t.Fatalf("offset %d: a sample at %d after the shard watermark reached %d (partitions %v)", rec.Offset, e.Sample.TimestampMs, wm, wms)
					}
				}
			case shard.KindPartitions:
				if len(sr.Topics) != 1 || sr.Topics[0] != (shard.RawTopic{Name: "raw", Partitions: parts}) {
					t.Fatalf("offset %d: topics %v, want raw of %d partitions", rec.Offset, sr.Topics, parts)
				}
				for _, w := range sr.Partitions {
					tp := TopicPartition{w.Topic, w.Partition}
					if old, ok := wms[tp]; !ok || w.Watermark > old {
						wms[tp] = w.Watermark
					}
				}
			}
		})
	}
	return samples
}

// TestRunOneBadSample: of a raw record of 500 samples, one from too far in
// the future and one of an invalid name go to the dead-letter topic, each
// alone with its reason and position; the other 498 are routed.
func TestRunOneBadSample(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := testCluster(t, map[string]int32{"raw": 1})
	now := time.Now().UnixMilli()
	ss := gauges("mem_bytes", 500, now)
	for i := range ss {
		ss[i].Labels = sample.FromMap(map[string]string{"i": strconv.Itoa(i)})
	}
	ss[137].TimestampMs = now + 9*60_000
	ss[401].Name = "mem.bytes"
	produce(t, c, []produced{{rec: raw("raw", 0, sample.AppendProto(nil, ss), sample.ContentTypeProto)}})
	r := testRouter(t, testShards)
	batches := make(chan int, 1)
	startRouter(t, c, r, "a", []string{"raw"}, 50*time.Millisecond, func(n int) {
		if n > 0 {
			batches <- n
		}
	})
	select {
	case <-batches:
	case <-time.After(20 * time.Second):
		t.Fatal("the record was not routed")
	}
	if _, samples := consumeAll(t, c, testShardTopic); samples != 498 {
		t.Errorf("%d samples routed, want 498", samples)
	}
	cl := testClient(t, c, kgo.ConsumeTopics(testDeadTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < 2 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead letters %v, want two", got)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			h := map[string]string{}
			for _, kv := range rec.Headers {
				h[kv.Key] = string(kv.Value)
			}
			one, err := sample.DecodeRecord(rec.Value, sample.ParseFormat(h[sample.ContentTypeHeader]), nil)
			if err == nil || len(one) != 0 {
				// A sample that breaks a limit decodes: check it is
				// the one refused.
				if len(one) != 1 || one[0].TimestampMs != ss[137].TimestampMs {
					t.Errorf("dead letter at position %s holds %v, want the one sample refused", h[sample.HeaderPosition], one)
				}
			}
			got[h[sample.HeaderPosition]] = h[sample.HeaderReason]
		})
	}
	want := map[string]string{"137": sample.CodeTimestampInFuture, "401": sample.CodeBadField}
	if !maps.Equal(got, want) {
		t.Errorf("dead letters by position %v, want %v", got, want)
	}
	if st := r.Published(); st.DeadLetters[sample.CodeTimestampInFuture] != 1 || st.DeadLetters[sample.CodeBadField] != 1 {
		t.Errorf("dead letters counted %v", nonZero(st.DeadLetters))
	}
}
