package main

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
)

// fakeClock is a loadClock whose Wait returns at once, the clock moved on
// to the time waited for. After stopAfter waits (when it is not 0) Wait
// reports an interrupt, as the wall clock's does on SIGINT.
type fakeClock struct {
	now       time.Time
	stopAfter int
	waits     []time.Time
}

var _ loadClock = (*fakeClock)(nil)

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Wait(ctx context.Context, t time.Time) error {
	if c.stopAfter > 0 && len(c.waits) == c.stopAfter {
		return context.Canceled
	}
	c.waits = append(c.waits, t)
	c.now = t
	return ctx.Err()
}

// TestLoadgenKafka produces a short run to an in-process broker, consumes
// it back and checks that each pod's records hold, in order, exactly the
// samples the generator makes for the same seed and fleet.
func TestLoadgenKafka(t *testing.T) {
	defer goleak.VerifyNone(t)
	start := time.UnixMilli(1763800000123)
	const seed, series, rate = 7, 300, 6000
	services, pods := fleetForSeries(series)
	requests, tick := fleetPace(services, pods, rate)
	if services != 7 || pods != 1 || tick != time.Second {
		t.Fatalf("fleet for %d series at %d samples/s: got %d services of %d pods and a %v tick, want 7 of 1 and 1s",
			series, rate, services, pods, tick)
	}
	for _, tc := range []struct {
		name        string
		format      string
		stop        []string // --ticks or --duration
		interruptAt int      // fakeClock.stopAfter
		wantTicks   int
	}{
		{"proto", "proto", []string{"--ticks", "3"}, 0, 3},
		{"json", "json", []string{"--ticks", "3"}, 0, 3},
		{"duration", "json", []string{"--duration", "2500ms"}, 0, 2},
		{"interrupted", "proto", nil, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "tumble-raw"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			clk := &fakeClock{now: start, stopAfter: tc.interruptAt}
			args := append([]string{"--brokers", strings.Join(c.ListenAddrs(), ","), "--seed", fmt.Sprint(seed),
				"--series", fmt.Sprint(series), "--rate", fmt.Sprint(rate), "--format", tc.format}, tc.stop...)
			var stdout, stderr bytes.Buffer
			status, err := loadgenClockCmd(args, &stdout, &stderr, clk)
			if err != nil || status != exitOK {
				t.Fatalf("loadgen: got status %d and error %v, want %d; stderr:\n%s", status, err, exitOK, &stderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: got %q, want nothing", &stdout)
			}
			var wantWaits []time.Time
			for i := range tc.wantTicks {
				wantWaits = append(wantWaits, start.Add(time.Duration(i+1)*tick))
			}
			if !reflect.DeepEqual(clk.waits, wantWaits) {
				t.Errorf("ticks paced at %v, want %v", clk.waits, wantWaits)
			}

			g := loadgen.New(loadgen.Config{Seed: seed, Services: services, PodsPerService: pods,
				RequestsPerPod: requests, StartMs: start.UnixMilli(), TickMs: tick.Milliseconds()})
			want := map[string][]sample.Sample{}
			for range tc.wantTicks {
				for _, s := range g.Tick(nil) {
					pod, _ := s.Labels.Get("pod")
					want[pod] = append(want[pod], s)
				}
			}

			got, st := consumeLoad(t, c.ListenAddrs(), "tumble-raw", tc.format)
			if len(got) != len(want) {
				t.Errorf("got records of %d pods, want %d", len(got), len(want))
			}
			for pod, w := range want {
				g := got[pod]
				for i := range max(len(g), len(w)) {
					if i >= len(g) || i >= len(w) || !reflect.DeepEqual(g[i], w[i]) {
						t.Errorf("pod %s: %d samples, %d wanted; first difference at %d: got %v, want %v",
							pod, len(g), len(w), i, at(g, i), at(w, i))
						break
					}
				}
			}
			wantSummary := fmt.Sprintf("loadgen: %d ticks, %d records, %d samples, %d bytes in %v: %.0f samples/s\n",
				tc.wantTicks, st.records, st.samples, st.bytes, time.Duration(tc.wantTicks)*tick,
				float64(st.samples)/(time.Duration(tc.wantTicks)*tick).Seconds())
			if !strings.HasSuffix(stderr.String(), wantSummary) {
				t.Errorf("stderr: got\n%s\nwant it to end with\n%s", &stderr, wantSummary)
			}
			if perTick := st.samples / tc.wantTicks; perTick < 9*rate/10 || perTick > 11*rate/10 {
				t.Errorf("got %d samples a tick, want about %d", perTick, rate)
			}
		})
	}
}

