package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
)

// TestReplayPercentilesTraced generates a workload with `tumblectl loadgen`
// (one request in ten untraced), replays it with the example rules, and
// checks that every percentile point whose window held a traced sample
// carries a trace: that of a sample of its series and window. With a small
// exact limit, the windows past it take their percentiles from histograms.
func TestReplayPercentilesTraced(t *testing.T) {
	dir := t.TempDir()
	samplesPath := filepath.Join(dir, "samples.jsonl")
	if status, _, stderr := tumblectl(t, "", "loadgen", "--ticks", "120", "--seed", "11", "--output", samplesPath); status != exitOK {
		t.Fatalf("loadgen: status %d, stderr:\n%s", status, stderr)
	}
	traced, timers, untraced := readTimers(t, samplesPath)
	t.Logf("workload: %d timer samples, %d without a trace ID", timers, untraced)
	if untraced*20 < timers || untraced*5 > timers {
		t.Fatalf("%d of %d timer samples untraced, want about one in ten", untraced, timers)
	}
	for _, exactLimit := range []string{"0", "64"} {
		t.Run("exact-limit="+exactLimit, func(t *testing.T) {
			pointsPath := filepath.Join(dir, "points-"+exactLimit+".jsonl")
			status, _, stderr := tumblectl(t, "", "replay", "--rules", "../../testdata/rules/example.yaml",
				"--input", samplesPath, "--output", pointsPath, "--exact-limit", exactLimit)
			if status != exitOK {
				t.Fatalf("replay: status %d, stderr:\n%s", status, stderr)
			}
			if !strings.Contains(stderr, " late 0,") {
				t.Fatalf("replay dropped late samples, which windows then lack:\n%s", stderr)
			}
			checkPercentilesTraced(t, pointsPath, traced)
		})
	}
}

// tracedSample is a timer sample with a trace ID, by its series' service and
// route.
type tracedSample struct {
	service, route string
	value          float64
	ts             int64
}

// readTimers reads the http latency samples of a loadgen workload and
// returns the traced ones by trace ID, and the counts of all and untraced.
func readTimers(t *testing.T, path string) (map[string]tracedSample, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	traced := map[string]tracedSample{}
	timers, untraced := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s, err := sample.DecodeJSON(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "http_request_duration_seconds" {
			continue
		}
		timers++
		if s.TraceID.IsZero() {
			untraced++
			continue
		}
		svc, _ := s.Labels.Get("service")
		route, _ := s.Labels.Get("route")
		traced[s.TraceID.String()] = tracedSample{svc, route, s.Value, s.TimestampMs}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return traced, timers, untraced
}

// checkPercentilesTraced checks the percentile points of the replay at path
// against the traced samples.
func checkPercentilesTraced(t *testing.T, path string, traced map[string]tracedSample) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The windows of each series that held a traced sample, by policy.
	type windowKey struct {
		service, route string
		startMs        int64
	}
	resolution := map[string]int64{"10s:2d": 10_000, "1m:40d": 60_000}
	held := map[string]map[windowKey]bool{}
	for policy, res := range resolution {
		held[policy] = map[windowKey]bool{}
		for _, s := range traced {
			held[policy][windowKey{s.service, s.route, s.ts - s.ts%res}] = true
		}
	}
	var percentiles, withTracedWindow, withTrace int
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var p replay.Point
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if _, ok := p.Labels["quantile"]; !ok {
			continue
		}
		percentiles++
		if _, ok := resolution[p.Policy]; !ok {
			t.Fatalf("line %d: policy %q is not in the example rules", i+1, p.Policy)
		}
		k := windowKey{p.Labels["service"], p.Labels["route"], p.WindowStartMs}
		if !held[p.Policy][k] {
			continue
		}
		withTracedWindow++
		if p.Exemplar == nil || p.Exemplar.TraceID == "" {
			t.Errorf("line %d: no trace, but its window held a traced sample: %s", i+1, line)
			continue
		}
		withTrace++
		s, ok := traced[p.Exemplar.TraceID]
		if !ok || s.service != k.service || s.route != k.route || s.ts < p.WindowStartMs || s.ts >= p.WindowEndMs ||
			s.value != float64(p.Exemplar.Value) || s.ts != p.Exemplar.TimestampMs {
			t.Errorf("line %d: the exemplar is no traced sample of the window (got %+v): %s", i+1, s, line)
		}
	}
	t.Logf("%d percentile points, %d of windows that held a traced sample, %d of them with a trace",
		percentiles, withTracedWindow, withTrace)
	if withTracedWindow == 0 {
		t.Error("no percentile point of a window with a traced sample")
	}
}
