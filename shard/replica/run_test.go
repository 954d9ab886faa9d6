package replica

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/syncbuf"
	"github.com/tumblemetrics/tumble/shard"
)

const testTopic = "shards"

// kafka is an in-process broker with the one-partition shard topic.
type kafka struct {
	c   *kfake.Cluster
	adm *kadm.Client
}

func newKafka(t *testing.T) *kafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &kafka{c: c, adm: kadm.NewClient(client(t, c))}
}

// client is a Kafka client of c that produces to the partition a record names.
func client(t *testing.T, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes n watermark records of a router to the shard partition,
// with a client of its own (which knows the topic as it is now).
func (k *kafka) produce(t *testing.T, n int) {
	t.Helper()
	const base = int64(1_767_225_600_000)
	cl := client(t, k.c)
	defer cl.Close()
	for i := range n {
		rec := &kgo.Record{Topic: testTopic, Partition: 0, Value: shard.AppendWatermark(nil, "router-a", base+int64(i)*1000)}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts r.Run against k, logging to the returned buffer; done closes
// when Run returns, with its error in *err; stop ends it and returns that
// error.
func run(t *testing.T, k *kafka, r *Replica) (logs *syncbuf.Buffer, done <-chan struct{}, err *error, stop func() error) {
	t.Helper()
	logs = &syncbuf.Buffer{}
	r.opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	var runErr error
	go func() {
		defer close(ch)
		runErr = r.Run(ctx, testTopic, kgo.SeedBrokers(k.c.ListenAddrs()...))
	}()
	stop = func() error {
		cancel()
		<-ch
		return runErr
	}
	t.Cleanup(func() { stop() })
	return logs, ch, &runErr, stop
}

// waitOffset waits until r has published next as the offset to read.
func waitOffset(t *testing.T, r *Replica, next int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.Published().Offset != next {
		if time.Now().After(deadline) {
			t.Fatalf("replica at offset %d after 10s, want %d", r.Published().Offset, next)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitError waits for Run to stop with an *OffsetsError.
func waitError(t *testing.T, done <-chan struct{}, err *error) *OffsetsError {
	t.Helper()
	select {
	case <-done:
		var oe *OffsetsError
		if !errors.As(*err, &oe) {
			t.Fatalf("Run returned %v, want an *OffsetsError", *err)
		}
		return oe
	case <-time.After(20 * time.Second):
		t.Fatal("Run still runs after 20s, want it stopped with an *OffsetsError")
		return nil
	}
}

// TestRunResumePastEnd: a replica restarted from a position past the end
// of its partition (the shard topic recreated, or truncated) stops at once
// with an error that names the shard, the topic, both offsets and the
// replica's directory, and reads nothing.
func TestRunResumePastEnd(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	recs := workload(t, true)
	for _, tc := range []struct {
		name     string
		produced int
	}{
		{"recreated empty", 0},
		{"truncated", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db, r := open(t, dir)
			for off, b := range recs {
				if err := r.Apply(int64(off), b); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			db, r = open(t, dir)
			defer db.Close()
			resume := r.Resume()
			if resume <= int64(tc.produced) {
				t.Fatalf("the restarted replica resumes at %d, want past %d", resume, tc.produced)
			}

			k := newKafka(t)
			k.produce(t, tc.produced)
			_, done, err, _ := run(t, k, r)
			oe := waitError(t, done, err)
			want := OffsetsError{Shard: 0, Topic: testTopic, Resume: resume, Start: 0, End: int64(tc.produced), Dir: r.opts.Dir}
			if *oe != want {
				t.Fatalf("got %+v, want %+v", *oe, want)
			}
			if st := r.Stats(); st.Records != 0 || st.Offset != resume {
				t.Fatalf("got %d records read, offset %d; want 0 and %d", st.Records, st.Offset, resume)
			}
		})
	}
}

// TestRunRecordsDeleted: a replica whose next records were deleted by
// retention before it read them says so at Error level, counts the gap and
// the records lost, and reads on from the partition's start.
func TestRunRecordsDeleted(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	k := newKafka(t)
	k.produce(t, 10)
	var del kadm.Offsets
	del.AddOffset(testTopic, 0, 6, -1)
	resps, err := k.adm.DeleteRecords(context.Background(), del)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	db, r := open(t, t.TempDir())
	defer db.Close()
	logs, _, _, stop := run(t, k, r)
	waitOffset(t, r, 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := r.Published()
	if st.Gaps != 1 || st.GapRecords != 6 || st.Records != 4 {
		t.Fatalf("got %d gaps of %d records, %d records read; want 1 of 6, 4 read", st.Gaps, st.GapRecords, st.Records)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "records_lost=6") ||
		!strings.Contains(l, "missing_from=0 missing_to=5") {
		t.Fatalf("log:\n%s\nwant an error naming records 0 to 5, 6 lost", l)
	}
}

// TestRunOutOfRange: a fetch out of range while the replica reads makes it
// check the partition's offsets again; with the partition intact, it reads
// on from where it was, nothing lost nor read twice.
func TestRunOutOfRange(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	k := newKafka(t)
	k.produce(t, 5)
	db, r := open(t, t.TempDir())
	defer db.Close()
	logs, _, _, stop := run(t, k, r)
	waitOffset(t, r, 5)
	h := k.c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: testTopic, Err: kerr.OffsetOutOfRange})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 1); err != nil {
		t.Fatalf("no fetch answered out of range: %v", err)
	}
	k.produce(t, 5)
	waitOffset(t, r, 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := r.Published(); st.Records != 10 || st.Gaps != 0 {
		t.Fatalf("got %d records read, %d gaps; want 10, 0", st.Records, st.Gaps)
	}
	if l := logs.String(); !strings.Contains(l, "offsets moved") {
		t.Fatalf("log:\n%s\nwant the out of range fetch told", l)
	}
}

// TestRunTopicRecreated: a shard topic deleted and created again while the
// replica reads it, with fewer records than the replica read, stops the
// replica with an *OffsetsError.
func TestRunTopicRecreated(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	k := newKafka(t)
	k.produce(t, 10)
	db, r := open(t, t.TempDir())
	defer db.Close()
	logs, done, runErr, _ := run(t, k, r)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	waitOffset(t, r, 10)

	ctx := context.Background()
	if _, err := k.adm.DeleteTopic(ctx, testTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := k.adm.CreateTopic(ctx, 1, 1, nil, testTopic); err != nil {
		t.Fatal(err)
	}
	k.produce(t, 2)
	oe := waitError(t, done, runErr)
	if oe.Resume != 10 || oe.End != 2 {
		t.Fatalf("got %+v, want resume 10, end 2", *oe)
	}
}
