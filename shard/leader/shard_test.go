package leader

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/internal/etcdtest"
	"github.com/tumblemetrics/tumble/internal/tcpproxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testTTL    = 2 * time.Second
	testMargin = 500 * time.Millisecond
	waitLimit  = 20 * time.Second
)

// testNode is one replica of shard 0 with its leadership running.
type testNode struct {
	name     string
	windows  *Retained
	shard    *Shard
	sessions *Sessions
	stop     func()
}

func startNode(t *testing.T, name string, cli *clientv3.Client, brokers []string, onLead func(term, from int64)) *testNode {
	t.Helper()
	em, err := windowlog.NewEmitter("windows", "", 0, kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, windows: NewRetained(math.MinInt64), sessions: NewSessions(cli, testTTL, testMargin, nil)}
	n.shard, err = NewShard(ShardOptions{Client: cli, Prefix: "/t", Shard: 0, Node: name, Emitter: em, Windows: n.windows,
		Replica: func() (bool, int64) { return true, 0 }, Poll: 20 * time.Millisecond, OnLead: onLead})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.shard.Run(ctx, n.sessions.Get) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node %s: %v", name, err)
			}
			n.sessions.Close()
			em.Close()
		})
	}
	t.Cleanup(n.stop)
	return n
}

// closeWindow has every node close the window that closes at c.
func closeWindow(c int64, nodes ...*testNode) {
	for _, n := range nodes {
		n.windows.Add(c, []windowlog.Window{{Shard: 0, Policy: "10s:2d", StartMs: c - 20, EndMs: c - 10, CloseMs: c, Points: 1, Digest: "1"}})
	}
}

// windowLog returns the committed records of the window log.
func windowLog(t *testing.T, brokers []string) []windowlog.Window {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"windows": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var ws []windowlog.Window
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ws
		}
		fs.EachRecord(func(r *kgo.Record) {
			w, err := windowlog.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		})
	}
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShardFailover runs two replicas of a shard against a real etcd, the
// first reaching etcd through a proxy. The first leads; cut off from etcd,
// it stops leading before its lease can expire in etcd, and the second
// takes over after, resuming where the output stands: every window is in
// the log once, in order.
func TestShardFailover(t *testing.T) {
	srv := etcdtest.Start(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "windows"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	proxy := tcpproxy.Start(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	cliA, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr()}, DialTimeout: 2 * time.Second,
		Logger: zap.NewNop(), DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}})}})
	if err != nil {
		t.Fatal(err)
	}
	defer cliA.Close()
	cliB := srv.Client(t)
	obs := NewObserver(cliB, "/t", nil)
	octx, ocancel := context.WithCancel(context.Background())
	var owg sync.WaitGroup
	owg.Go(func() { obs.Run(octx) })
	defer owg.Wait()
	defer ocancel()

	var aLeads atomic.Int32
	a := startNode(t, "a", cliA, brokers, func(int64, int64) { aLeads.Add(1) })
	waitFor(t, "a leads", func() bool { return a.shard.Status().Leading })
	var bLedWhileALed sync.Once
	aStillLeading := false
	b := startNode(t, "b", cliB, brokers, func(term, from int64) {
		bLedWhileALed.Do(func() { aStillLeading = a.shard.Status().Leading })
	})
	for c := int64(100); c <= 300; c += 100 {
		closeWindow(c, a, b)
	}
	waitFor(t, "3 windows in the log", func() bool { return len(windowLog(t, brokers)) == 3 })
	waitFor(t, "b sees the watermark", func() bool { return b.shard.Status().Mark == 300 })
	if st := b.shard.Status(); st.Leading || st.Retained != 0 || st.CanLead != "yes" {
		t.Errorf("follower b: %+v; want not leading, able to, nothing retained", st)
	}

	waitFor(t, "the observer sees a lead", func() bool {
		v := obs.Shard(0)
		return v.Leader == "a" && v.Mark.Watermark == 300 && len(v.Candidates) == 2
	})
	if v := obs.Shard(0); v.Term != a.shard.Status().Term || v.Candidates[1] != "b" {
		t.Errorf("observed %+v; want a's term %d, b next", v, a.shard.Status().Term)
	}
	if n := aLeads.Load(); n != 1 {
		t.Errorf("a took the lead %d times, want once", n)
	}

	// A write carrying a stale term is refused.
	if err := writeMark(context.Background(), cliB, "/t", 0, ElectionKey("/t", 0)+"/stale", Mark{Watermark: 900, Term: 1}); !errors.Is(err, ErrFenced) {
		t.Errorf("a stale leader's watermark write: %v, want ErrFenced", err)
	}

	// Cut a off from etcd; a window closes meanwhile (a emits it if its
	// lease is still certainly alive, else b does once it leads).
	proxy.Cut()
	closeWindow(400, a, b)
	waitFor(t, "b leads", func() bool { return b.shard.Status().Leading })
	if aStillLeading {
		t.Error("b started leading while a still led")
	}
	waitFor(t, "4 windows in the log", func() bool { return len(windowLog(t, brokers)) == 4 })

	// a comes back and follows.
	proxy.Restore()
	closeWindow(500, a, b)
	waitFor(t, "5 windows in the log", func() bool { return len(windowLog(t, brokers)) == 5 })
	waitFor(t, "a sees the watermark", func() bool { return a.shard.Status().Mark == 500 })
	waitFor(t, "the observer sees b lead", func() bool {
		v := obs.Shard(0)
		return v.Leader == "b" && v.Mark.Watermark == 500 && v.Term == b.shard.Status().Term
	})
	if a.shard.Status().Leading {
		t.Error("a leads again beside b")
	}
	log := windowLog(t, brokers)
	for i, w := range log {
		if want := int64(100 * (i + 1)); w.CloseMs != want {
			t.Fatalf("window %d of the log closes at %d, want %d: %+v", i, w.CloseMs, want, log)
		}
	}
	if log[0].Leader != "a" || log[4].Leader != "b" || log[4].Term <= log[0].Term {
		t.Errorf("leaders in the log: %+v", log)
	}
	m, err := ReadMark(context.Background(), cliB, "/t", 0)
	if err != nil || m.Watermark != 500 || m.Leader != "b" || m.Windows["10s:2d"] != 490 {
		t.Errorf("watermark in etcd: %+v, %v", m, err)
	}
}
