package etcdtest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/internal/childproc"
)

// Server is a running single-member etcd cluster, owned by the test that
// started it: the process is killed when that test ends. Its ports and data
// directory stay the same across Stop, Kill and Restart, so clients keep
// their endpoints and the data survives.
//
// All methods may be called from any goroutine; Client, which fails the
// test, only from the test's own.
type Server struct {
	cfg                config
	dir                string // the member's directory: data and log
	dataDir, logPath   string
	clientURL, peerURL string
	startTime          time.Duration // of the first launch

	mu       sync.Mutex // held across each launch and stop
	proc     *process   // nil once stopped or killed
	paused   bool       // proc was sent SIGSTOP and not SIGCONT since
	ended    bool       // the test is over: no more launches
	launches int        // launches so far, counted in the log
	version  string     // reported by the last launch
}

// Start starts etcd for t and returns once it answers a read. It fails t,
// with the last lines of etcd's log, if the binary is missing or etcd does
// not come up. It skips t only under -short, the quick loop that runs no
// outside server (make test runs without it).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("etcdtest: no etcd under -short (make test runs this test)")
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.locate(); err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	s, err := start(t.Context(), c, t.TempDir())
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() {
		s.end()
		if t.Failed() {
			t.Logf("etcdtest: etcd %s\n%s", s.clientURL, s.logTail())
		}
	})
	t.Logf("etcdtest: etcd %s at %s ready in %v", s.version, s.clientURL, s.startTime.Round(time.Millisecond))
	return s
}

// Endpoints are the client URLs of the cluster, for clientv3.Config.
func (s *Server) Endpoints() []string { return []string{s.clientURL} }

// LogPath is the file etcd logs to, every run of it one after the other.
func (s *Server) LogPath() string { return s.logPath }

// Version is the version of etcd, "3.4.23", as the server reports it.
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Client returns a client of the server, closed when t ends (before the
// server stops). Its connection retries a lost server every quarter second
// at most, so that it reaches a restarted or resumed server at once; build
// a clientv3.Config on Endpoints for other settings.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{fastReconnect},
	})
	if err != nil {
		t.Fatalf("etcdtest: create client: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Stop shuts etcd down with SIGTERM and waits for it to exit, killing it
// after 10s. It does nothing when etcd is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop(syscall.SIGTERM)
}

// Kill kills etcd with SIGKILL, as a crash would, and waits for it to
// exit. It does nothing when etcd is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop(syscall.SIGKILL)
}

// Restart starts etcd again on the same ports and data directory, stopping
// it first (as Stop does) if it runs, and returns once it answers a read.
// It fails, with the last lines of the log, when another process took one
// of the ports in between, and once the test that started etcd has ended.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return fmt.Errorf("etcdtest: restart etcd at %s: the test that started it has ended", s.clientURL)
	}
	s.stop(syscall.SIGTERM)
	if err := s.launch(context.Background()); err != nil {
		return fmt.Errorf("etcdtest: restart etcd at %s: %w", s.clientURL, err)
	}
	return nil
}

// Pause freezes etcd with SIGSTOP: it keeps its connections but answers
// nothing, like a server cut off by a partition. It does nothing when etcd
// is not running or already paused.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.paused {
		s.proc.signal(syscall.SIGSTOP)
		s.proc.waitState('T')
		s.paused = true
	}
}

// Resume lets a paused etcd run again with SIGCONT; what it received while
// paused it answers now. It does nothing when etcd is not paused.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && s.paused {
		s.proc.signal(syscall.SIGCONT)
		s.paused = false
	}
}

// end kills etcd for good, when the test that started it ends.
func (s *Server) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.stop(syscall.SIGKILL)
}

// stop ends the running etcd with sig, killing it when it does not exit
// within stopTimeout. The caller holds s.mu.
func (s *Server) stop(sig syscall.Signal) {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	p.signal(sig)
	if s.paused { // a stopped process acts on SIGTERM once it runs again
		p.signal(syscall.SIGCONT)
		s.paused = false
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.kill()
	}
}

// logTail is the end of etcd's log, headed by the file's path.
func (s *Server) logTail() string {
	return fmt.Sprintf("--- last lines of %s ---\n%s", s.logPath, childproc.TailFile(s.logPath, tailLines))
}
