package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/promtooltest"
	"github.com/tumblemetrics/tumble/internal/syncbuf"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
)

// TestRemoteWritePrometheus: a real Prometheus server (Debian's package)
// scrapes an exporter each second — request counters by code, a queue
// depth gauge, a latency histogram whose buckets carry exemplars — and
// remote-writes into tumble (real Kafka, 4 raw partitions). What tumble
// serves is what the replay computes from the samples its gateway wrote
// to the raw topic, every bucket's exemplar is one of the exporter's
// traces, and the metadata made counters and buckets cumulative.
func TestRemoteWritePrometheus(t *testing.T) { remoteWritePrometheus(t, false) }

// TestRemoteWriteKafkaOutage is TestRemoteWritePrometheus with the Kafka
// broker killed for a while as Prometheus writes: the gateway answers 503,
// Prometheus sends again, and once the broker is back every sample
// Prometheus holds of the exporter's series is in the raw topic once —
// none lost, none twice — and tumble serves what the replay computes.
func TestRemoteWriteKafkaOutage(t *testing.T) { remoteWritePrometheus(t, true) }

func remoteWritePrometheus(t *testing.T, outage bool) {
	promBin := promtooltest.Prometheus(t)
	k := kafkatest.Start(t)
	cfg := exporterConfig(t, k, "rw")
	cfg.Ingest.RemoteWrite = true
	s := startServer(t, &cfg)
	ctx := t.Context()
	base := "http://" + cfg.Listen

	// The exporter, updated every 50ms.
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "demo_requests_total", Help: "Requests served."}, []string{"code"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "demo_queue_depth", Help: "Jobs waiting."})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "demo_latency_seconds", Help: "Request latency.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1}})
	reg.MustRegister(requests, depth, latency)
	exp := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer exp.Close()
	var (
		mu     sync.Mutex
		traces = map[string]bool{}
	)
	updates, stopUpdates := context.WithCancel(ctx)
	var updaters sync.WaitGroup
	updaters.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-updates.Done():
				return
			case <-tick.C:
			}
			requests.WithLabelValues([]string{"200", "200", "200", "500"}[i%4]).Inc()
			depth.Set(float64(i % 17))
			var id [16]byte
			rand.Read(id[:])
			tid := hex.EncodeToString(id[:])
			mu.Lock()
			traces[tid] = true
			mu.Unlock()
			latency.(prometheus.ExemplarObserver).ObserveWithExemplar(float64(i%23)/20, prometheus.Labels{"trace_id": tid})
		}
	})

	// Prometheus: scrape each second, remote-write with exemplars and
	// metadata.
	dir := t.TempDir()
	promAddr := freeAddr(t)
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/write
    send_exemplars: true
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 1s
`, strings.TrimPrefix(exp.URL, "http://"), base)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var promLog syncbuf.Buffer
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--enable-feature=exemplar-storage", "--log.level=warn")
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	promDone := make(chan error, 1)
	go func() { promDone <- prom.Wait() }()
	defer func() {
		prom.Process.Kill()
		<-promDone
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	}()

	// Fifteen seconds of scrapes once tumble takes samples in: then the
	// exporter stops moving and Prometheus stops (it sends what it holds
	// first).
	waitWritten(t, base, 1, promDone)
	if outage {
		time.Sleep(5 * time.Second)
		k.Stop()
		time.Sleep(12 * time.Second) // Prometheus' requests fail or wait meanwhile
		k.Restart(t)
	}
	time.Sleep(15 * time.Second)
	stopUpdates()
	updaters.Wait()
	var held map[string]int
	if outage {
		// The exporter gone, Prometheus holds every sample of its series
		// it will ever send.
		exp.Close()
		time.Sleep(2 * time.Second)
		held = promSamples(t, "http://"+promAddr)
	}
	prom.Process.Signal(syscall.SIGTERM)
	select {
	case <-promDone:
	case <-time.After(time.Minute):
		t.Fatal("prometheus did not stop within a minute of SIGTERM")
	}
	promDone <- nil // for the deferred Kill

	// The oracle: the samples the gateway wrote, from the raw topic.
	written := readRaw(t, k.Addr(), cfg.Kafka.RawTopics[0])
	if len(written) == 0 {
		t.Fatal("nothing in the raw topic")
	}
	if outage {
		logRefused(t, base)
		compareHeld(t, held, written)
	}
	checkExporterServed(t, s, base, &cfg, written, traces)
}

// exporterConfig is the configuration of a node that takes an
// application's metrics (testdata/rules/exporter.yaml) through a gateway,
// on broker k: windows of 5s, 20s of lateness (requests of different
// series arrive out of order), raw partitions idle after 2s.
func exporterConfig(t *testing.T, k *kafkatest.Broker, id string) Config {
	cfg := defaults()
	cfg.Rules = "../../testdata/rules/exporter.yaml"
	cfg.DataDir = t.TempDir()
	cfg.Kafka.Brokers = []string{k.Addr()}
	cfg.RouterID = id
	cfg.Lateness = 20 * time.Second
	cfg.EventTime.IdleTimeout = 2 * time.Second
	return cfg
}

// checkExporterServed checks what tumble (s, its API at base) made of the
// samples written of the exporter's series (testdata/rules/exporter.yaml):
// counters and buckets cumulative, the queue a gauge, every trace one of
// traces (and some), the points served those the replay of written
// computes once every window has closed, and the buckets' exemplars some
// of traces.
func checkExporterServed(t *testing.T, s *server, base string, cfg *Config, written []sample.Sample, traces map[string]bool) {
	t.Helper()
	if len(written) == 0 {
		t.Fatal("nothing in the raw topic")
	}
	types := map[string]sample.Type{}
	lastMs := int64(math.MinInt64)
	traced := 0
	for i := range written {
		s := &written[i]
		types[s.Name] = s.Type
		lastMs = max(lastMs, s.TimestampMs)
		if !s.TraceID.IsZero() {
			traced++
			if !traces[s.TraceID.String()] {
				t.Errorf("%s%v carries trace %s, which the exporter never made", s.Name, s.Labels, s.TraceID)
			}
		}
	}
	for name, want := range map[string]sample.Type{"demo_requests_total": sample.Cumulative, "demo_latency_seconds_bucket": sample.Cumulative,
		"demo_latency_seconds_count": sample.Cumulative, "demo_queue_depth": sample.Gauge} {
		if types[name] != want {
			t.Errorf("%s: type %s, want %s; types %v", name, types[name], want, types)
		}
	}
	if traced == 0 {
		t.Error("no sample carries an exemplar's trace")
	}
	written = slices.Clone(written)
	slices.SortStableFunc(written, func(a, b sample.Sample) int { return int(a.TimestampMs - b.TimestampMs) }) // no sample late in the replay
	want := replayPointsWith(t, cfg.Rules, written, replay.Options{Aggregator: aggregator.Options{Lateness: cfg.Lateness}})
	lastEnd := lastMs - lastMs%5000 + 5000
	waitEmitted(t, s, lastEnd+cfg.Lateness.Milliseconds())
	served := servedPolicyPoints(t, base, time.Now().Unix()+300, "5s:1d")
	comparePoints(t, want, served)

	exemplars := servedTraces(t, base, "demo_latency_seconds_bucket")
	for _, tr := range exemplars {
		if !traces[tr] {
			t.Errorf("exemplar trace %q is not the exporter's", tr)
		}
	}
	if len(exemplars) == 0 {
		t.Error("no exemplar served for demo_latency_seconds_bucket")
	}
	t.Logf("%d samples written (%d with a trace), %d points served as the replay computed them, %d exemplars", len(written), traced, len(served), len(exemplars))
}

// waitWritten waits until the remote-write gateway of the node at base has
// written at least n samples, failing if Prometheus (done) exits first or
// nothing comes for a minute.
func waitWritten(t *testing.T, base string, n float64, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("prometheus exited: %v", err)
		default:
		}
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if scrape(t, b)[`tumble_ingest_samples_total{gateway="remote_write",outcome="written"}`] >= n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the remote-write gateway wrote nothing for a minute")
}

// readRaw returns the samples of topic, read committed, up to the
// end of each of its partitions at the time of the call. It waits while
// records come, and fails after a minute without any.
func readRaw(t *testing.T, broker, topic string) []sample.Sample {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords()) // a transaction's marker ends a partition as often as not
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	cancel()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("the raw topic's end offsets: %v", err)
	}
	left := map[int32]int64{} // the partitions not read to their end
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []sample.Sample
	for moved := time.Now(); len(left) > 0; {
		if time.Since(moved) > time.Minute {
			t.Fatalf("raw topic: nothing read for a minute, %d partitions not read to their end (%v), %d samples read", len(left), left, len(out))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, r := range fs.Records() {
			moved = time.Now()
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				continue
			}
			ss, err := sample.DecodeRecord(r.Value, sample.ParseFormat(string(headerValue(r, sample.ContentTypeHeader))), nil)
			if err != nil {
				t.Fatalf("raw record at %d/%d: %v", r.Partition, r.Offset, err)
			}
			out = append(out, ss...)
		}
	}
	return out
}

func headerValue(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// logRefused logs how many requests the gateway at base answered 503
// while Kafka was away: a request whose commit was asked waits for the
// broker instead, so there need not be any.
func logRefused(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := scrape(t, b)
	t.Logf("while the broker was down: %v requests answered 503, %v written",
		m[`tumble_ingest_requests_total{code="503",gateway="remote_write"}`], m[`tumble_ingest_requests_total{code="204",gateway="remote_write"}`])
}

// promSamples returns the samples of the exporter's series (demo_*) that
// the Prometheus server at base holds, as "name{labels} ts value", with
// how many times each.
func promSamples(t *testing.T, base string) map[string]int {
	t.Helper()
	var res struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Values [][2]any
			}
		}
	}
	getJSON(t, base+"/api/v1/query?"+url.Values{"query": {`{__name__=~"demo_.+"}[10m]`}}.Encode(), &res)
	out := map[string]int{}
	for _, sr := range res.Data.Result {
		name := sr.Metric["__name__"]
		delete(sr.Metric, "__name__")
		ls := sample.FromMap(sr.Metric)
		for _, v := range sr.Values {
			f, err := strconv.ParseFloat(v[1].(string), 64)
			if err != nil {
				t.Fatal(err)
			}
			out[sampleKey(name, ls, int64(v[0].(float64)*1000+0.5), f)]++
		}
	}
	if len(out) == 0 {
		t.Fatal("prometheus holds no sample of the exporter")
	}
	return out
}

func sampleKey(name string, ls sample.Labels, ms int64, v float64) string {
	return fmt.Sprintf("%s%s %d %v", name, ls, ms, v)
}

// compareHeld requires the raw topic's samples of the exporter's series to
// be what Prometheus holds, each once.
func compareHeld(t *testing.T, held map[string]int, written []sample.Sample) {
	t.Helper()
	got := map[string]int{}
	for i := range written {
		if s := &written[i]; strings.HasPrefix(s.Name, "demo_") {
			got[sampleKey(s.Name, s.Labels, s.TimestampMs, s.Value)]++
		}
	}
	bad := 0
	for k := range held {
		if got[k] != 1 {
			if bad++; bad <= 10 {
				t.Errorf("%s: %d times in the raw topic, want once", k, got[k])
			}
		}
	}
	for k, n := range got {
		if held[k] == 0 {
			if bad++; bad <= 10 {
				t.Errorf("%s: %d times in the raw topic, not in Prometheus", k, n)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d samples differ between Prometheus (%d) and the raw topic (%d)", bad, len(held), len(got))
	}
	t.Logf("the %d samples Prometheus holds of the exporter are in the raw topic, each once", len(held))
}

// servedTraces returns the trace IDs of the exemplars the query API at
// base serves for query, over all time.
func servedTraces(t *testing.T, base, query string) []string {
	t.Helper()
	var ex struct {
		Data []struct {
			Exemplars []struct{ Labels map[string]string }
		}
	}
	getJSON(t, base+"/api/v1/query_exemplars?"+url.Values{"query": {query},
		"start": {"0"}, "end": {strconv.FormatInt(time.Now().Unix()+300, 10)}}.Encode(), &ex)
	var out []string
	for _, sr := range ex.Data {
		for _, e := range sr.Exemplars {
			out = append(out, e.Labels["trace_id"])
		}
	}
	return out
}
