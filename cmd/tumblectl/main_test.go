package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/tumblemetrics/tumble/internal/golden"
	"github.com/tumblemetrics/tumble/sample"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// tumblectl runs one command line and returns its status, stdout and stderr.
func tumblectl(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := run(args, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), []byte(got), *update)
}

func TestReplay(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		wantStatus int
	}{
		{"rollups", exitOK},
		{"late", exitSkipped}, // it has a malformed line
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "replay", tc.scenario)
			out := filepath.Join(t.TempDir(), "points.jsonl")
			status, _, stderr := tumblectl(t, "", "replay", "--rules", filepath.Join(dir, "rules.yaml"),
				"--input", filepath.Join(dir, "samples.jsonl"), "--output", out)
			if status != tc.wantStatus {
				t.Fatalf("status: got %d, want %d; stderr:\n%s", status, tc.wantStatus, stderr)
			}
			got, _ := os.ReadFile(out)
			want, _ := os.ReadFile(filepath.Join(dir, "points.golden.jsonl"))
			if !bytes.Equal(got, want) {
				t.Errorf("points differ from %s/points.golden.jsonl", dir)
			}
			if !strings.Contains(stderr, "replay: ") {
				t.Errorf("stderr has no summary:\n%s", stderr)
			}
		})
	}
}

func TestReplayStdin(t *testing.T) {
	in := `{"name":"events","type":"counter","value":2,"timestamp_ms":1000}` + "\n" + `{"name":"events"`
	status, stdout, stderr := tumblectl(t, in, "replay", "--rules", "../../testdata/replay/late/rules.yaml")
	if status != exitSkipped {
		t.Errorf("status: got %d, want %d", status, exitSkipped)
	}
	if !strings.Contains(stderr, "-: line 2: decode sample:") {
		t.Errorf("stderr does not report line 2:\n%s", stderr)
	}
	if !strings.Contains(stdout, `"name":"events_sum"`) || !strings.Contains(stdout, `"value":2`) {
		t.Errorf("stdout lacks the sum point:\n%s", stdout)
	}
}

func TestInvalidRules(t *testing.T) {
	status, _, stderr := tumblectl(t, "", "rules", "check", "testdata/bad-rules.yaml")
	if status != exitError {
		t.Fatalf("status: got %d, want %d", status, exitError)
	}
	golden(t, "bad-rules.golden", stderr)
	for _, want := range []string{"bad-rules.yaml:", `"http latency by route"`, "excludeBy", `"P98"`, "retention"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestRulesCheckAndTest(t *testing.T) {
	status, stdout, stderr := tumblectl(t, "", "rules", "check", "../../testdata/replay/rollups/rules.yaml")
	if status != exitOK {
		t.Fatalf("rules check: status %d, stderr:\n%s", status, stderr)
	}
	golden(t, "rules-check.golden", stdout)
	status, stdout, stderr = tumblectl(t, "", "rules", "test", "../../testdata/replay/rollups/rules.yaml",
		"--input", "../../testdata/replay/rollups/samples.jsonl")
	if status != exitOK {
		t.Fatalf("rules test: status %d, stderr:\n%s", status, stderr)
	}
	golden(t, "rules-test.golden", stdout)
}

func TestLoadgen(t *testing.T) {
	_, a, _ := tumblectl(t, "", "loadgen", "--ticks", "3", "--seed", "9")
	_, b, _ := tumblectl(t, "", "loadgen", "--ticks", "3", "--seed", "9")
	if a != b || a == "" {
		t.Fatal("the same seed gave different workloads")
	}
	kinds := map[sample.Type]int{}
	for i, line := range strings.Split(strings.TrimSpace(a), "\n") {
		s, err := sample.DecodeJSON([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		kinds[s.Type]++
	}
	if kinds[sample.Timer] == 0 || kinds[sample.Cumulative] == 0 || kinds[sample.Gauge] == 0 {
		t.Errorf("workload lacks a sample type: %v", kinds)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"replay"}, {"rules", "test", "x.yaml"}} {
		if status, _, stderr := tumblectl(t, "", args...); status != exitError || stderr == "" {
			t.Errorf("%q: got status %d and stderr %q, want %d and a message", args, status, stderr, exitError)
		}
	}
}
