package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/syncbuf"
	"github.com/tumblemetrics/tumble/sample"
)

// demoOutputs are the output series of each rule of
// testdata/rules/example.yaml, by the way the demo's samples they are made
// of come in: the request counters and the gauges through the remote-write
// gateway, the latencies through Kafka.
var demoOutputs = []struct{ rule, via, query string }{
	{"http requests by status", loadViaRemoteWrite, "http_requests_by_status"},
	{"gauges at 1m", loadViaRemoteWrite, "process_resident_memory_bytes_last"},
	{"gauges at 1m", loadViaRemoteWrite, "process_resident_memory_bytes_max"},
	{"http latency by route", loadViaKafka, `http_request_duration_seconds_by_route{quantile="0.99"}`},
	{"http latency by route", loadViaKafka, "http_request_duration_seconds_by_route_count"},
}

// TestEmbeddedDemo runs the demo as `make run` does (the in-process
// broker, the load generator, the example rules, the gateways on) and
// requires, through the node's HTTP API: the remote-write gateway wrote
// the demo's counters and gauges (tumble_ingest_samples_total), every
// rule of the example has outputs served (the debug metrics none), and
// the raw topic holds the gateway's records of counters, traced from
// their exemplars, and gauges beside the pod-keyed records of timers. The
// demo waits for its windows in real time: the test waits as long as the
// node's windows and watermarks move, a minute and some for the first
// one-minute windows. Then it stops on ctx's end, goroutines and all.
func TestEmbeddedDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the demo's first one-minute windows in real time")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := defaults()
	cfg.Rules = "../../testdata/rules/example.yaml"
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.GRPCListen = freeAddr(t), freeAddr(t)
	cfg.Kafka.Brokers = []string{freeAddr(t)}
	cfg.RouterID = "demo"
	cfg.Embedded = true
	cfg.Ingest.RemoteWrite, cfg.Ingest.OTLP, cfg.Ingest.Influx = true, true, true // as run does
	cfg.Lateness = 10 * time.Second                                               // the 10s windows' default; the 1m windows close a minute sooner
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var logBuf, out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, &out) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the demo did not stop within a minute of its context's end")
		}
	}
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("the node's log, its end:\n%s", lastLines(logBuf.String(), 60))
		}
	}()
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	base := "http://" + cfg.Listen

	// Wait while the windows move: points stored, watermarks, outputs
	// seen. A minute without any of them moving is a stall.
	served := map[string]int{}
	var metrics map[string]float64
	var lastMoves float64
	moved, start := time.Now(), time.Now()
	for {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the demo stopped by itself: %v", err)
		default:
		}
		if m, err := demoMetrics(t, hc, base); err == nil {
			metrics = m
		}
		all := true
		for _, o := range demoOutputs {
			n, err := demoQuery(hc, base, o.query)
			if err == nil && n > served[o.query] {
				served[o.query] = n
			}
			all = all && served[o.query] > 0
		}
		moves := metrics["points"] + metrics["watermark"]
		for _, n := range served {
			moves += float64(n)
		}
		if moves > lastMoves {
			lastMoves, moved = moves, time.Now()
		}
		if all && metrics["written"] > 0 {
			break
		}
		if time.Since(moved) > time.Minute {
			t.Fatalf("nothing moved for a minute after %s: served %v, metrics %v", time.Since(start).Round(time.Second), served, metrics)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("after %s: outputs served %v; remote write: %v samples written in %v requests answered 204; %v samples late; %d warnings logged",
		time.Since(start).Round(time.Second), served, metrics["written"], metrics["requests204"], metrics["late"], strings.Count(logBuf.String(), "level=WARN"))
	if n, err := demoQuery(hc, base, `{__name__=~"debug_.*"}`); err != nil || n > 0 {
		t.Errorf("debug metrics: %d series served (%v), want none", n, err)
	}
	if !strings.Contains(out.String(), "/api/v1/write), as a Prometheus agent does") {
		t.Errorf("the welcome does not say which way the samples come in:\n%s", out.String())
	}
	checkDemoRaw(t, cfg)

	stop()
	hc.CloseIdleConnections()
}

// demoMetrics reads, from the node's /metrics at base, what the test
// follows: the remote-write gateway's samples written and requests
// answered 204, and summed over the shards the points stored, the
// watermarks and the samples late.
func demoMetrics(t *testing.T, hc *http.Client, base string) (map[string]float64, error) {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for series, v := range scrape(t, b) {
		switch {
		case series == `tumble_ingest_samples_total{gateway="remote_write",outcome="written"}`:
			m["written"] = v
		case series == `tumble_ingest_requests_total{code="204",gateway="remote_write"}`:
			m["requests204"] = v
		case strings.HasPrefix(series, "tumble_replica_points_stored_total{"):
			m["points"] += v
		case strings.HasPrefix(series, "tumble_replica_watermark_seconds{"):
			m["watermark"] += v
		case strings.HasPrefix(series, "tumble_replica_late_samples_total{"):
			m["late"] += v
		}
	}
	return m, nil
}

