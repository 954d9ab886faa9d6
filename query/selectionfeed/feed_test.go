package selectionfeed

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tumblemetrics/tumble/flush/selection"
)

const (
	testTopic      = "tumble-selections"
	testPartitions = 3
	// waitLimit bounds every test's watches: far above what they take
	// (a few seconds at most), for slow machines.
	waitLimit = 30 * time.Second
)

// errDone ends a watch that has seen what its test wants.
var errDone = errors.New("the watch has seen every selection it waits for")

// feed is a Kafka cluster with the selections topic, a transactional
// writer of it, the Server on a real gRPC server and a client connection
// to that server, all owned by one test.
type feed struct {
	t        *testing.T
	cluster  *kfake.Cluster
	writer   *kgo.Client
	srv      *Server
	addr     string
	conn     *grpc.ClientConn
	stop     func()                         // stops the current gRPC server and waits for it
	active   atomic.Int32                   // Watch handlers running on the gRPC servers
	produced map[string]selection.Selection // every selection written, by trace ID
	seq      int                            // of the last trace ID made
}

// newFeed starts a feed for t; once t ends, everything is stopped and no
// goroutine may be left.
func newFeed(t *testing.T) *feed {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, once everything is gone
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, testTopic))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	f := &feed{t: t, cluster: c, produced: map[string]selection.Selection{}}
	seed := kgo.SeedBrokers(c.ListenAddrs()...)
	f.writer, err = kgo.NewClient(seed, kgo.TransactionalID("selections-writer"), kgo.DefaultProduceTopic(testTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("create the writer: %v", err)
	}
	t.Cleanup(f.writer.Close)
	f.srv = NewServer(testTopic, nil, seed, kgo.FetchMaxWait(200*time.Millisecond))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f.addr = lis.Addr().String()
	f.serve(lis)
	f.conn, err = grpc.NewClient("passthrough:///"+f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond}}))
	if err != nil {
		t.Fatalf("create the gRPC client of %s: %v", f.addr, err)
	}
	t.Cleanup(func() { f.conn.Close() })
	return f
}

// serve serves the feed's Server on lis until f.stop is called or the
// test ends.
func (f *feed) serve(lis net.Listener) {
	gs := grpc.NewServer(grpc.WaitForHandlers(true), grpc.StreamInterceptor(
		func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			f.active.Add(1)
			defer f.active.Add(-1)
			return handler(srv, ss)
		}))
	f.srv.Register(gs)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			gs.Stop()
			if err := <-done; err != nil {
				f.t.Errorf("serve gRPC on %s: %v", lis.Addr(), err)
			}
		})
	}
	f.t.Cleanup(f.stop)
}

// restart stops the gRPC server and serves again on the same address.
func (f *feed) restart() {
	f.t.Helper()
	f.stop()
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatalf("listen again on %s: %v", f.addr, err)
	}
	f.serve(lis)
}

// context returns a context for the test's watches, canceled before the
// feed stops.
func (f *feed) context() context.Context {
	ctx, cancel := context.WithTimeout(f.t.Context(), waitLimit)
	f.t.Cleanup(cancel)
	return ctx
}

// make returns n new valid selections of reason, each with its own trace ID.
func (f *feed) make(reason string, n int) []selection.Selection {
	sels := make([]selection.Selection, n)
	for i := range sels {
		f.seq++
		sels[i] = selection.Selection{
			TraceID: fmt.Sprintf("%032x", f.seq), Reason: reason,
			Name: "http_request_duration_seconds", Labels: map[string]string{"route": fmt.Sprintf("/r%d", f.seq)},
			Aggregation: "P99", Policy: "10s:2d", StartMs: 1763800000000, EndMs: 1763800010000,
			Value: 0.5, SampleValue: float64(f.seq), SampleMs: 1763800004211,
			Rule: "http latency by route", Shard: int32(f.seq % 4), Leader: "node-a", Term: 7,
		}
	}
	return sels
}

