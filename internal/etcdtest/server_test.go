package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of these tests for etcd to act; they pass
// in a fraction of it.
const waitTimeout = 10 * time.Second

func TestPutGet(t *testing.T) {
	srv := Start(t)
	if v := srv.Version(); !strings.HasPrefix(v, "3.") {
		t.Errorf("Version() = %q, want 3.x", v)
	}
	cl := srv.Client(t)
	tests := []struct {
		name, key, value string
	}{
		{"plain", "/tumble/placement/shard-0", "node-a"},
		{"empty value", "/tumble/placement/empty", ""},
		{"binary", "/tumble/placement/binary", "\x00\xff\n\x01"},
		{"one MiB", "/tumble/placement/large", strings.Repeat("x", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			put, err := cl.Put(ctx, tt.key, tt.value)
			if err != nil {
				t.Fatalf("put %s: %v", tt.key, err)
			}
			got, err := cl.Get(ctx, tt.key)
			if err != nil {
				t.Fatalf("get %s: %v", tt.key, err)
			}
			if len(got.Kvs) != 1 {
				t.Fatalf("get %s: %d keys, want 1", tt.key, len(got.Kvs))
			}
			kv := got.Kvs[0]
			if string(kv.Value) != tt.value {
				t.Errorf("get %s: a value of %d bytes, want the %d put", tt.key, len(kv.Value), len(tt.value))
			}
			if kv.ModRevision != put.Header.Revision {
				t.Errorf("get %s: mod revision %d, want the put's %d", tt.key, kv.ModRevision, put.Header.Revision)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	all, err := cl.Get(ctx, "/tumble/placement/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("count the keys: %v", err)
	}
	if all.Count != int64(len(tests)) {
		t.Errorf("%d keys under the prefix, want %d", all.Count, len(tests))
	}
}

// TestElection has a leader go in each of the ways a shard's leader can,
// and checks that the follower waiting in Campaign takes over and that an
// observer sees the change.
func TestElection(t *testing.T) {
	srv := Start(t)
	tests := []struct {
		name  string
		leave func(ctx context.Context, s *concurrency.Session, e *concurrency.Election) error
	}{
		{"resign", func(ctx context.Context, _ *concurrency.Session, e *concurrency.Election) error {
			return e.Resign(ctx)
		}},
		{"session closed", func(_ context.Context, s *concurrency.Session, _ *concurrency.Election) error {
			return s.Close() // revokes the lease, and the leader's key with it
		}},
		{"lease expires", func(_ context.Context, s *concurrency.Session, _ *concurrency.Election) error {
			s.Orphan() // no more keep-alives: the lease ends after its second
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			prefix := "/tumble/shard-0/leader/" + strings.ReplaceAll(tt.name, " ", "-")

			a, b := newSession(t, srv), newSession(t, srv)
			ea, eb := concurrency.NewElection(a, prefix), concurrency.NewElection(b, prefix)
			if err := ea.Campaign(ctx, "node-a"); err != nil {
				t.Fatalf("node-a campaigns: %v", err)
			}
			obsCtx, stopObserving := context.WithCancel(ctx)
			observed := concurrency.NewElection(newSession(t, srv), prefix).Observe(obsCtx)
			defer func() {
				stopObserving()
				for range observed { // Observe's goroutine closes it once it ends
				}
			}()
			waitLeader(t, observed, "node-a")

			won := make(chan error, 1)
			go func() { won <- eb.Campaign(ctx, "node-b") }()
			if err := tt.leave(ctx, a, ea); err != nil {
				t.Fatalf("node-a leaves: %v", err)
			}
			if err := <-won; err != nil {
				t.Fatalf("node-b campaigns: %v", err)
			}
			waitLeader(t, observed, "node-b")
			leader, err := eb.Leader(ctx)
			if err != nil {
				t.Fatalf("read the leader: %v", err)
			}
			if got := string(leader.Kvs[0].Value); got != "node-b" {
				t.Errorf("leader %q, want node-b", got)
			}
			if err := eb.Resign(ctx); err != nil {
				t.Errorf("node-b resigns: %v", err)
			}
			if _, err := eb.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
				t.Errorf("leader after node-b resigned: %v, want %v", err, concurrency.ErrElectionNoLeader)
			}
		})
	}
}

// TestSessionEndsWithoutEtcd cuts a session off its server in each way a
// chaos test can: the session must end (Done), which is what tells a
// leader to stop writing (the client gives up on a lease a TTL after its
// last answered keep-alive, checking every second), and the lease must be
// gone once the server is back (a restarted etcd grants every lease a full
// TTL again).
func TestSessionEndsWithoutEtcd(t *testing.T) {
	restart := func(t *testing.T, srv *Server) {
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		cut  func(*Server)
		heal func(*testing.T, *Server)
	}{
		{"stop", (*Server).Stop, restart},
		{"kill", (*Server).Kill, restart},
		{"pause", (*Server).Pause, func(_ *testing.T, srv *Server) { srv.Resume() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a server of its own
			srv := Start(t)
			cl := srv.Client(t)
			s := newSession(t, srv)
			lease := s.Lease()
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			if ttl, err := cl.TimeToLive(ctx, lease); err != nil || ttl.GrantedTTL != 1 {
				t.Fatalf("lease %x: %+v, %v, want a granted TTL of 1s", lease, ttl, err)
			}

			tt.cut(srv)
			cutAt := time.Now()
			select {
			case <-s.Done():
				t.Logf("session ended %v after the cut", time.Since(cutAt).Round(time.Millisecond))
			case <-time.After(waitTimeout):
				t.Fatalf("session still open %v after the cut", waitTimeout)
			}

			tt.heal(t, srv)
			for {
				ttl, err := cl.TimeToLive(ctx, lease)
				if err == nil && ttl.TTL == -1 {
					break // the lease expired and was revoked
				}
				if ctx.Err() != nil {
					t.Fatalf("lease %x still there %v after the server came back: %+v, %v", lease, waitTimeout, ttl, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestRestartKeepsData writes keys, takes the server down in each way it
// can go and restarts it: every key is back at its revision, and the
// client made before the restart reaches the server after it.
func TestRestartKeepsData(t *testing.T) {
	tests := []struct {
		name string
		down func(*Server) // nil: Restart stops it itself
	}{
		{"stop", (*Server).Stop},
		{"kill", (*Server).Kill},
		{"stop while paused", func(s *Server) { s.Pause(); s.Stop() }},
		{"restart while running", nil},
	}
	const keys = 50
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each on a server of its own
			srv := Start(t)
			cl := srv.Client(t)
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			var rev int64
			for i := range keys {
				resp, err := cl.Put(ctx, fmt.Sprintf("/tumble/watermark/shard-%02d", i), fmt.Sprint(1000+i))
				if err != nil {
					t.Fatalf("put key %d: %v", i, err)
				}
				rev = resp.Header.Revision
			}

			if tt.down != nil {
				tt.down(srv)
				dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				_, err := cl.Get(dctx, "/tumble/watermark/shard-00")
				dcancel()
				if err == nil {
					t.Fatal("get answered while the server was down")
				}
			}
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}

			got, err := cl.Get(ctx, "/tumble/watermark/", clientv3.WithPrefix())
			if err != nil {
				t.Fatalf("get after the restart: %v", err)
			}
			if got.Header.Revision != rev {
				t.Errorf("revision %d after the restart, want %d", got.Header.Revision, rev)
			}
			if len(got.Kvs) != keys {
				t.Fatalf("%d keys after the restart, want %d", len(got.Kvs), keys)
			}
			for i, kv := range got.Kvs {
				if want := fmt.Sprint(1000 + i); string(kv.Value) != want {
					t.Errorf("%s = %q after the restart, want %q", kv.Key, kv.Value, want)
				}
			}
		})
	}
}

// TestPauseResume pauses the server: a request times out, one in flight
// waits, and both go through once it resumes.
func TestPauseResume(t *testing.T) {
	srv := Start(t)
	cl := srv.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if _, err := cl.Put(ctx, "/tumble/k", "before"); err != nil {
		t.Fatalf("put before the pause: %v", err)
	}

	srv.Pause()
	srv.Pause() // a no-op
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := cl.Get(short, "/tumble/k")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get from a paused server: %v, want %v", err, context.DeadlineExceeded)
	}
	inFlight := make(chan error, 1)
	go func() {
		_, err := cl.Put(ctx, "/tumble/k", "during")
		inFlight <- err
	}()

	srv.Resume()
	srv.Resume() // a no-op
	if err := <-inFlight; err != nil {
		t.Fatalf("put sent during the pause: %v", err)
	}
	got, err := cl.Get(ctx, "/tumble/k")
	if err != nil {
		t.Fatalf("get after the pause: %v", err)
	}
	if v := string(got.Kvs[0].Value); v != "during" {
		t.Errorf("value %q after the pause, want %q", v, "during")
	}
}

// TestRestartPortTaken has another process take the client port while
// etcd is stopped: Restart says so, and succeeds once the port is free.
func TestRestartPortTaken(t *testing.T) {
	srv := Start(t)
	srv.Stop()
	u, err := url.Parse(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("take the stopped server's port: %v", err)
	}
	err = srv.Restart()
	l.Close()
	if !errors.Is(err, errPortTaken) {
		t.Errorf("restart on a taken port: %v, want %v", err, errPortTaken)
	}
	for _, want := range []string{"restart etcd at " + u.String(), "launch 2", "address already in use"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("restart error:\n%v\nwant it to contain %q", err, want)
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatalf("restart once the port is free: %v", err)
	}
}

// TestRestartAfterTheTest restarts a server whose test has ended, as a
// chaos goroutine that outlives its test would: no etcd is left behind.
func TestRestartAfterTheTest(t *testing.T) {
	if testing.Short() {
		t.Skip("no etcd under -short")
	}
	var srv *Server
	t.Run("owner", func(t *testing.T) { srv = Start(t) })
	if err := srv.Restart(); err == nil || !strings.Contains(err.Error(), "has ended") {
		t.Errorf("restart after the test: %v, want an error saying the test has ended", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	cl, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Get(ctx, "k"); err == nil {
		t.Error("get answered after the test that started etcd ended")
	}
}

// newSession is a session with a lease of one second on a client of its
// own, as a node of its own would have; it is closed when t ends.
func newSession(t *testing.T, srv *Server) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(srv.Client(t), concurrency.WithTTL(1))
	if err != nil {
		t.Fatalf("create a session: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitLeader reads what an election's observer reports until it names want.
func waitLeader(t *testing.T, observed <-chan *clientv3.GetResponse, want string) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case resp, ok := <-observed:
			if !ok {
				t.Fatalf("observer ended before %s led", want)
			}
			if got := string(resp.Kvs[0].Value); got == want {
				return
			}
		case <-timeout:
			t.Fatalf("observer did not see %s lead within %v", want, waitTimeout)
		}
	}
}
