package replay

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/tumblemetrics/tumble/internal/golden"
	"github.com/tumblemetrics/tumble/loadgen"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/replay")

// TestScenarios replays each folder of testdata/replay (rules.yaml and
// samples.jsonl) and compares the points and the skipped lines with its
// golden files. `go test ./replay -update` rewrites them; read the diff.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/replay/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rs, err := rules.ParseFile(filepath.Join(dir, "rules.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(filepath.Join(dir, "samples.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var out, skipped bytes.Buffer
			sum, err := Run(rs, bytes.NewReader(in), &out, Options{
				Skip: func(le LineError) { skipped.WriteString(le.Error() + "\n") },
			})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(strings.Count(out.String(), "\n")) != sum.Points {
				t.Errorf("summary says %d points, output has %d lines", sum.Points, strings.Count(out.String(), "\n"))
			}
			golden(t, filepath.Join(dir, "points.golden.jsonl"), out.Bytes())
			golden(t, filepath.Join(dir, "skipped.golden.txt"), skipped.Bytes())
			golden(t, filepath.Join(dir, "summary.golden.txt"), []byte(fmt.Sprintf("%+v\n", sum)))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	goldenfile.Check(t, path, got, *update)
}

// TestDeterministic: replaying the same generated workload twice gives the
// same bytes.
func TestDeterministic(t *testing.T) {
	rs, err := rules.ParseFile("../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var in []byte
	g := loadgen.New(loadgen.Config{Seed: 7})
	var batch []sample.Sample
	for range 90 {
		batch = g.Tick(batch[:0])
		for i := range batch {
			in = append(sample.AppendJSON(in, &batch[i]), '\n')
		}
	}
	var a, b bytes.Buffer
	if _, err := Run(rs, bytes.NewReader(in), &a, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(rs, bytes.NewReader(in), &b, Options{}); err != nil {
		t.Fatal(err)
	}
	if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two replays differ (%d and %d bytes)", a.Len(), b.Len())
	}
}
