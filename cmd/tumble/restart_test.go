package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/sample"
)

// TestRestartKill runs tumble as its own process against a real Kafka
// broker, produces eight minutes of the fleet's traffic while killing the
// process with SIGKILL at random moments and starting it again, and then
// requires the query API to serve exactly what the offline replay computes
// from the same samples (no window lost, no sample counted twice, the
// cumulative counters' increases across the restarts included) and the
// dead-letter topic to hold each malformed record once.
func TestRestartKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tumble and runs a Kafka broker")
	}
	dir := t.TempDir()
	logPath := tumbleLogPath(t, dir)
	b := kafkatest.Start(t)
	bin := buildTumble(t, dir)
	listen := freeAddr(t)
	rulesPath, err := filepath.Abs("../../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tumble.yaml")
	cfg := fmt.Sprintf("rules: %s\ndataDir: %s\nlisten: %s\ngrpcListen: 127.0.0.1:0\nshards: 4\nrouterID: restart\nkafka:\n  brokers: [%s]\n",
		rulesPath, filepath.Join(dir, "data"), listen, b.Addr())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	node := newTumbleProc(t, bin, cfgPath, listen, logPath)
	base := node.base
	node.start()
	defer node.stop(syscall.SIGKILL)

	now := time.Now().UnixMilli()
	start := now - now%60_000 - 15*60_000
	const ticks = 480
	all, recs := fleetWorkload("tumble-raw", start, ticks)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()

	// Produce in chunks; after some of them, at a random moment, kill
	// tumble and start it again while the rest keeps coming.
	rng := rand.New(rand.NewPCG(11, uint64(now)))
	// One kill always comes right after the last chunk: the router has
	// routed the last samples, and its successor never reads them again.
	const chunk, wantKills = 8, 4
	chunks := (len(recs) + chunk - 1) / chunk
	killAt := map[int]bool{(chunks - 1) * chunk: true}
	for _, c := range rng.Perm(chunks - 1)[:wantKills-1] {
		killAt[c*chunk] = true
	}
	kills := 0
	for i := 0; i < len(recs); i += chunk {
		if err := cl.ProduceSync(ctx, recs[i:min(i+chunk, len(recs))]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if killAt[i] {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			node.stop(syscall.SIGKILL)
			kills++
			t.Logf("kill %d after record %d of %d", kills, min(i+chunk, len(recs)), len(recs))
			node.start()
		}
	}
	t.Logf("%d records produced, tumble killed %d times", len(recs), kills)

	// Wait until every window has closed.
	closer := closedAt(start, ticks)
	waitWatermarks(t, base, 4, closer, "tumble")

	want := replayPoints(t, rulesPath, all)
	comparePoints(t, want, servedPoints(t, base, closer/1000))
	reasons := deadLetters(t, []string{b.Addr()}, "tumble-dead-letter", 2*ticks/40)
	t.Logf("%d points served as the replay computed them; dead letters %v", len(want), reasons)

	// The restarts resumed mid-partition, from checkpoints.
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	resumed := 0
	for _, m := range regexp.MustCompile(`resume_offset=(\d+)`).FindAllSubmatch(logs, -1) {
		if off, _ := strconv.Atoi(string(m[1])); off > 0 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no replica resumed from a checkpoint")
	}

	// A graceful stop ends well.
	if err := node.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("tumble on SIGTERM: %v (its log ends the output)", err)
	}
}

// buildTumble builds the tumble binary into dir.
func buildTumble(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build tumble with")
	}
	bin := filepath.Join(dir, "tumble")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// watermarksReached reports whether the /metrics of base show every one of
// the shards' watermarks at or past ms.
func watermarksReached(t *testing.T, base string, shards int, ms int64) bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	reached := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "tumble_replica_watermark_seconds{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil && int64(v*1000) >= ms {
			reached++
		}
	}
	return reached == shards
}

// deadLetters reads n records from the dead-letter topic and returns their
// count by reason; it fails on a record without a reason, or if more than
// n come.
func deadLetters(t *testing.T, brokers []string, topic string, n int) map[string]int {
	t.Helper()
	dl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	reasons := map[string]int{}
	got := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got < n {
		fs := dl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead letters: got %v, want %d", reasons, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			reason := ""
			for _, h := range r.Headers {
				if h.Key == sample.HeaderReason {
					reason = string(h.Value)
				}
			}
			if reason == "" {
				t.Errorf("dead letter %q has no reason", r.Value)
			}
			reasons[reason]++
		})
	}
	// Nothing more: each malformed record once.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		t.Errorf("dead letter beyond the %d expected: %q", n, r.Value)
	})
	return reasons
}

// tail returns the end of the file at path.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
