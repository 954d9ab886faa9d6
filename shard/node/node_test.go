package node

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// TestAlone runs a lone node of 4 shards on an in-process broker: two
// minutes of the generated fleet, keyed by pod over the raw topic's 4
// partitions, then a closer in each partition. Every replica stores the
// points the offline replay computes from the same samples, the queryable
// reads them, the node's metrics are on the registry it was given, and
// Close leaves no goroutine behind.
func TestAlone(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs, err := rules.ParseFile("../../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kopts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	reg := prometheus.NewRegistry()
	n, err := New(Options{
		Rules: rs, Shards: 4, DataDir: t.TempDir(), ID: "alone",
		Kafka: Kafka{Client: kopts, RawTopics: []string{"raw"}, RouterGroup: "routers", ShardTopic: "shards",
			DeadLetterTopic: "dead", WindowTopic: "windows", SelectionTopic: "selections"},
		EventTime:  EventTime{IdleTimeout: time.Hour}, // the closers close the windows
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatal(err)
	}

	now := time.Now().UnixMilli()
	start := now - now%60_000 - 6*60_000
	g := loadgen.New(loadgen.Config{Seed: 3, StartMs: start, TickMs: 1000})
	var all []sample.Sample
	var recs []*kgo.Record
	for range 120 {
		batch := g.Tick(nil)
		all = append(all, batch...)
		loadgen.PodRuns(batch, 0, func(pod string, run []sample.Sample) {
			recs = append(recs, &kgo.Record{Topic: "raw", Key: []byte(pod), Value: sample.AppendProto(nil, run),
				Headers: []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeProto)}}})
		})
	}
	for p := range int32(4) {
		closer := sample.Sample{Name: "debug_closer", Type: sample.Gauge, Value: 1, TimestampMs: start + 5*60_000}
		recs = append(recs, &kgo.Record{Topic: "raw", Partition: p, Value: sample.AppendJSON(nil, &closer)})
	}
	cl, err := kgo.NewClient(append(kopts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	manual, err := kgo.NewClient(append(kopts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	if err := cl.ProduceSync(ctx, recs[:len(recs)-4]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := manual.ProduceSync(ctx, recs[len(recs)-4:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var in bytes.Buffer
	for i := range all {
		in.Write(sample.AppendJSON(nil, &all[i]))
		in.WriteByte('\n')
	}
	sum, err := replay.Run(rs, &in, &bytes.Buffer{}, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// Wait while the replicas store points, until they hold the replay's.
	var stored uint64
	moved := time.Now()
	for stored < sum.Points {
		if time.Since(moved) > time.Minute {
			t.Fatalf("the replicas stored %d points and stopped for a minute; the replay computed %d; replicas %+v", stored, sum.Points, n.Replicas())
		}
		time.Sleep(50 * time.Millisecond)
		var now uint64
		for _, r := range n.replicas() {
			now += r.rep.Published().Points
		}
		if now != stored {
			stored, moved = now, time.Now()
		}
	}
	if stored != sum.Points {
		t.Errorf("points stored: got %d, want %d (the replay's)", stored, sum.Points)
	}
	if reps := n.Replicas(); len(reps) != 4 || reps[3].Shard != 3 || reps[0].EmittedMs == nil || *reps[0].EmittedMs < start+3*60_000 {
		t.Errorf("replicas: got %+v, want 4 by shard, each past the last window", reps)
	}
	if _, err := n.ClusterStatus(ctx); err != ErrAlone {
		t.Errorf("cluster status alone: got %v, want %v", err, ErrAlone)
	}

	q, err := n.Queryable().Querier(start, now+300_000)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "http_request_duration_seconds_by_route"))
	series := 0
	for ss.Next() {
		series++
	}
	if err := ss.Err(); err != nil || series == 0 {
		t.Errorf("series of http_request_duration_seconds_by_route: got %d (%v), want some", series, err)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"tumble_router_records_total", "tumble_replica_points_stored_total", "tumble_storage_points"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("registry lacks %s: has %v", want, names)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	rs, err := rules.ParseFile("../../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := Options{Rules: rs, Shards: 4, DataDir: "d", ID: "a",
		Kafka: Kafka{RawTopics: []string{"raw"}, RouterGroup: "g", ShardTopic: "s", DeadLetterTopic: "dl", WindowTopic: "w", SelectionTopic: "sel"}}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string // in the error; "" for none
	}{
		{"good", func(*Options) {}, ""},
		{"no rules", func(o *Options) { o.Rules = nil }, "Rules: required"},
		{"no shards", func(o *Options) { o.Shards = 0 }, "Shards 0"},
		{"no data", func(o *Options) { o.DataDir = "" }, "DataDir: required"},
		{"no ID", func(o *Options) { o.ID = "" }, "ID: required"},
		{"no raw topic", func(o *Options) { o.Kafka.RawTopics = nil }, "Kafka.RawTopics"},
		{"no window topic", func(o *Options) { o.Kafka.WindowTopic = "" }, "Kafka.WindowTopic: required"},
		{"cluster without etcd", func(o *Options) {
			o.Cluster = &Cluster{Node: "a", GRPCAddr: "x:1", SessionTTL: time.Second, MaxLag: 1}
		}, "Cluster.Etcd"},
		{"cluster with a bad node", func(o *Options) {
			o.Cluster = &Cluster{Etcd: []string{"e:1"}, Node: "a b", GRPCAddr: "x:1", SessionTTL: time.Second, MaxLag: 1}
		}, "Cluster.Node"},
		{"good cluster", func(o *Options) {
			o.Cluster = &Cluster{Etcd: []string{"e:1"}, Node: "a", GRPCAddr: "x:1", SessionTTL: time.Second, MaxLag: 1}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.change(&o)
			err := o.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
