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

// Prometheus returns the absolute path of the Prometheus server that
// `make promtool` unpacked from the same Debian package, or fails t when
// there is none; it skips t under -short, as Path does.
func Prometheus(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("promtooltest: no Prometheus server under -short (make test runs this test)")
	}
	root, err := modroot.Find()
	if err != nil {
		t.Fatalf("promtooltest: %v", err)
	}
	path, err := findBinary(root, "prometheus")
	if err != nil {
		t.Fatalf("promtooltest: %v", err)
	}
	return path
}

// find returns promtool's path under the module at root.
func find(root string) (string, error) { return findBinary(root, "promtool") }

// findBinary returns the path of the package's binary name under the
// module at root.
func findBinary(root, name string) (string, error) {
	path := filepath.Join(root, ".cache", "prometheus", "usr", "bin", name)
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("no %s at %s: run `make promtool` at the module root (`make test` does it first)", name, path)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s at %s is not executable: remove .cache/prometheus and run `make promtool`", name, path)
	}
	return path, nil
}
