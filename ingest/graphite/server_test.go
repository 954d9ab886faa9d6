package graphite

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// TestServerTCP: lines over TCP are written, a line of megabytes without
// an end is refused without being held in memory, and the lines after it
// are read.
func TestServerTCP(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "raw"), kfake.SeedTopics(1, "dead"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kopts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	w, err := ingest.NewWriter(ingest.WriterOptions{Client: kopts, Topic: "raw", DeadLetterTopic: "dead", ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv, err := Listen(Options{Writer: w, TCP: "127.0.0.1:0", BatchWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("tcp", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	fmt.Fprintf(conn, "a.b 1 %d\n", now)
	conn.Write([]byte(strings.Repeat("x", 5<<20)))
	fmt.Fprintf(conn, " 1 %d\nc.d 2 %d\n", now, now)
	conn.Close()

	got := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && (got["raw"] < 2 || got["dead"] < 1) {
		got = map[string]int{}
		for _, topic := range []string{"raw", "dead"} {
			cl, err := kgo.NewClient(append(kopts, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				t.Fatal(err)
			}
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := cl.PollFetches(pctx)
			pcancel()
			for _, r := range fs.Records() {
				if topic == "dead" {
					if reason := headerOf(r, sample.HeaderReason); reason != ReasonBadLine {
						t.Errorf("dead letter reason %q, want %s", reason, ReasonBadLine)
					}
					got[topic]++
					continue
				}
				ss, err := sample.DecodeRecord(r.Value, sample.FormatAuto, nil)
				if err != nil {
					t.Fatal(err)
				}
				got[topic] += len(ss)
			}
			cl.Close()
		}
	}
	if got["raw"] != 2 || got["dead"] != 1 {
		t.Errorf("got %v, want 2 samples (a.b, c.d) and 1 dead letter (the long line)", got)
	}
}

func headerOf(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
