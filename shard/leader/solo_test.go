package leader

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// soloRun is a Solo running in a goroutine of the test.
type soloRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned err
	err    error
}

// stop ends Run and returns what it returned; it may be called again.
func (r *soloRun) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// startSolo runs a Solo named node on shard 0's window log until the test
// ends.
func startSolo(t *testing.T, node string, brokers []string, windows *Retained) *soloRun {
	t.Helper()
	em, err := windowlog.NewEmitter("windows", "", 0, kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	s := &Solo{Emitter: em, Windows: windows, Node: node, Retry: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	r := &soloRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = s.Run(ctx)
	}()
	t.Cleanup(func() {
		r.stop()
		em.Close()
	})
	return r
}

// TestSolo runs two lone nodes on one window log, the second started
// after the first: it fences the first, resumes after the last window the
// first committed, and the first, fenced, stops with an error.
func TestSolo(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "windows"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()

	wa := NewRetained(math.MinInt64)
	a := startSolo(t, "a", brokers, wa)
	closeWindows(wa, 100, 200)
	waitFor(t, "2 windows in the log", func() bool { return len(windowLog(t, brokers)) == 2 })
	waitFor(t, "a forgets what it emitted", func() bool { return wa.Len() == 0 })

	wb := NewRetained(math.MinInt64)
	closeWindows(wb, 100, 200, 300)
	b := startSolo(t, "b", brokers, wb)
	waitFor(t, "3 windows in the log", func() bool { return len(windowLog(t, brokers)) == 3 })

	closeWindows(wa, 300)
	select {
	case <-a.done:
		if err := a.err; !errors.Is(err, windowlog.ErrFenced) {
			t.Errorf("a, fenced: got %v, want an error wrapping %v", err, windowlog.ErrFenced)
		}
	case <-time.After(waitLimit):
		t.Fatal("a still runs after b fenced it")
	}
	if err := b.stop(); err != nil {
		t.Errorf("b, stopped: got %v, want nil", err)
	}

	log := windowLog(t, brokers)
	for i, want := range []struct {
		close  int64
		leader string
	}{{100, "a"}, {200, "a"}, {300, "b"}} {
		if i >= len(log) || log[i].CloseMs != want.close || log[i].Leader != want.leader || log[i].Term != 0 {
			t.Fatalf("the log: got %+v, want closes 100, 200 by a and 300 by b, term 0", log)
		}
	}
}

// closeWindows has the replica close a window at each of closes.
func closeWindows(r *Retained, closes ...int64) {
	for _, c := range closes {
		r.Add(c, []windowlog.Window{{Shard: 0, Policy: "10s:2d", StartMs: c - 20, EndMs: c - 10, CloseMs: c, Points: 1, Digest: "1"}})
	}
}
