package promtooltest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Path returns the absolute path of the promtool binary that `make promtool`
// unpacked, or fails t when there is none.
func Path(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("promtooltest: %v", err)
	}
	path, err := find(root)
	if err != nil {
		t.Fatalf("promtooltest: %v", err)
	}
	return path
}

// find returns promtool's path under the module at root.
func find(root string) (string, error) {
	path := filepath.Join(root, ".cache", "prometheus", "usr", "bin", "promtool")
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("no promtool at %s: run `make promtool` at the module root (`make test` does it first)", path)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("promtool at %s is not executable: remove .cache/prometheus and run `make promtool`", path)
	}
	return path, nil
}

// moduleRoot is the nearest directory at or above the working directory (a
// test's package directory) that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
