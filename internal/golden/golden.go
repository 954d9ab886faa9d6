// Package golden compares test output with golden files, and rewrites them
// when a test runs with its -update flag:
//
//	var update = flag.Bool("update", false, "rewrite the golden files")
//
//	golden.Check(t, "testdata/summary.golden", got, *update)
//
// A mismatch reports the first line that differs, got before want.
package golden

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// Check compares got with the file at path, or writes got there when update
// is set.
func Check(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run the test with -update to create it): %v", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s differs at line %d (run the test with -update after checking it):\ngot  %s\nwant %s", path, i+1, g, w)
			return
		}
	}
}