// write writes sels in one transaction, sels[i] to partition i%3, keyed
// by trace ID, and commits it or aborts it. A transaction of three
// selections or more that it commits ends every partition.
func (f *feed) write(ctx context.Context, commit bool, sels ...selection.Selection) {
	f.t.Helper()
	recs := make([]*kgo.Record, len(sels))
	for i := range sels {
		if err := sels[i].Valid(); err != nil {
			f.t.Fatalf("the test makes an invalid selection: %v", err)
		}
		f.produced[sels[i].TraceID] = sels[i]
		recs[i] = &kgo.Record{Key: sels[i].Key(), Value: sels[i].Encode(), Partition: int32(i % testPartitions)}
	}
	if err := f.writer.BeginTransaction(); err != nil {
		f.t.Fatalf("begin a transaction: %v", err)
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := f.writer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = f.writer.EndTransaction(ctx, kgo.TryAbort) // the produce error is the one to report
		f.t.Fatalf("produce %d selections: %v", len(recs), err)
	}
	if err := f.writer.EndTransaction(ctx, end); err != nil {
		f.t.Fatalf("end a transaction of %d selections (commit %t): %v", len(recs), commit, err)
	}
}

// endOffsets returns the high watermark of every partition.
func (f *feed) endOffsets(ctx context.Context) []int64 {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.ListenAddrs()...))
	if err != nil {
		f.t.Fatalf("create an admin client: %v", err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, testTopic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		f.t.Fatalf("list the end offsets of %s: %v", testTopic, err)
	}
	ends := make([]int64, testPartitions)
	offs.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// collector is the state of the fn of a watch: what it was given.
type collector struct {
	f       *feed
	got     map[string]int // trace IDs given, with how many times
	calls   int
	starts  int // calls with no selection: the first, and one for each reconnection
	batches []int
	first   string   // the token of the first call
	last    position // of the last token
}

func (f *feed) collector() *collector { return &collector{f: f, got: map[string]int{}} }

// add records a call of fn. It fails when a selection is not one written
// or a token does not parse or goes back.
func (c *collector) add(sels []selection.Selection, token string) error {
	pos, err := parseToken(token, testTopic)
	if err != nil {
		return fmt.Errorf("call %d: token %q: %w", c.calls, token, err)
	}
	if len(pos.next) != testPartitions {
		return fmt.Errorf("call %d: token of %d partitions, want %d", c.calls, len(pos.next), testPartitions)
	}
	if c.calls == 0 {
		c.first = token
	} else {
		for p := range pos.next {
			if pos.next[p] < c.last.next[p] {
				return fmt.Errorf("call %d: token goes back to %v from %v", c.calls, pos.next, c.last.next)
			}
		}
	}
	c.calls++
	c.last = pos
	if len(sels) == 0 {
		c.starts++
		return nil
	}
	c.batches = append(c.batches, len(sels))
	for _, s := range sels {
		want, ok := c.f.produced[s.TraceID]
		if !ok {
			return fmt.Errorf("call %d: selection %+v was never written", c.calls, s)
		}
		if !reflect.DeepEqual(s, want) {
			return fmt.Errorf("call %d: got selection %+v, want %+v", c.calls, s, want)
		}
		c.got[s.TraceID]++
	}
	return nil
}

// seen reports whether every trace ID of want was given at least once.
func seen(got map[string]int, want []selection.Selection) bool {
	for _, s := range want {
		if got[s.TraceID] == 0 {
			return false
		}
	}
	return true
}

// until is the fn of a watch that collects until it has seen want.
func (c *collector) until(want []selection.Selection) func([]selection.Selection, string) error {
	return func(sels []selection.Selection, token string) error {
		if err := c.add(sels, token); err != nil {
			return err
		}
		if seen(c.got, want) {
			return errDone
		}
		return nil
	}
}

// diff describes how the trace IDs got differ from the multiset of want
// (each once), or returns "".
func diff(got map[string]int, want []selection.Selection) string {
	wanted := map[string]int{}
	for _, s := range want {
		wanted[s.TraceID]++
	}
	var missing, dup, extra []string
	for _, id := range slices.Sorted(maps.Keys(wanted)) {
		switch n := got[id]; {
		case n < wanted[id]:
			missing = append(missing, id)
		case n > wanted[id]:
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(got)) {
		if wanted[id] == 0 {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(dup)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, more than once %v, unwanted %v", missing, dup, extra)
}

// merge returns the sum of the counts.
func merge(counts ...map[string]int) map[string]int {
	all := map[string]int{}
	for _, c := range counts {
		for id, n := range c {
			all[id] += n
		}
	}
	return all
}

// checkDone fails t unless the watch ended with errDone.
func (c *collector) checkDone(t *testing.T, err error, want []selection.Selection) {
	t.Helper()
	if !errors.Is(err, errDone) {
		t.Fatalf("Watch returned %v after %d calls, before seeing every selection: %s", err, c.calls, diff(c.got, want))
	}
}

// TestWatchFromStart: a watch from the start sees every committed final
// selection once, never an aborted one, and the candidates only when it
// asks for them.
func TestWatchFromStart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		candidates bool
	}{
		{"finals", false},
		{"finals and candidates", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t)
			ctx := f.context()
			finals, candidates := f.make(selection.Final, 5), f.make(selection.Candidate, 4)
			aborted := append(f.make(selection.Final, 4), f.make(selection.Candidate, 2)...)
			last := f.make(selection.Final, 6)
			f.write(ctx, true, append(slices.Clone(finals[:2]), candidates...)...)
			f.write(ctx, false, aborted...)
			f.write(ctx, true, finals[2:]...)
			f.write(ctx, true, last...)
			want := append(slices.Clone(finals), last...)
			if tc.candidates {
				want = append(want, candidates...)
			}

			c := f.collector()
			err := Watch(ctx, f.conn, WatchOptions{FromStart: true, Candidates: tc.candidates}, c.until(want))
			c.checkDone(t, err, want)
			if d := diff(c.got, want); d != "" {
				t.Errorf("the watch got %s", d)
			}
			if c.starts != 1 {
				t.Errorf("fn called %d times with no selection, want once (the start)", c.starts)
			}
		})
	}
}

