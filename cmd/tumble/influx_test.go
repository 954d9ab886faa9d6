package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
)

// TestInflux: InfluxDB's official Go client writes a queue gauge of three
// hosts (with a trace_id tag on some points) to /api/v2/write, and an
// InfluxDB 1.x writer sends seconds-precision lines to /write, into tumble
// on real Kafka. The points served are those the replay computes from
// the samples the gateway wrote; the string field and the malformed line
// are refused with a 400 that names them, the rest written.
func TestInflux(t *testing.T) {
	k := kafkatest.Start(t)
	cfg := exporterConfig(t, k, "influx")
	cfg.Ingest.Influx = true
	s := startServer(t, &cfg)
	base := "http://" + cfg.Listen
	ctx := t.Context()

	client := influxdb2.NewClientWithOptions(base, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer client.Close()
	api := client.WriteAPIBlocking("tumble", "metrics")
	start := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	traces := map[string]bool{}
	for i := range 200 {
		ts := start.Add(time.Duration(i) * 100 * time.Millisecond)
		tags := map[string]string{"host": fmt.Sprintf("h%d", i%3)}
		if i%5 == 0 {
			tid := fmt.Sprintf("%032x", i+1)
			tags["trace_id"] = tid
			traces[tid] = true
		}
		p := influxdb2.NewPoint("demo", tags, map[string]any{"queue_depth": float64(i % 17)}, ts)
		if err := api.WritePoint(ctx, p); err != nil {
			t.Fatalf("write point %d: %v", i, err)
		}
	}
	// InfluxDB 1.x's endpoint, seconds precision, a bad line and a string
	// field among good ones.
	v1 := fmt.Sprintf("demo,host=h9 queue_depth=4 %d\nbroken\ndemo,host=h9 note=\"x\",queue_depth=5 %d\n", start.Unix()+1, start.Unix()+2)
	resp, err := http.Post(base+"/write?db=metrics&precision=s", "text/plain", bytes.NewBufferString(v1))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body.Bytes(), []byte("partial write: 2 samples refused (2 written)")) {
		t.Errorf("v1 write: got %d %s, want 400 naming the 2 refused", resp.StatusCode, body.String())
	}

	written := readRaw(t, k.Addr(), cfg.Kafka.RawTopics[0])
	if len(written) != 202 {
		t.Fatalf("got %d samples in the raw topic, want 202", len(written))
	}
	lastMs := int64(0)
	for i := range written {
		lastMs = max(lastMs, written[i].TimestampMs)
		if tid := written[i].TraceID; !tid.IsZero() && !traces[tid.String()] {
			t.Errorf("sample %+v: trace %s was not sent", written[i], tid)
		}
	}
	written = slices.Clone(written)
	slices.SortStableFunc(written, func(a, b sample.Sample) int { return int(a.TimestampMs - b.TimestampMs) })
	want := replayPointsWith(t, cfg.Rules, written, replay.Options{Aggregator: aggregator.Options{Lateness: cfg.Lateness}})
	waitEmitted(t, s, lastMs-lastMs%5000+5000+cfg.Lateness.Milliseconds())
	comparePoints(t, want, servedPolicyPoints(t, base, time.Now().Unix()+300, "5s:1d"))
	exemplars := servedTraces(t, base, "demo_queue_depth_max")
	for _, tr := range exemplars {
		if !traces[tr] {
			t.Errorf("exemplar trace %q was not sent", tr)
		}
	}
	if len(exemplars) == 0 {
		t.Error("no exemplar served for demo_queue_depth_max")
	}
	t.Logf("%d samples written, %d points served as the replay computed them, %d exemplars", len(written), len(want), len(exemplars))
}
