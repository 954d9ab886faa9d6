package promtooltest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumblemetrics/tumble/internal/modroot"
)

// Path returns the absolute path of the promtool binary that `make promtool`
// unpacked, or fails t when there is none. It skips t under -short, the
// quick loop that runs no outside program (make test runs without it).
func Path(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("promtooltest: no promtool under -short (make test runs this test)")
	}
	root, err := modroot.Find()
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