// TestWatchResume: a watcher that fails after two batches and resumes
// with the token of the last call it handled sees, over both watches,
// every selection once, including those written while it was away.
func TestWatchResume(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	txns := [][]selection.Selection{f.make(selection.Final, 6), f.make(selection.Final, 4), f.make(selection.Final, 5)}
	f.write(ctx, true, txns[0]...)

	errStop := errors.New("the watcher stops")
	first := f.collector()
	var token string // of the last call handled
	err := Watch(ctx, f.conn, WatchOptions{FromStart: true}, func(sels []selection.Selection, tok string) error {
		if len(sels) > 0 && len(first.batches) == 2 {
			return errStop // the third batch is not handled
		}
		if err := first.add(sels, tok); err != nil {
			return err
		}
		token = tok
		if len(sels) > 0 {
			// Write more so that there is a next batch.
			f.write(ctx, true, txns[len(first.batches)]...)
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("the first watch returned %v after %d calls, want %v", err, first.calls, errStop)
	}
	meanwhile := f.make(selection.Final, 6)
	f.write(ctx, true, meanwhile...)
	want := slices.Concat(append(txns, meanwhile)...)

	second := f.collector()
	err = Watch(ctx, f.conn, WatchOptions{Token: token}, func(sels []selection.Selection, tok string) error {
		if err := second.add(sels, tok); err != nil {
			return err
		}
		if seen(merge(first.got, second.got), want) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("the resumed watch returned %v after %d calls: %s", err, second.calls, diff(merge(first.got, second.got), want))
	}
	if second.first != token {
		t.Errorf("the resumed watch starts at %q, want the token it resumed with, %q", second.first, token)
	}
	if d := diff(merge(first.got, second.got), want); d != "" {
		t.Errorf("the two watches got %s (first batches %v, then %v)", d, first.batches, second.batches)
	}
}

// TestWatchReconnects: the gRPC server stops in the middle of a watch and
// starts again on its address; Watch reconnects by itself and sees every
// selection once.
func TestWatchReconnects(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	before, after := f.make(selection.Final, 6), f.make(selection.Final, 6)
	f.write(ctx, true, before...)
	want := slices.Concat(before, after)

	c := f.collector()
	restarted := false
	err := Watch(ctx, f.conn, WatchOptions{FromStart: true, Retry: 50 * time.Millisecond}, func(sels []selection.Selection, token string) error {
		if err := c.add(sels, token); err != nil {
			return err
		}
		if !restarted && seen(c.got, before) {
			restarted = true
			f.restart()
			f.write(ctx, true, after...)
		}
		if seen(c.got, want) {
			return errDone
		}
		return nil
	})
	c.checkDone(t, err, want)
	if d := diff(c.got, want); d != "" {
		t.Errorf("the watch got %s (batches %v)", d, c.batches)
	}
	if c.starts < 2 {
		t.Errorf("fn called %d times with no selection, want at least twice (the start and the reconnection)", c.starts)
	}
}

// TestWatchFromNow: without a token or FromStart a watch starts at the end
// of the topic: it sees only what is committed after it started.
func TestWatchFromNow(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	before, after := f.make(selection.Final, 6), f.make(selection.Final, 6)
	f.write(ctx, true, before...)
	ends := f.endOffsets(ctx) // kfake writes the commit markers before EndTransaction returns

	c := f.collector()
	err := Watch(ctx, f.conn, WatchOptions{}, func(sels []selection.Selection, token string) error {
		if c.calls == 0 {
			if len(sels) != 0 || token == "" {
				return fmt.Errorf("first call with %d selections and token %q, want none and a token", len(sels), token)
			}
			if pos, err := parseToken(token, testTopic); err != nil || !slices.Equal(pos.next, ends) {
				return fmt.Errorf("the watch starts at %v (%v), want the end of the topic %v", pos.next, err, ends)
			}
			defer f.write(ctx, true, after...)
		}
		if err := c.add(sels, token); err != nil {
			return err
		}
		if seen(c.got, after) {
			return errDone
		}
		return nil
	})
	c.checkDone(t, err, after)
	if d := diff(c.got, after); d != "" {
		t.Errorf("the watch got %s", d)
	}
}

// TestWatchRefusesToken: a token the server cannot resume from ends the
// watch with InvalidArgument, before fn is called.
func TestWatchRefusesToken(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	f.write(ctx, true, f.make(selection.Final, 3)...)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"other topic", (&position{topic: xxhash.Sum64String("other-topic"), next: make([]int64, testPartitions)}).token(),
			"not a token of topic " + testTopic},
		{"other partition count", (&position{topic: xxhash.Sum64String(testTopic), next: make([]int64, 2)}).token(),
			"resume token of 2 partitions"},
		{"not a token", "not a token!", "illegal base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Watch(ctx, f.conn, WatchOptions{Token: tc.token, FromStart: true, Retry: 50 * time.Millisecond},
				func([]selection.Selection, string) error { calls++; return nil })
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Watch with token %q: %v (code %v), want InvalidArgument with %q", tc.token, err, status.Code(err), tc.want)
			}
			if calls != 0 {
				t.Errorf("fn called %d times, want never", calls)
			}
		})
	}
}

