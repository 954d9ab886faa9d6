package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestProduceConsumeCommit runs a real broker: 1000 records go into a topic
// of three partitions and come back through a consumer group that commits
// what it has read.
func TestProduceConsumeCommit(t *testing.T) {
	const (
		topic      = "samples"
		group      = "shards"
		partitions = 3
		records    = 1000
	)
	b := Start(t)
	b.CreateTopic(t, topic, partitions)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	producer := b.Client(t, kgo.DefaultProduceTopic(topic))
	batch := make([]*kgo.Record, 0, records)
	for i := range records {
		batch = append(batch, &kgo.Record{
			Key:   fmt.Appendf(nil, "series-%d", i%97),
			Value: strconv.AppendInt(nil, int64(i), 10),
		})
	}
	if err := producer.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", records, err)
	}

	consumer := b.Client(t,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	seen := make(map[int]bool, records)
	last := map[int32]int{} // per partition, the last value read: values rise within one
	perPartition := map[int32]int{}
	for len(seen) < records {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d distinct records of %d before %v", len(seen), records, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			v, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("record value %q: %v", r.Value, err)
			}
			if seen[v] {
				t.Errorf("record %d read twice", v)
			}
			if l, ok := last[r.Partition]; ok && v <= l {
				t.Errorf("partition %d: record %d after %d", r.Partition, v, l)
			}
			seen[v], last[r.Partition] = true, v
			perPartition[r.Partition]++
		})
		if err := consumer.CommitRecords(ctx, fetches.Records()...); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if got := len(perPartition); got != partitions {
		t.Errorf("records came from %d partitions (%v), want %d", got, perPartition, partitions)
	}

	adm := kadm.NewClient(b.Client(t))
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	var total int64
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Errorf("committed offset of partition %d: %v", o.Partition, o.Err)
		}
		total += o.At
		if want := int64(perPartition[o.Partition]); o.At != want {
			t.Errorf("partition %d: committed offset %d, want %d", o.Partition, o.At, want)
		}
	})
	if total != records {
		t.Errorf("committed offsets add up to %d, want %d", total, records)
	}
}

// TestStartFailureShowsLog runs start with a stand-in for java, so that the
// broker fails the same way every time, fast.
func TestStartFailureShowsLog(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{
			name: "broker exits",
			script: `for a; do case $a in kafka.Kafka)
	echo "INFO starting"; echo "ERROR Exiting Kafka: no broker here" >&2; exit 1;; esac; done`,
			want: []string{"broker exited before it answered: exit status 1", "last lines of", "broker.log", "INFO starting", "ERROR Exiting Kafka: no broker here"},
		},
		{
			name: "broker never answers",
			script: `for a; do case $a in kafka.Kafka)
	echo "INFO waiting for the controller"; exec sleep 60;; esac; done`,
			want: []string{"did not answer a metadata request within 1s", "last lines of", "INFO waiting for the controller"},
		},
		{
			name: "ports taken every time",
			script: `for a; do case $a in kafka.Kafka)
	echo "ERROR java.net.BindException: Address already in use"; exit 1;; esac; done`,
			want: []string{"start broker 3 times: broker exited", "a listener port was taken", "node-3/broker.log", "Address already in use"},
		},
		{
			name:   "format fails",
			script: `echo "Invalid value x for configuration num.io.threads"; exit 1`,
			want:   []string{"format broker storage: exit status 1", "Invalid value x for configuration num.io.threads"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.startTimeout = time.Second
			c.libs = t.TempDir()
			c.java = filepath.Join(t.TempDir(), "java")
			if err := os.WriteFile(c.java, []byte("#!/bin/sh\n"+tt.script+"\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := start(t.Context(), c, t.TempDir())
			if err == nil {
				b.stop()
				t.Fatal("start succeeded with a java that runs no broker")
			}
			if se := (*startError)(nil); !errors.As(err, &se) {
				t.Errorf("error %T, want a *startError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestFindLibsNamesMakeKafka(t *testing.T) {
	root := t.TempDir()
	if _, err := findLibs(root); err == nil || !strings.Contains(err.Error(), "make kafka") {
		t.Errorf("findLibs without the jars: %v, want an error naming `make kafka`", err)
	}
	stamp := filepath.Join(root, ".cache", "kafka", "stamp")
	if err := os.MkdirAll(filepath.Dir(stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := findLibs(root)
	if want := filepath.Join(root, ".cache", "kafka", "libs"); got != want || err != nil {
		t.Errorf("findLibs with the stamp: %q, %v, want %q, nil", got, err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string // "" when valid
	}{
		{"defaults", nil, ""},
		{"a property", []Option{Property("log.retention.ms", "60000")}, ""},
		{"zero timeout", []Option{StartTimeout(0)}, "StartTimeout 0s: must be positive"},
		{"managed key", []Option{Property("listeners", "PLAINTEXT://:9092")}, `Property "listeners": set by kafkatest itself`},
		{"key with '='", []Option{Property("a=b", "c")}, `Property "a=b"`},
		{"value on two lines", []Option{Property("a", "b\nc")}, "must fit on one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			for _, o := range tt.opts {
				o(&c)
			}
			err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestServerProperties(t *testing.T) {
	c := defaultConfig()
	Property("num.partitions", "4")(&c)
	got := serverProperties(c.props, 9092, 9093, "/tmp/x")
	for _, want := range []string{
		"process.roles=broker,controller\n",
		"node.id=1\n",
		"controller.quorum.voters=1@127.0.0.1:9093\n",
		"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n",
		"advertised.listeners=PLAINTEXT://127.0.0.1:9092\n",
		"log.dirs=/tmp/x\n",
		"offsets.topic.replication.factor=1\n",
		"auto.create.topics.enable=false\n",
		"num.partitions=4\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("server.properties:\n%s\nwant a line %q", got, want)
		}
	}
	if strings.Contains(got, "\nnum.partitions=1\n") {
		t.Errorf("server.properties:\n%s\nkeeps the default num.partitions under Property's", got)
	}
}

func TestClusterID(t *testing.T) {
	for range 1000 {
		id, err := clusterID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || id[0] == '-' {
			t.Fatalf("clusterID() = %q, want 22 characters not starting with '-'", id)
		}
	}
}

// TestRestart: a broker stopped as by a crash and started again keeps the
// records it acknowledged, on the same address.
func TestRestart(t *testing.T) {
	b := Start(t)
	b.CreateTopic(t, "kept", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("kept"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("a stopped broker took a connection")
	}
	b.Restart(t)
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
	rd := b.Client(t, kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		fs := rd.PollFetches(ctx)
		cancel()
		if fs.Err0() != nil {
			t.Fatalf("consume: %v (got %q)", fs.Err0(), got)
		}
		for _, r := range fs.Records() {
			got = append(got, string(r.Value))
		}
	}
	if got[0] != "before" || got[len(got)-1] != "after" {
		t.Errorf("got %q, want before … after", got)
	}
}
