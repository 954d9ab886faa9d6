// Package promtooltest finds the binaries of Debian's prometheus package
// for end-to-end tests that use tumble the way Prometheus' own tools do:
// promtool against its HTTP API (Path), and a Prometheus server that
// scrapes an exporter and remote-writes into tumble (Prometheus).
//
//	func TestQueryAPIWithPromtool(t *testing.T) {
//		out, err := exec.Command(promtooltest.Path(t), "query", "instant", url, "up").CombinedOutput()
//		// ...
//	}
//
// The package comes from Debian, and `make promtool` unpacks it into the
// module's .cache/prometheus (`make test` does it first). Path and
// Prometheus fail the test, naming that command, when it is missing; tests
// never skip for want of it (but do under -short).
package promtooltest