// demoQuery returns how many series the instant query q has at base.
func demoQuery(hc *http.Client, base, q string) (int, error) {
	resp, err := hc.Get(base + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Status string
		Data   struct{ Result []json.RawMessage }
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, err
	}
	if res.Status != "success" {
		return 0, fmt.Errorf("query %s: status %s", q, res.Status)
	}
	return len(res.Data.Result), nil
}

// checkDemoRaw reads the demo's raw topic from its start until it has
// seen the gateway's records of traced request counters and of gauges,
// and a hundred records of the load generator's own: every gateway record
// (keyed by series group) holds only cumulative counters and gauges, every
// other record only the timers of the pod it is keyed by.
func checkDemoRaw(t *testing.T, cfg Config) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumeTopics(cfg.Kafka.RawTopics[0]),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var gatewayRecs, tracedCounters, gauges, native int
	for tracedCounters == 0 || gauges == 0 || native < 100 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.Empty() {
			t.Fatalf("the raw topic ends after %d gateway records (%d traced counters, %d gauges) and %d of the load generator's",
				gatewayRecs, tracedCounters, gauges, native)
		}
		for _, r := range fs.Records() {
			ss, err := sample.DecodeRecord(r.Value, sample.ParseFormat(string(headerValue(r, sample.ContentTypeHeader))), nil)
			if err != nil {
				t.Fatalf("raw record at %d/%d: %v", r.Partition, r.Offset, err)
			}
			gateway := strings.HasPrefix(string(r.Key), "series-group-")
			if gateway {
				gatewayRecs++
			} else {
				native++
			}
			for i := range ss {
				s := &ss[i]
				pod, _ := s.Labels.Get("pod")
				switch {
				case gateway && s.Type == sample.Cumulative:
					if s.Name == "http_requests_total" && !s.TraceID.IsZero() {
						tracedCounters++
					}
				case gateway && s.Type == sample.Gauge:
					gauges++
				case gateway:
					t.Fatalf("the gateway wrote %s%s, a %s", s.Name, s.Labels, s.Type)
				case s.Type != sample.Timer || pod != string(r.Key):
					t.Fatalf("a record keyed %q holds %s%s, a %s; want the timers of that pod alone", r.Key, s.Name, s.Labels, s.Type)
				}
			}
		}
	}
	t.Logf("raw topic: %d gateway records (%d traced request counters, %d gauges), %d records of timers keyed by pod",
		gatewayRecs, tracedCounters, gauges, native)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "")
}

// TestLoadVia: --load-via takes the two ways in, and names the key it
// refuses.
func TestLoadVia(t *testing.T) {
	for _, tc := range []struct {
		via  string
		code int
		err  string
	}{
		{loadViaRemoteWrite, 0, ""},
		{loadViaKafka, 0, ""},
		{"influx", 2, `loadVia "influx": want remote-write or kafka`},
	} {
		t.Run(tc.via, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run([]string{"--embedded", "--check", "--rules", "../../testdata/rules/example.yaml", "--load-via", tc.via}, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("got %d, %q; want %d, %q", code, stderr.String(), tc.code, tc.err)
			}
		})
	}
}

// TestDemoLoadGatewayBusy: the gateway answers 503 and 429 for three
// seconds, at 100 ticks a second long enough for the ticks waiting for it
// to overflow. The load generator says so at warn, sends the counters and
// gauges once the gateway takes them, and stops when told.
func TestDemoLoadGatewayBusy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "tumble-raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	busyUntil := time.Now().Add(3 * time.Second)
	var (
		mu             sync.Mutex
		refused, taken int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if time.Now().Before(busyUntil) {
			refused++
			w.WriteHeader([]int{http.StatusServiceUnavailable, http.StatusTooManyRequests}[refused%2])
			return
		}
		raw, err := snappy.Decode(nil, body)
		var req prompb.WriteRequest
		if err == nil {
			err = req.Unmarshal(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, ts := range req.Timeseries {
			taken += len(ts.Samples)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := defaults()
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Listen = strings.TrimPrefix(srv.URL, "http://")
	cfg.LoadRate = 100
	cfg.Ingest.RemoteWrite = true
	var logBuf syncbuf.Buffer
	ready := make(chan struct{})
	close(ready)
	stop := startLoad(t.Context(), cfg, slog.New(slog.NewTextHandler(&logBuf, nil)), ready)
	stopped := make(chan struct{})
	defer func() {
		go func() { stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			t.Fatal("the load generator did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("log:\n%s", lastLines(logBuf.String(), 40))
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n, r := taken, refused
		mu.Unlock()
		if n > 0 {
			t.Logf("%d requests refused, then %d samples taken; %d warnings, dropping logged: %v", r, n,
				strings.Count(logBuf.String(), "level=WARN"), strings.Contains(logBuf.String(), "dropped"))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway took nothing within a minute (%d requests refused)", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logBuf.String(), "level=WARN msg=\"remote write: the request failed; sending it again\"") {
		t.Errorf("no warning of the refused requests in the log:\n%s", lastLines(logBuf.String(), 20))
	}
}
