// Package promtooltest finds promtool for end-to-end tests that check
// tumble's Prometheus HTTP API the way Prometheus' own tools use it:
//
//	func TestQueryAPIWithPromtool(t *testing.T) {
//		out, err := exec.Command(promtooltest.Path(t), "query", "instant", url, "up").CombinedOutput()
//		// ...
//	}
//
// promtool comes from Debian's prometheus package, which `make promtool`
// unpacks into the module's .cache/prometheus (`make test` does it first).
// Path fails the test, naming that command, when it is missing; tests never
// skip for want of it.
package promtooltest
