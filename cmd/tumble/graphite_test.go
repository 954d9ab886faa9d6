package main

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
)

// TestGraphite: carbon lines over TCP (three hosts, one connection each,
// a malformed line among them) and UDP (a fourth host) into tumble on real
// Kafka, rolled up by M3's path labels (testdata/rules/graphite.yaml):
// every good line is in the raw topic once, the bad one in the dead-letter
// topic, and the points served are those the replay computes.
func TestGraphite(t *testing.T) {
	k := kafkatest.Start(t)
	cfg := exporterConfig(t, k, "graphite")
	cfg.Rules = "../../testdata/rules/graphite.yaml"
	cfg.Ingest.GraphiteTCP, cfg.Ingest.GraphiteUDP = "127.0.0.1:0", "127.0.0.1:0"
	// The hosts send one after the other, event time from 40s ago: the
	// windows must not close before the last host's lines are routed,
	// however slow a busy machine makes the gateway's first transactions.
	// A partition that went quiet lets the clock close a window only once
	// it has been quiet for IdleTimeout and the clock, less the skew
	// allowance (5s), is past the window's end plus the lateness: here
	// the first window closes some 40s after the lines are sent (45s
	// after the router's partitions were assigned, 30s after the clock
	// allows it), well within the minute waitEmitted waits for a move.
	cfg.EventTime.IdleTimeout = 45 * time.Second
	cfg.Lateness = time.Minute
	s := startServer(t, &cfg)
	base := "http://" + cfg.Listen

	start := time.Now().Add(-40 * time.Second).Unix()
	sent := 0
	for h := range 3 {
		c, err := net.Dial("tcp", s.graphite.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			for _, kind := range []string{"user", "system"} {
				fmt.Fprintf(c, "servers.host-%d.cpu.%s %d %d\n", h, kind, (i*7+h)%100, start+int64(i))
				sent++
			}
			if h == 1 && i == 10 {
				fmt.Fprintf(c, "servers..cpu 1 %d\n", start+int64(i)) // an empty component
			}
		}
		c.Close()
	}
	u, err := net.Dial("udp", s.graphite.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		fmt.Fprintf(u, "servers.host-9.cpu.user %d %d\nservers.host-9.cpu.system %d %d\n", i, start+int64(i), 2*i, start+int64(i))
		sent += 2
		time.Sleep(5 * time.Millisecond)
	}
	u.Close()

	// Every line arrives: wait while the raw topic grows.
	var written []sample.Sample
	for last, moved := -1, time.Now(); len(written) < sent; {
		if time.Since(moved) > 30*time.Second {
			t.Fatalf("%d of %d samples in the raw topic, none more for 30s", len(written), sent)
		}
		time.Sleep(500 * time.Millisecond)
		if written = readRaw(t, k.Addr(), cfg.Kafka.RawTopics[0]); len(written) != last {
			last, moved = len(written), time.Now()
		}
	}
	if len(written) != sent {
		t.Fatalf("got %d samples in the raw topic, want %d", len(written), sent)
	}
	for _, s := range written {
		host, _ := s.Labels.Get("__g1__")
		kind, _ := s.Labels.Get("__g3__")
		if g0, _ := s.Labels.Get("__g0__"); g0 != "servers" || s.Name != "servers_host_"+strings.TrimPrefix(host, "host-")+"_cpu_"+kind {
			t.Fatalf("sample %+v: want the name of its path, its components as __g0__ …", s)
		}
	}
	dead := readRaw(t, k.Addr(), cfg.Kafka.DeadLetterTopic)
	if len(dead) != 1 {
		t.Errorf("dead letters: got %d, want the malformed line's", len(dead))
	}

	lastMs := int64(0)
	for i := range written {
		lastMs = max(lastMs, written[i].TimestampMs)
	}
	written = slices.Clone(written)
	slices.SortStableFunc(written, func(a, b sample.Sample) int { return int(a.TimestampMs - b.TimestampMs) })
	want := replayPointsWith(t, cfg.Rules, written, replay.Options{Aggregator: aggregator.Options{Lateness: cfg.Lateness}})
	waitEmitted(t, s, lastMs-lastMs%5000+5000+cfg.Lateness.Milliseconds())
	comparePoints(t, want, servedPolicyPoints(t, base, time.Now().Unix()+300, "5s:1d"))
	t.Logf("%d lines (%d over UDP) written, %d points served as the replay computed them", sent, 60, len(want))
}
