package tailsampler

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/selection/selectionpb"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
)

// fakeFeed serves each Watch call the next of its scripts, and sends the
// requests it gets to reqs.
type fakeFeed struct {
	selectionpb.UnimplementedSelectionsServer
	reqs chan *selectionpb.WatchRequest

	mu      sync.Mutex
	scripts [][]*selectionpb.WatchResponse
}

// Watch sends the call's script; past the scripts it waits for the
// watcher to go.
func (f *fakeFeed) Watch(req *selectionpb.WatchRequest, stream grpc.ServerStreamingServer[selectionpb.WatchResponse]) error {
	f.reqs <- req
	f.mu.Lock()
	var script []*selectionpb.WatchResponse
	if len(f.scripts) > 0 {
		script, f.scripts = f.scripts[0], f.scripts[1:]
	}
	f.mu.Unlock()
	if script == nil {
		<-stream.Context().Done()
		return nil
	}
	for _, resp := range script {
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil // the stream ends; the watcher reconnects
}

// serveFake serves f in process and returns a connection to it, both
// closed when t ends.
func serveFake(t *testing.T, f *fakeFeed) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	selectionpb.RegisterSelectionsServer(gs, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		gs.Serve(lis)
	}()
	t.Cleanup(func() { gs.Stop(); <-done })
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("create the gRPC client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRunResumesFromTokenFile runs a sampler that restarts: it resumes
// from the token in its file, observes a batch and keeps the batch's
// token in the file, and on reconnecting asks for what follows it.
func TestRunResumesFromTokenFile(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	final := sel(1, selection.Final)
	f := &fakeFeed{reqs: make(chan *selectionpb.WatchRequest, 2), scripts: [][]*selectionpb.WatchResponse{{
		{ResumeToken: "t1"},
		{ResumeToken: "t2", Selections: []*selectionpb.Selection{selectionfeed.ToProto(&final)}},
	}}}
	conn := serveFake(t, f)
	d, err := NewDecider(Options{Candidates: true})
	if err != nil {
		t.Fatalf("NewDecider: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, conn, d, RunOptions{
			WatchOptions: selectionfeed.WatchOptions{Token: "ignored", Retry: time.Millisecond},
			TokenFile:    tokenFile,
		})
	}()

	for i, want := range []string{"t1", "t2"} {
		select {
		case req := <-f.reqs:
			if req.GetResumeToken() != want || !req.GetCandidates() {
				t.Errorf("request %d: token %q, candidates %t; want %q, true", i, req.GetResumeToken(), req.GetCandidates(), want)
			}
		case <-ctx.Done():
			t.Fatalf("request %d: none before the test's deadline", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
	if b, err := os.ReadFile(tokenFile); err != nil || string(b) != "t2\n" {
		t.Errorf("token file holds %q, %v; want %q", b, err, "t2\n")
	}
	if keep, reason := d.Keep(final.TraceID, time.Now()); !keep {
		t.Errorf("Keep(%s) = %t, %q; want true", final.TraceID, keep, reason)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if got, err := readToken(path); got != "" || err != nil {
		t.Fatalf("readToken of no file = %q, %v; want \"\", nil", got, err)
	}
	for _, token := range []string{"AQID", "AQIDBA"} {
		if err := writeToken(path, token); err != nil {
			t.Fatalf("writeToken(%q): %v", token, err)
		}
		if got, err := readToken(path); got != token || err != nil {
			t.Errorf("readToken after writeToken(%q) = %q, %v; want %q, nil", token, got, err, token)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Errorf("directory holds %v, %v; want the token file only", ents, err)
	}
	if err := writeToken(filepath.Join(dir, "missing", "token"), "AQID"); err == nil {
		t.Errorf("writeToken into a missing directory = nil; want an error")
	}
}
