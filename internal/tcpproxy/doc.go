// Package tcpproxy is a TCP proxy for tests that cut a process off from a
// server (etcd, Kafka) and restore it, as a network partition would:
//
//	p := tcpproxy.Start(t, srv.Addr())
//	cli := connect(p.Addr())
//	p.Cut()     // open connections close; new ones are closed at once
//	p.Restore() // new connections reach the server again
package tcpproxy
