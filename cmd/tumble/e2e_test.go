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
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/promtooltest"
	"github.com/tumblemetrics/tumble/loadgen"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/router"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := newServer(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.close()
	}()
	select {
	case <-s.ready:
	case err := <-done:
		t.Fatal(err)
	}

	// The workload: two minutes of the fleet, ending a few minutes ago, and
	// a last sample three minutes later that closes every window.
	now := time.Now().UnixMilli()
	start := now - now%60_000 - 6*60_000
	g := loadgen.New(loadgen.Config{Seed: 7, StartMs: start, TickMs: 1000})
	var all []sample.Sample
	var recs []*kgo.Record
	for tick := range 120 {
		batch := g.Tick(nil)
		all = append(all, batch...)
		// One key: the samples of a series stay in order, as a producer
		// keying by series keeps them.
		rec := &kgo.Record{Topic: cfg.Kafka.RawTopics[0], Key: []byte("fleet")}
		if tick%2 == 0 {
			rec.Value = sample.AppendProto(nil, batch)
		} else {
			for i := range batch {
				rec.Value = append(sample.AppendJSON(rec.Value, &batch[i]), '\n')
			}
		}
		recs = append(recs, rec)
		if tick%40 == 0 {
			recs = append(recs,
				&kgo.Record{Topic: cfg.Kafka.RawTopics[0], Key: []byte("fleet"), Value: []byte(`{"name":"x","value":1}`)},
				&kgo.Record{Topic: cfg.Kafka.RawTopics[0], Key: []byte("fleet"), Value: []byte("\x0a\x05garbage")})
		}
	}
	closer := sample.Sample{Name: "window_closer", Type: sample.Gauge, Value: 1, TimestampMs: start + 5*60_000}
	all = append(all, closer)
	recs = append(recs, &kgo.Record{Topic: cfg.Kafka.RawTopics[0], Key: []byte("fleet"), Value: sample.AppendJSON(nil, &closer)})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// What the offline replay makes of the same samples.
	var in bytes.Buffer
	for i := range all {
		in.Write(sample.AppendJSON(nil, &all[i]))
		in.WriteByte('\n')
	}
	rs, err := rules.ParseFile(cfg.Rules)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := replay.Run(rs, &in, &out, replay.Options{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]replay.Point{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p replay.Point
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Name, closer.Name) {
			continue // its own window stays open on the server
		}
		want[pointKey(p.Name, p.Labels, p.Policy, p.WindowEndMs)] = p
	}
	if len(want) == 0 {
		t.Fatal("replay made no point")
	}

	// Wait until every shard's watermark has passed the last window.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, r := range s.replicas {
			ok = ok && r.Published().Watermark >= start+4*60_000
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("windows did not close in time; router %+v", s.router.Published())
		}
		time.Sleep(50 * time.Millisecond)
	}

	base := "http://" + cfg.Listen
	got := map[string]float64{}
	for _, pol := range []string{"10s:2d", "1m:40d"} {
		q := fmt.Sprintf(`{__name__=~".+", __policy__=%q}[1h]`, pol)
		var res struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Values [][2]any
				}
			}
		}
		getJSON(t, base+"/api/v1/query?"+url.Values{"query": {q}, "time": {strconv.FormatInt(now/1000+300, 10)}}.Encode(), &res)
		for _, s := range res.Data.Result {
			name := s.Metric["__name__"]
			delete(s.Metric, "__name__")
			for _, v := range s.Values {
				ts := int64(v[0].(float64)*1000 + 0.5)
				f, _ := strconv.ParseFloat(v[1].(string), 64)
				got[pointKey(name, s.Metric, pol, ts)] = f
			}
		}
	}
	bad := 0
	for k, p := range want {
		g, ok := got[k]
		if !ok || math.Float64bits(g) != math.Float64bits(float64(p.Value)) && !(math.IsNaN(g) && math.IsNaN(float64(p.Value))) {
			if bad++; bad <= 10 {
				t.Errorf("%s: got %v (served: %v), want %v", k, g, ok, float64(p.Value))
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("served %d points, replay made %d", len(got), len(want))
	}
	if bad > 0 {
		t.Fatalf("%d of %d points differ", bad, len(want))
	}

	if promtool != "" {
		checkPromtool(t, promtool, base, want, start, now)
	}

	// Exemplars: every P99 point's trace is served for that series (from
	// the finest policy, which the exemplar query reads).
	var ex struct {
		Data []struct {
			SeriesLabels map[string]string
			Exemplars    []struct {
				Labels    map[string]string
				Timestamp float64
			}
		}
	}
	getJSON(t, base+"/api/v1/query_exemplars?"+url.Values{"query": {`http_request_duration_seconds_by_route{quantile="0.99"}`},
		"start": {strconv.FormatInt(start/1000-60, 10)}, "end": {strconv.FormatInt(now/1000+300, 10)}}.Encode(), &ex)
	served := map[string]bool{}
	for _, s := range ex.Data {
		for _, e := range s.Exemplars {
			served[s.SeriesLabels["service"]+s.SeriesLabels["route"]+e.Labels["trace_id"]] = true
		}
	}
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

	// The malformed records are in the dead-letter topic, with a reason.
	dl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(cfg.Kafka.DeadLetterTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	reasons := map[string]int{}
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	for n := 0; n < 6; {
		fs := dl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("dead letters: got %v, want 6", reasons)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			reason := ""
			for _, h := range r.Headers {
				if h.Key == router.HeaderReason {
					reason = string(h.Value)
				}
			}
			if reason == "" {
				t.Errorf("dead letter %q has no reason", r.Value)
			}
			reasons[reason]++
		})
	}
	t.Logf("%d points and %d P99 exemplars served as replay computed them; dead letters %v", len(want), p99, reasons)

	// Self-monitoring counts what happened.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`tumble_router_dead_letters_total{reason="`, `tumble_replica_flush_seconds_count{shard="0"}`,
		`tumble_replica_consumer_lag_records{shard="0"}`, `tumble_replica_points_stored_total{shard="0"}`, `tumble_storage_chunk_bytes{policy="10s:2d",shard="0"}`,
		`rule="http latency by route"}`} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
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