func at(s []sample.Sample, i int) any {
	if i < len(s) {
		return s[i]
	}
	return "nothing"
}

// consumeLoad reads topic from its start to its end offsets and returns each
// pod's samples in the order of its records. It checks that every record
// has the content type of format, at most recordSamples samples, all of the
// pod of its key, and that each key is on one partition.
func consumeLoad(t *testing.T, brokers []string, topic, format string) (map[string][]sample.Sample, loadSummary) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{} // records still to read per partition
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	wantType := map[string]string{"proto": sample.ContentTypeProto, "json": sample.ContentTypeJSON}[format]
	got := map[string][]sample.Sample{}
	partition := map[string]int32{}
	var st loadSummary
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 == left[r.Partition] {
				delete(left, r.Partition)
			}
			key := string(r.Key)
			if p, ok := partition[key]; ok && p != r.Partition {
				t.Errorf("key %q on partitions %d and %d", key, p, r.Partition)
			}
			partition[key] = r.Partition
			var contentType string
			for _, h := range r.Headers {
				if h.Key == sample.ContentTypeHeader {
					contentType = string(h.Value)
				}
			}
			if contentType != wantType {
				t.Errorf("record %d/%d: content type %q, want %q", r.Partition, r.Offset, contentType, wantType)
			}
			batch, err := sample.DecodeRecord(r.Value, sample.ParseFormat(contentType), nil)
			if err != nil {
				t.Fatalf("record %d/%d: %v", r.Partition, r.Offset, err)
			}
			if len(batch) > recordSamples {
				t.Errorf("record %d/%d: %d samples, want at most %d", r.Partition, r.Offset, len(batch), recordSamples)
			}
			for _, s := range batch {
				if pod, _ := s.Labels.Get("pod"); pod != key {
					t.Fatalf("record %d/%d keyed %q holds a sample of pod %q", r.Partition, r.Offset, key, pod)
				}
			}
			got[key] = append(got[key], batch...)
			st.records++
			st.samples += len(batch)
			st.bytes += len(r.Value)
		})
	}
	return got, st
}

// TestLoadgenKafkaFlags checks the flags that are refused before any broker
// is reached.
func TestLoadgenKafkaFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "5"}, "--rate needs --brokers"},
		{[]string{"--format", "json", "--output", "x"}, "--format needs --brokers"},
		{[]string{"--brokers", "k:9092", "--output", "x"}, "--output does not go with --brokers"},
		{[]string{"--brokers", "k:9092", "--requests", "5"}, "--requests does not go with --brokers"},
		{[]string{"--brokers", "k:9092", "--bad-every", "5"}, "--bad-every does not go with --brokers"},
		{[]string{"--brokers", "k:9092,,j:9092"}, "empty broker address"},
		{[]string{"--brokers", "k:9092", "--format", "avro"}, `--format "avro": want proto or json`},
		{[]string{"--brokers", "k:9092", "--rate", "0"}, "--rate 0: must be positive"},
		{[]string{"--brokers", "k:9092", "--ticks", "0"}, "--ticks 0: must be positive"},
		{[]string{"--brokers", "k:9092", "--duration", "-1s"}, "--duration -1s: must not be negative"},
		{[]string{"--brokers", "k:9092", "--series", "100", "--pods", "2"}, "--series picks --services and --pods"},
		{[]string{"--brokers", "k:9092", "--topic", ""}, "--topic is empty"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			status, _, stderr := tumblectl(t, "", append([]string{"loadgen"}, tc.args...)...)
			if status != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("got status %d and stderr %q, want %d and %q", status, stderr, exitError, tc.want)
			}
		})
	}
}

