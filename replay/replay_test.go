package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/tumblemetrics/tumble/internal/golden"
	"github.com/tumblemetrics/tumble/internal/loadgen"
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

// TestShards: asked for the shards of a cluster, the replay adds to each
// point the shard of its series and changes nothing else.
func TestShards(t *testing.T) {
	g := loadgen.New(loadgen.Config{Seed: 3, StartMs: 1_767_225_600_000, TickMs: 1000})
	var in bytes.Buffer
	for range 30 {
		for _, s := range g.Tick(nil) {
			in.Write(sample.AppendJSON(nil, &s))
			in.WriteByte('\n')
		}
	}
	rs, err := rules.ParseFile("../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plain, sharded bytes.Buffer
	if _, err := Run(rs, bytes.NewReader(in.Bytes()), &plain, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(rs, bytes.NewReader(in.Bytes()), &sharded, Options{Shards: 3}); err != nil {
		t.Fatal(err)
	}
	shardOf := map[string]int32{} // by series, whatever the aggregation
	used := map[int32]int{}
	lines := strings.Split(strings.TrimSpace(sharded.String()), "\n")
	for i, line := range lines {
		var p Point
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		if p.Shard == nil || *p.Shard < 0 || *p.Shard >= 3 {
			t.Fatalf("line %d: shard %v, want one of 0..2: %s", i, p.Shard, line)
		}
		used[*p.Shard]++
		key := fmt.Sprint(p.Name, p.Labels, p.Policy)
		if s, ok := shardOf[key]; ok && s != *p.Shard {
			t.Errorf("series %s on shards %d and %d", key, s, *p.Shard)
		}
		shardOf[key] = *p.Shard
		lines[i] = line[:strings.LastIndex(line, `,"shard":`)] + "}"
	}
	if got, want := strings.Join(lines, "\n")+"\n", plain.String(); got != want {
		t.Errorf("without the shard, the points differ from a plain replay")
	}
	if len(used) != 3 {
		t.Errorf("points by shard: %v, want all three used", used)
	}
	if _, err := Run(rs, bytes.NewReader(nil), &sharded, Options{Shards: -1}); err == nil {
		t.Error("replay with -1 shards: no error")
	}
}