// TestWatchBatchBound: a fetch of more selections than a message holds is
// sent in several, each with the token of its end: resuming from the
// first gives the rest once.
func TestWatchBatchBound(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	all := f.make(selection.Final, 2*maxBatch+500)
	f.write(ctx, true, all...)

	first := f.collector()
	var token string
	errFirst := errors.New("the first batch is handled")
	err := Watch(ctx, f.conn, WatchOptions{FromStart: true}, func(sels []selection.Selection, tok string) error {
		if err := first.add(sels, tok); err != nil {
			return err
		}
		token = tok
		if len(sels) > 0 {
			return errFirst
		}
		return nil
	})
	if !errors.Is(err, errFirst) {
		t.Fatalf("the first watch returned %v, want %v", err, errFirst)
	}
	second := f.collector()
	err = Watch(ctx, f.conn, WatchOptions{Token: token}, func(sels []selection.Selection, tok string) error {
		if len(sels) > maxBatch {
			return fmt.Errorf("a batch of %d selections, want at most %d", len(sels), maxBatch)
		}
		if err := second.add(sels, tok); err != nil {
			return err
		}
		if seen(merge(first.got, second.got), all) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("the resumed watch returned %v: %s", err, diff(merge(first.got, second.got), all))
	}
	if first.batches[0] > maxBatch {
		t.Errorf("a batch of %d selections, want at most %d", first.batches[0], maxBatch)
	}
	if d := diff(merge(first.got, second.got), all); d != "" {
		t.Errorf("the two watches got %s (batches %v, then %v)", d, first.batches, second.batches)
	}
	t.Logf("batches %v, then %v", first.batches, second.batches)
}

// TestWatchFnErrorEndsStream: once Watch has returned fn's error, the
// server no longer streams to it, though the caller's context lives on.
func TestWatchFnErrorEndsStream(t *testing.T) {
	f := newFeed(t)
	ctx := f.context()
	f.write(ctx, true, f.make(selection.Final, 3)...)
	errStop := errors.New("the watcher stops")
	err := Watch(ctx, f.conn, WatchOptions{FromStart: true}, func(sels []selection.Selection, _ string) error {
		if len(sels) > 0 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Watch returned %v, want %v", err, errStop)
	}
	// The handler ends within milliseconds once the client cancels the
	// stream; the limit is for slow machines.
	deadline := time.Now().Add(10 * time.Second)
	for f.active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d Watch handlers still running 10s after Watch returned, want 0: the stream was not canceled", f.active.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
