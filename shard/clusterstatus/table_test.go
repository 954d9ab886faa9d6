package clusterstatus

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/tumblemetrics/tumble/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestWriteTable renders a report with a healthy shard, a shard without a
// leader whose replicas cannot lead or did not answer, and a hand-over in
// progress.
func TestWriteTable(t *testing.T) {
	b, err := os.ReadFile("testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, &r); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/report.golden.txt", out.Bytes(), *update)
}
