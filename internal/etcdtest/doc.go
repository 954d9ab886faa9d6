// Package etcdtest runs a real etcd server for integration tests: a
// single-member cluster started from etcd's own binary as a child process of
// the test and killed when the test ends. Between the two, a test can stop,
// kill, restart, pause and resume it, to see what its code does when etcd
// goes away and comes back.
//
//	func TestLeaderStopsWhenEtcdIsGone(t *testing.T) {
//		srv := etcdtest.Start(t)
//		s, err := concurrency.NewSession(srv.Client(t), concurrency.WithTTL(1))
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer s.Close()
//		e := concurrency.NewElection(s, "/tumble/shard-0/leader")
//		if err := e.Campaign(t.Context(), "node-a"); err != nil {
//			t.Fatal(err)
//		}
//		srv.Stop() // the session cannot keep its lease alive: s.Done() closes
//		// ... check that the leader stopped writing, then bring etcd back ...
//		if err := srv.Restart(); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// The binary comes from `make etcd`, which unpacks Debian's etcd-server
// package into the module's .cache/etcd (`make test` does it first); Start
// fails the test, naming that command, when it is missing. Tests never skip
// for want of etcd.
//
// Each server listens on free ports of 127.0.0.1 (clients and peers) and
// keeps its data and its log (etcd.log, every run after a line of its own)
// in the test's temporary directory; Stop, Kill and Restart keep both ports
// and data, so a client made before a restart reaches the server after it.
// Starting one takes a fraction of a second: tests may start one each. The
// member elects itself at once and grants leases as short as one second.
// When Start or Restart fails, and when a test that used the server fails,
// the last lines of etcd's log are in the test output.
package etcdtest