// TestFleetForSeries checks the fleet --series picks, and that the
// generator's fleet sends as many series as fleetSeries says.
func TestFleetForSeries(t *testing.T) {
	for _, tc := range []struct {
		series                       int
		wantServices, wantPods, want int
		run                          bool // count the generator's series
	}{
		{1, 1, 1, 32, true},
		{100, 1, 3, 96, true},
		{300, 7, 1, 314, true},
		{564, 12, 1, 564, true},
		{1000, 11, 2, 1004, false},
		{2000, 11, 4, 2008, false},
		{100000, 12, 177, 99828, false},
	} {
		t.Run(fmt.Sprint(tc.series), func(t *testing.T) {
			services, pods := fleetForSeries(tc.series)
			if services != tc.wantServices || pods != tc.wantPods {
				t.Fatalf("got %d services of %d pods, want %d of %d", services, pods, tc.wantServices, tc.wantPods)
			}
			if got := fleetSeries(services, pods); got != tc.want {
				t.Errorf("got %d series, want %d", got, tc.want)
			}
			if !tc.run {
				return
			}
			// Enough requests that every route answers with every status.
			g := loadgen.New(loadgen.Config{Seed: 1, Services: services, PodsPerService: pods, RequestsPerPod: 1000})
			type series struct{ name, pod, route, status string }
			seen := map[series]bool{}
			var batch []sample.Sample
			for range 20 {
				batch = g.Tick(batch[:0])
				for _, s := range batch {
					if len(s.Labels) > 4 {
						t.Fatalf("%s has labels %v, more than this test tells apart", s.Name, s.Labels)
					}
					pod, _ := s.Labels.Get("pod")
					route, _ := s.Labels.Get("route")
					status, _ := s.Labels.Get("status")
					seen[series{s.Name, pod, route, status}] = true
				}
			}
			if len(seen) != tc.want {
				t.Errorf("the generator sent %d series, want %d", len(seen), tc.want)
			}
		})
	}
}

// TestFleetPace checks that the fleet sends about the asked rate once every
// route has answered with every status.
func TestFleetPace(t *testing.T) {
	for _, tc := range []struct {
		series, rate int
		wantRequests int
		wantTick     time.Duration
	}{
		{564, 10000, 809, time.Second},
		{300, 6000, 834, time.Second},
		{100, 5000, 1650, time.Second},
		{1000, 2000, 67, time.Second},
		{5000, 1000, 1, 2754 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%d series at %d", tc.series, tc.rate), func(t *testing.T) {
			services, pods := fleetForSeries(tc.series)
			requests, tick := fleetPace(services, pods, tc.rate)
			if requests != tc.wantRequests || tick != tc.wantTick {
				t.Fatalf("got %d requests per pod and a %v tick, want %d and %v", requests, tick, tc.wantRequests, tc.wantTick)
			}
			if tick != time.Second {
				// Each pod's counters and gauges, and a request: about
				// (series+2·pods)/2 + pods samples a tick.
				perTick := (fleetSeries(services, pods)+2*services*pods)/2 + services*pods
				if got := float64(perTick) / tick.Seconds(); got < 0.99*float64(tc.rate) || got > 1.01*float64(tc.rate) {
					t.Errorf("got %.0f samples/s, want about %d", got, tc.rate)
				}
				return
			}
			g := loadgen.New(loadgen.Config{Seed: 3, Services: services, PodsPerService: pods, RequestsPerPod: requests, TickMs: tick.Milliseconds()})
			var batch []sample.Sample
			const warmUp, ticks = 20, 60
			n := 0
			for i := range warmUp + ticks {
				batch = g.Tick(batch[:0])
				if i >= warmUp {
					n += len(batch)
				}
			}
			if got := float64(n) / (ticks * tick.Seconds()); got < 0.9*float64(tc.rate) || got > 1.1*float64(tc.rate) {
				t.Errorf("got %.0f samples/s, want about %d", got, tc.rate)
			}
		})
	}
}
