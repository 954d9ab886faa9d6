package main

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/childproc"
	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/router"
)

// The field the event-time test builds: a raw topic of several partitions
// fed by several producers whose clocks disagree, keyed by pod (each series
// has one).
const (
	fieldPartitions = 6
	fieldProducers  = 3
	fieldTicks      = 480 // seconds of the fleet's traffic
	fieldIdle       = 2 * time.Second
	fieldSkew       = 5 * time.Second
)

// fieldClock is how far each producer's clock is off, in ms: within the
// skew allowance and below the finest lateness (10s).
var fieldClock = [fieldProducers]int64{0, 3_000, -4_000}

// TestEventTimeField runs tumble as its own process against a real Kafka
// broker and feeds it as a fleet does: three producers with disagreeing
// clocks write to six raw partitions, keyed by pod; half the traffic waits
// in Kafka before tumble starts (a backlog), tumble is killed and started
// again mid-way, and a second router joins the group while the rest comes.
// A fourth producer's clock is nine minutes ahead: its samples must be
// dead-lettered with their reason, and make no other sample late. Then the
// input stops: the quiet partitions close every window, the query API must
// serve what the offline replay computes from the same samples (sums
// within float rounding, as their order of addition differs; the rest bit
// for bit), no sample may have been late, and a single sample sent by
// hand afterwards must be served once its window's time has passed.
func TestEventTimeField(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tumble and runs a Kafka broker")
	}
	dir := t.TempDir()
	logPath := tumbleLogPath(t, dir)
	b := kafkatest.Start(t)
	b.CreateTopic(t, "tumble-raw", fieldPartitions)
	bin := buildTumble(t, dir)
	rulesPath, err := filepath.Abs("../../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	node := startFieldNode(t, dir, bin, rulesPath, b.Addr(), logPath)

	// Event time ends three minutes before now: once the input stops, the
	// idle partitions' watermarks pass every window at once.
	now := time.Now().UnixMilli()
	start := now - now%60_000 - 11*60_000
	fleet := loadgen.New(loadgen.Config{Seed: 13, StartMs: start, TickMs: 1000, Services: 6, PodsPerService: 4})
	prods := make([]*kgo.Client, fieldProducers+1)
	for i := range prods {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("tumble-raw"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		prods[i] = cl
	}
	var all []sample.Sample
	var batch []sample.Sample
	// produce sends ticks [from, to) of the fleet, each producer its pods
	// with its clock, side by side.
	produce := func(from, to int) {
		t.Helper()
		for tick := from; tick < to; tick++ {
			batch = fleet.Tick(batch[:0])
			recs := make([][]*kgo.Record, fieldProducers)
			loadgen.PodRuns(batch, 500, func(pod string, run []sample.Sample) {
				p := producerOf(pod)
				for i := range run {
					run[i].TimestampMs += fieldClock[p]
				}
				all = append(all, run...)
				recs[p] = append(recs[p], fleetRecord([]byte(pod), run, tick%2 == 0))
			})
			var wg sync.WaitGroup
			errs := make([]error, fieldProducers)
			for p := range fieldProducers {
				wg.Go(func() { errs[p] = prods[p].ProduceSync(context.Background(), recs[p]...).FirstErr() })
			}
			wg.Wait()
			for p, err := range errs {
				if err != nil {
					t.Fatalf("producer %d, tick %d: %v", p, tick, err)
				}
			}
		}
	}

	// The backlog, then tumble, which reads it at once.
	produce(0, fieldTicks/2)
	node.start()
	defer node.stop(syscall.SIGKILL)
	produce(fieldTicks/2, fieldTicks*5/8)
	node.stop(syscall.SIGKILL)
	t.Log("tumble killed")
	produce(fieldTicks*5/8, fieldTicks*3/4)
	node.start()

	// A second router joins the group: the raw partitions are shared
	// between the two from now on.
	rs, err := rules.ParseFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	limits := sample.DefaultLimits()
	limits.MaxFuture = fieldSkew
	extra, err := router.New(rs, 4, limits)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	extraDone := make(chan error, 1)
	go func() {
		extraDone <- extra.Run(rctx, router.Config{RawTopics: []string{"tumble-raw"}, Group: "tumble-router",
			ShardTopic: "tumble-shards", DeadLetterTopic: "tumble-dead-letter", ID: "extra",
			IdleTimeout: fieldIdle, LeaveOnStop: func() bool { return true }}, kgo.SeedBrokers(b.Addr()))
	}()
	defer func() {
		rcancel()
		if err := <-extraDone; err != nil {
			t.Errorf("the second router: %v", err)
		}
	}()

	// The producer whose clock is nine minutes ahead.
	ahead := []sample.Sample{{Name: "http_requests_total", Labels: sample.FromMap(map[string]string{"service": "checkout", "pod": "fast-clock", "route": "/", "status": "200"}),
		Type: sample.Cumulative, Value: 7, TimestampMs: time.Now().Add(9 * time.Minute).UnixMilli()}}
	for i := range 3 {
		s := ahead[0]
		s.TimestampMs += int64(i) * 1000
		if err := prods[fieldProducers].ProduceSync(context.Background(), &kgo.Record{Key: []byte("fast-clock"), Value: sample.AppendJSON(nil, &s)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(fieldTicks*3/4, fieldTicks)
	last := all[0].TimestampMs
	for _, s := range all {
		last = max(last, s.TimestampMs)
	}

	// Every window closes: the last 1m window with its lateness, once
	// every partition is read and quiet. The wait lasts while the
	// watermarks move.
	closeAt := last - last%60_000 + 2*60_000
	waitWatermarks(t, node.base, 4, closeAt, "tumble")

	want := replayPoints(t, rulesPath, all)
	exact, rounded := comparePointsRounded(t, want, servedPoints(t, node.base, closeAt/1000))
	t.Logf("%d samples from %d producers over %d raw partitions: %d points served as the replay computed them, %d sums within rounding",
		len(all), fieldProducers, fieldPartitions, exact, rounded)
	if st := extra.Published(); st.Records == 0 {
		t.Error("the second router routed nothing: it was given no raw partition")
	} else {
		t.Logf("the second router routed %d of the raw records", st.Records)
	}
	if late := metricSum(t, node.base, "tumble_replica_late_samples_total"); late != 0 {
		t.Errorf("%v samples late, want none", late)
	}

	// A sample of a window closed long ago is late, for both policies of
	// its rule: counted under its rule, and dead-lettered.
	old := sample.Sample{Name: "http_request_duration_seconds", Labels: sample.FromMap(map[string]string{"service": "checkout", "route": "/", "pod": "late"}),
		Type: sample.Timer, Value: 0.5, TimestampMs: start + 30_000}
	if err := prods[1].ProduceSync(context.Background(), &kgo.Record{Key: []byte("late"), Value: sample.AppendJSON(nil, &old)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reasons := deadLetters(t, []string{b.Addr()}, "tumble-dead-letter", 5)
	if reasons[sample.CodeTimestampInFuture] != 3 || reasons[sample.ReasonLate] != 2 {
		t.Errorf("dead letters %v, want the 3 samples from the future as %s and the late one, twice, as %s", reasons, sample.CodeTimestampInFuture, sample.ReasonLate)
	}
	// The replica publishes its counters after the poll that wrote them.
	lateSeries := `tumble_replica_late_samples_total{reason="window_closed",rule="http latency by route"`
	for deadline := time.Now().Add(10 * time.Second); metricSum(t, node.base, lateSeries) != 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if late := metricSum(t, node.base, lateSeries); late != 2 {
		t.Errorf("%v late samples counted under their rule, want 2 (one per policy)", late)
	}

	// A single sample sent by hand, after the input stopped, is served
	// once its window has closed: resolution + lateness + idle timeout.
	sent := time.Now()
	hand := sample.Sample{Name: "http_request_duration_seconds", Labels: sample.FromMap(map[string]string{"service": "by-hand", "route": "/", "pod": "kcat"}),
		Type: sample.Timer, Value: 0.25, TimestampMs: sent.UnixMilli()}
	if err := prods[0].ProduceSync(context.Background(), &kgo.Record{Key: []byte("kcat"), Value: sample.AppendJSON(nil, &hand)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	end := hand.TimestampMs - hand.TimestampMs%10_000 + 10_000
	waitWatermarks(t, node.base, 4, end+10_000, "tumble")
	q := url.Values{"query": {`http_request_duration_seconds_by_route_sum{service="by-hand", __policy__="10s:2d"}`}, "time": {strconv.FormatInt(end/1000, 10)}}
	var res struct {
		Data struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	getJSON(t, node.base+"/api/v1/query?"+q.Encode(), &res)
	if len(res.Data.Result) != 1 || res.Data.Result[0].Value[1] != "0.25" {
		t.Fatalf("the hand-sent sample: served %+v, want its sum 0.25 at %d", res.Data.Result, end)
	}
	t.Logf("the hand-sent sample was served %s after it was sent (resolution 10s + lateness 10s + idle timeout %s + skew allowance %s = %s at most)",
		time.Since(sent).Round(100*time.Millisecond), fieldIdle, fieldSkew, 20*time.Second+fieldIdle+fieldSkew)
}

// tumbleLogPath returns the path in dir of the log of a test's tumble
// process. Call it before starting the broker: its cleanup, registered
// first, runs last, so that on a failure the end of tumble's log ends the
// output, after the broker's.
func tumbleLogPath(t *testing.T, dir string) string {
	path := filepath.Join(dir, "tumble.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the end of tumble's log:\n%s", tail(path))
		}
	})
	return path
}

// producerOf returns the producer of a pod's series.
func producerOf(pod string) int {
	h := fnv.New32a()
	h.Write([]byte(pod))
	return int(h.Sum32() % fieldProducers)
}

// tumbleProc is one tumble process of a test, started and stopped at will,
// its output appended to a log file.
type tumbleProc struct {
	t            *testing.T
	bin, cfgPath string
	logf         *os.File
	base         string
	proc         *exec.Cmd
}

// newTumbleProc returns the process of bin with the configuration at
// cfgPath, whose HTTP API listens on listen, logging to logPath.
func newTumbleProc(t *testing.T, bin, cfgPath, listen, logPath string) *tumbleProc {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	return &tumbleProc{t: t, bin: bin, cfgPath: cfgPath, logf: logf, base: "http://" + listen}
}

func startFieldNode(t *testing.T, dir, bin, rulesPath, broker, logPath string) *tumbleProc {
	t.Helper()
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "tumble.yaml")
	cfg := fmt.Sprintf(`rules: %s
dataDir: %s
listen: %s
grpcListen: 127.0.0.1:0
shards: 4
routerID: node
eventTime:
  idleTimeout: %s
  skewAllowance: %s
  deadLetterLate: true
kafka:
  brokers: [%s]
`, rulesPath, filepath.Join(dir, "data"), listen, fieldIdle, fieldSkew, broker)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return newTumbleProc(t, bin, cfgPath, listen, logPath)
}

// start starts the process and waits for its HTTP API.
func (n *tumbleProc) start() {
	t := n.t
	t.Helper()
	n.proc = exec.Command(n.bin, "--config", n.cfgPath)
	n.proc.Stdout, n.proc.Stderr = n.logf, n.logf
	if err := n.proc.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(n.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("tumble did not come up (its log ends the output)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the process and waits for it; it returns how it ended.
func (n *tumbleProc) stop(sig syscall.Signal) error {
	if n.proc == nil || n.proc.ProcessState != nil {
		return nil
	}
	n.proc.Process.Signal(sig)
	return n.proc.Wait()
}

// waitWatermarks waits until every one of the shards' watermarks on
// base's /metrics is at or past ms; it fails once they have not moved for a
// minute, naming what.
func waitWatermarks(t *testing.T, base string, shards int, ms int64, what string) {
	t.Helper()
	lastMove, lastSum := time.Now(), math.Inf(-1)
	for !watermarksReached(t, base, shards, ms) {
		if sum := metricSum(t, base, "tumble_replica_watermark_seconds"); sum != lastSum {
			lastMove, lastSum = time.Now(), sum
		}
		if time.Since(lastMove) > time.Minute {
			t.Fatalf("the watermarks of %s stopped short of %d (its log ends the output)", what, ms)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricSum returns the sum of the values of a metric on base's /metrics;
// name may end with some of its labels, in their order, to sum only the
// series that have them (`m{a="x"` matches m{a="x",b="y"}).
func metricSum(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		// The value follows the last space: label values may hold spaces.
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		series, value, ok := line[:max(i, 0)], line[i+1:], i > 0
		if !ok || series != name && !strings.HasPrefix(series, name+"{") && !(strings.Contains(name, "{") && strings.HasPrefix(series, name)) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			sum += v
		}
	}
	return sum
}

// comparePointsRounded requires got to hold exactly the points of want:
// bit for bit, but for sums, whose order of addition follows the arrival
// order of samples from several partitions and so may differ from the
// replay's in the last bits (a relative difference of at most 1e-9). It
// returns how many were equal bit for bit and how many only within it.
func comparePointsRounded(t *testing.T, want map[string]replay.Point, got map[string]float64) (exact, rounded int) {
	t.Helper()
	near := map[string]float64{}
	for k, g := range got {
		p, ok := want[k]
		w := float64(p.Value)
		if ok && math.Float64bits(g) != math.Float64bits(w) && p.Aggregation == "Sum" && math.Abs(g-w) <= 1e-9*math.Max(math.Abs(w), 1) {
			near[k] = w // compared as the replay's
			rounded++
			continue
		}
		near[k] = g
	}
	comparePoints(t, want, near)
	return len(want) - rounded, rounded
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ports, err := childproc.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}
