package windowlog

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func testWindows(shard int32, closes ...int64) []Window {
	var ws []Window
	for _, c := range closes {
		ws = append(ws, Window{Shard: shard, Policy: "10s:2d", StartMs: c - 20_000, EndMs: c - 10_000, CloseMs: c, Points: 1, Digest: "1"})
	}
	return ws
}

func always() bool { return true }

// readLog returns the committed windows of partition shard.
func readLog(t *testing.T, c *kfake.Cluster, topic string, shard int32) []int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {shard: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var closes []int64
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return closes
		}
		fs.EachRecord(func(r *kgo.Record) {
			w, err := Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			closes = append(closes, w.CloseMs)
		})
	}
}

// TestEmitterFencing: a second emitter of the shard fences the first,
// whose open transaction is aborted and whose later writes are refused;
// Last tells the second where the committed log ends.
func TestEmitterFencing(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "windows"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	seed := kgo.SeedBrokers(c.ListenAddrs()...)

	a, err := NewEmitter("windows", "", 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := a.Last(ctx); err != nil || last != math.MinInt64 {
		t.Fatalf("empty log: Last = %d, %v; want MinInt64", last, err)
	}
	if err := a.Emit(ctx, testWindows(1, 20_000, 30_000), always); err != nil {
		t.Fatal(err)
	}
	// A lease run out before the commit: nothing lands.
	if err := a.Emit(ctx, testWindows(1, 40_000), func() bool { return false }); !errors.Is(err, ErrFenced) {
		t.Fatalf("emit with an expired lease: %v, want ErrFenced", err)
	}
	if err := a.Emit(ctx, testWindows(1, 40_000), always); err != nil {
		t.Fatal(err)
	}

	b, err := NewEmitter("windows", "", 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	if last, err := b.Last(ctx); err != nil || last != 40_000 {
		t.Fatalf("Last after the takeover = %d, %v; want 40000", last, err)
	}
	if err := a.Emit(ctx, testWindows(1, 50_000), always); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old leader's emit: %v, want ErrFenced", err)
	}
	if err := b.Emit(ctx, testWindows(1, 50_000), always); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, c, "windows", 1)
	want := []int64{20_000, 30_000, 40_000, 50_000}
	if len(got) != len(want) {
		t.Fatalf("log holds closes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("log holds closes %v, want %v", got, want)
		}
	}
	if other := readLog(t, c, "windows", 0); len(other) != 0 {
		t.Errorf("shard 0's partition holds %v", other)
	}
}
