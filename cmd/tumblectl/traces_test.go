package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
)

// TestTracesWatch: traces watch prints the selections of the feed, keeps
// their trace IDs once in the keep-list, and with a token file a second
// run goes on where the first stopped.
func TestTracesWatch(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "sel"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	seed := kgo.SeedBrokers(kc.ListenAddrs()...)
	w, err := kgo.NewClient(seed, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// write writes selections of trace IDs from+1… with the reasons given,
	// in one batch.
	write := func(from int, reasons ...string) {
		t.Helper()
		var recs []*kgo.Record
		for j, reason := range reasons {
			i := from + j
			s := selection.Selection{TraceID: fmt.Sprintf("%032x", i+1), Reason: reason, Name: "lat_by_route",
				Labels: map[string]string{"route": "/pay"}, Aggregation: "P99", Policy: "10s:2d",
				StartMs: 1763800000000, EndMs: 1763800010000, Value: 0.5, SampleValue: 0.5, SampleMs: 1763800004211, Rule: "r", Shard: 0}
			recs = append(recs, &kgo.Record{Topic: "sel", Partition: 0, Key: s.Key(), Value: s.Encode()})
		}
		if err := w.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	f, c := selection.Final, selection.Candidate
	write(0, f, f, f, c, f, f)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	selectionfeed.NewServer("sel", nil, seed, kgo.FetchMaxWait(100*time.Millisecond)).Register(gs)
	go gs.Serve(lis)
	defer gs.Stop()

	dir := t.TempDir()
	keep, token := filepath.Join(dir, "keep.txt"), filepath.Join(dir, "watch.token")
	watch := func(count int, extra ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"traces", "watch", "--addr", lis.Addr().String(), "--from-start",
			"--keep-list", keep, "--token-file", token, "--count", fmt.Sprint(count)}, extra...)
		if st := run(args, nil, &out, &errOut); st != exitOK {
			t.Fatalf("traces watch: status %d, %s", st, errOut.String())
		}
		return out.String()
	}
	// The first run sees the five finals written, the second the two
	// written after it stopped.
	out := watch(5)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], `final     P99 lat_by_route{route="/pay"} 10s:2d [08:26:40.000, 08:26:50.000) 0.5 trace 00000000000000000000000000000001`) {
		t.Fatalf("first run printed\n%s", out)
	}
	if strings.Contains(out, "candidate") {
		t.Errorf("a candidate printed without --candidates:\n%s", out)
	}
	write(6, f, f)
	out2 := watch(2, "--json")
	for i, l := range strings.Split(strings.TrimSpace(out2), "\n") {
		s, err := selection.Decode([]byte(l))
		if err != nil || s.TraceID != fmt.Sprintf("%032x", i+7) {
			t.Errorf("second run, line %d: %s (%v), want the selection of trace %d", i, l, err, i+7)
		}
	}
	b, err := os.ReadFile(keep)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range []int{1, 2, 3, 5, 6, 7, 8} {
		want = append(want, fmt.Sprintf("%032x", i))
	}
	if got := strings.Fields(string(b)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("keep-list %v, want %v", got, want)
	}
}
