package promtooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPromtoolVersion(t *testing.T) {
	out, err := exec.Command(Path(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool --version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "promtool, version ") {
		t.Errorf("promtool --version printed %q, want it to start with %q", out, "promtool, version ")
	}
}

func TestFindNamesMakePromtool(t *testing.T) {
	root := t.TempDir()
	if _, err := find(root); err == nil || !strings.Contains(err.Error(), "make promtool") {
		t.Errorf("find without promtool: %v, want an error naming `make promtool`", err)
	}
	want := filepath.Join(root, ".cache", "prometheus", "usr", "bin", "promtool")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := find(root); got != want || err != nil {
		t.Errorf("find: %q, %v, want %q, nil", got, err, want)
	}
}
