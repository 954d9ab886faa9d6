package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/promtooltest"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/router"
)

// TestEndToEndKfake runs the end-to-end scenario against the in-process
// Kafka-protocol broker.
func TestEndToEndKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	endToEnd(t, c.ListenAddrs(), "")
}

// TestEndToEndKafka runs it against a real Apache Kafka broker.
func TestEndToEndKafka(t *testing.T) {
	b := kafkatest.Start(t)
	endToEnd(t, []string{b.Addr()}, promtooltest.Path(t))
}

// endToEnd produces a known workload (protobuf batches, JSON lines and a
// few malformed records) to a running tumble, waits for its windows to
// close, and requires every point the offline replay computes from the same
// samples to be served by the query API, with the same value and exemplar;
// the malformed records must be in the dead-letter topic with their reason.
//
// With promtool set, the P99 of one series is also read through promtool's
// range query, as an outside client does.
func endToEnd(t *testing.T, brokers []string, promtool string) {
	cfg := defaults()
	cfg.Rules = "../../testdata/rules/example.yaml"
	cfg.DataDir = t.TempDir()
	cfg.Kafka.Brokers = brokers
	cfg.RouterID = "e2e"
	cfg.EventTime.IdleTimeout = time.Hour // the closers close the windows
	s := startServer(t, &cfg)
	ctx := t.Context()
	gln := s.grpcListener

	// The workload: two minutes of the fleet, ending a few minutes ago, in
	// two halves: the second goes once the replicas have closed windows of
	// the first, so that open windows have thresholds from closed ones and
	// offer trace candidates however the router batches its reads (a
	// backlog read in one transaction closes its windows only at its end).
	// A closer in every raw partition, a debug sample (no rule keeps it)
	// three minutes on, then closes every window: event time here never
	// waits for the idle timeout, however slow the machine.
	now := time.Now().UnixMilli()
	start := now - now%60_000 - 6*60_000
	all, recs := fleetWorkload(cfg.Kafka.RawTopics[0], start, 120)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	half := len(recs) / 2
	if err := cl.ProduceSync(ctx, recs[:half]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitEmitted(t, s, start+30_000)
	if err := cl.ProduceSync(ctx, recs[half:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	closer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	closers := make([]*kgo.Record, cfg.Shards) // one a raw partition
	for p := range closers {
		v := sample.AppendJSON(nil, &sample.Sample{Name: "debug_e2e_closer", Type: sample.Gauge, Value: 1, TimestampMs: start + 5*60_000})
		closers[p] = &kgo.Record{Topic: cfg.Kafka.RawTopics[0], Partition: int32(p), Value: v}
	}
	if err := closer.ProduceSync(ctx, closers...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, closers...)
	want := replayPoints(t, cfg.Rules, all)
	waitEmitted(t, s, start+4*60_000) // past the last window

	base := "http://" + cfg.Listen
	comparePoints(t, want, servedPoints(t, base, now/1000+300))

	if promtool != "" {
		checkPromtool(t, promtool, base, want, start, now)
	}

	// Exemplars: every P99 point's trace is served for that series (from
	// the finest policy, which the exemplar query reads).
	served := servedExemplars(t, base, start/1000-60, now/1000+300)
	p99 := 0
	for _, p := range want {
		if p.Aggregation != "P99" || p.Policy != "10s:2d" || p.Exemplar == nil || p.Exemplar.TraceID == "" {
			continue
		}
		p99++
		if !served[p.Labels["service"]+p.Labels["route"]+p.Exemplar.TraceID] {
			t.Errorf("P99 of %v at %d: exemplar %s not served", p.Labels, p.WindowEndMs, p.Exemplar.TraceID)
		}
	}
	if p99 == 0 {
		t.Error("no P99 exemplar to check")
	}

	// Selections: the trace of every P99 point once, through the gRPC
	// feed, by a watcher that stops and resumes.
	wantSel := wantSelections(want)
	got := watchSelections(t, gln.Addr().String(), len(wantSel))
	checkSelections(t, got, wantSel, all, served)
	checkCandidates(t, got, all)

	// The malformed records are in the dead-letter topic, with a reason.
	reasons := deadLetters(t, brokers, cfg.Kafka.DeadLetterTopic, 6)
	t.Logf("%d points and %d P99 exemplars served as replay computed them; dead letters %v", len(want), p99, reasons)

	// Self-monitoring counts what happened.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`tumble_router_dead_letters_total{reason="`, `tumble_replica_flush_seconds_count{shard="0"}`,
		`tumble_replica_consumer_lag_records{shard="0"}`, `tumble_replica_checkpoints_total{shard="0"}`, `tumble_replica_points_stored_total{shard="0"}`, `tumble_storage_chunk_bytes{policy="10s:2d",shard="0"}`,
		`rule="http latency by route"}`, `tumble_router_partition_watermark_seconds{partition="`} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	rs, err := rules.ParseFile(cfg.Rules)
	if err != nil {
		t.Fatal(err)
	}
	checkRouterMetrics(t, body, cfg, rs, recs, now)
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("/metrics: %s: %s", p.Metric, p.Text)
	}
}

// checkRouterMetrics checks the router's series in a /metrics body against
// what the deterministic router core makes of the raw records recs, all
// read by the server's router by now: the samples in by topic and format
// (more if a transaction aborted and records were read again), the samples
// and records written out (exactly: only committed transactions count), and
// a consumer lag of 0 on every raw partition it owns.
func checkRouterMetrics(t *testing.T, body []byte, cfg Config, rs *rules.RuleSet, recs []*kgo.Record, nowMs int64) {
	t.Helper()
	core, err := router.New(rs, cfg.Shards, sample.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var out []router.Output
	var samplesOut, recordsOut, dead float64
	for _, rec := range recs {
		var err error
		if out, err = core.Route(rec.Topic, rec.Value, sample.FormatAuto, nowMs, out[:0]); err != nil {
			dead++
		}
		dead += float64(len(core.Bad())) // each refused sample alone
		for _, o := range out {
			samplesOut += float64(o.Samples)
		}
		recordsOut += float64(len(out))
	}
	series := scrape(t, body)
	raw, shards, dl := cfg.Kafka.RawTopics[0], cfg.Kafka.ShardTopic, cfg.Kafka.DeadLetterTopic
	for tf, n := range core.Stats().SamplesIn {
		name := fmt.Sprintf(`tumble_router_samples_in_total{format=%q,topic=%q}`, tf.Format, tf.Topic)
		if got, ok := series[name]; !ok || got < float64(n) || n == 0 {
			t.Errorf("%s: got %v (%v), want %d or more, and more than 0", name, got, ok, n)
		}
	}
	for name, want := range map[string]float64{
		fmt.Sprintf(`tumble_router_samples_out_total{topic=%q}`, shards): samplesOut,
		fmt.Sprintf(`tumble_router_records_out_total{topic=%q}`, dl):     dead,
	} {
		if got, ok := series[name]; !ok || got != want {
			t.Errorf("%s: got %v (%v), want %v", name, got, ok, want)
		}
	}
	// The shard topic has the watermarks too.
	name := fmt.Sprintf(`tumble_router_records_out_total{topic=%q}`, shards)
	if got := series[name]; got < recordsOut+float64(cfg.Shards) {
		t.Errorf("%s: got %v, want %v samples records and a watermark a shard or more", name, got, recordsOut)
	}
	lags := 0
	for name, v := range series {
		if !strings.HasPrefix(name, "tumble_router_consumer_lag_records{") {
			continue
		}
		lags++
		if !strings.Contains(name, fmt.Sprintf(`topic=%q`, raw)) || v != 0 {
			t.Errorf("%s: got %v, want 0, of topic %s", name, v, raw)
		}
	}
	if lags == 0 {
		t.Errorf("/metrics has no tumble_router_consumer_lag_records of topic %s", raw)
	}
	for _, old := range []string{"tumble_router_samples_total", "tumble_router_shard_records_total"} {
		if _, ok := series[old]; ok {
			t.Errorf("/metrics has %s, which the per-topic series replace", old)
		}
	}
}

// scrape returns the value of every series of a /metrics body, by its name
// and labels as they are written.
func scrape(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	series := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

func pointKey(name string, ls map[string]string, policy string, t int64) string {
	var b strings.Builder
	b.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		fmt.Fprintf(&b, ",%s=%s", k, ls[k])
	}
	fmt.Fprintf(&b, " %s @%d", policy, t)
	return b.String()
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// checkPromtool runs promtool's range query for the P99 of one series over
// the workload, at the 10s windows' ends, and requires every value the
// replay computed for it in its output.
func checkPromtool(t *testing.T, promtool, base string, want map[string]replay.Point, start, now int64) {
	t.Helper()
	sel := map[string]string{"quantile": "0.99", "route": "/get", "service": "auth"}
	expr := `http_request_duration_seconds_by_route{quantile="0.99",route="/get",service="auth",__policy__="10s:2d"}`
	out, err := exec.Command(promtool, "query", "range",
		"--start="+strconv.FormatInt(start/1000, 10), "--end="+strconv.FormatInt(start/1000+180, 10), "--step=10s",
		base, expr).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool query range: %v: %s", err, out)
	}
	n := 0
	for _, p := range want {
		if p.Name != "http_request_duration_seconds_by_route" || p.Policy != "10s:2d" || !maps.Equal(p.Labels, sel) {
			continue
		}
		// promtool prints "VALUE @[SECONDS]" per step; at a window's end
		// the point is the window's own.
		line := fmt.Sprintf("%s @[%d]", strconv.FormatFloat(float64(p.Value), 'f', -1, 64), p.WindowEndMs/1000)
		if !strings.Contains(string(out), line) {
			t.Errorf("promtool: %q not in its output:\n%s", line, out)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no point of %v to check; promtool said:\n%s", sel, out)
	}
	t.Logf("promtool query range: the %d P99 points of %v as replay computed them", n, sel)
}

// waitEmitted waits until every replica of s has closed the windows that
// end before ms, for as long as their watermarks keep moving.
func waitEmitted(t *testing.T, s *server, ms int64) {
	t.Helper()
	var last []int64
	moved := time.Now()
	for {
		reps := s.node.Replicas()
		done := len(reps) > 0
		var wms []int64
		for _, r := range reps {
			wm := int64(math.MinInt64)
			if r.EmittedMs != nil {
				wm = *r.EmittedMs
			}
			wms = append(wms, wm)
			done = done && wm >= ms
		}
		if done {
			return
		}
		if !slices.Equal(wms, last) {
			last, moved = wms, time.Now()
		}
		if time.Since(moved) > time.Minute {
			t.Fatalf("the replicas' watermarks %v stopped short of %d for a minute: %+v", wms, ms, reps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startServer runs a tumble server of cfg on loopback ports (cfg.Listen
// is set to its HTTP address) until the test ends, and returns it once it
// serves.
func startServer(t testing.TB, cfg *Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := newServer(*cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.listener, s.grpcListener = ln, gln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.close()
	})
	select {
	case <-s.ready:
	case err := <-done:
		t.Fatal(err)
	}
	return s
}
