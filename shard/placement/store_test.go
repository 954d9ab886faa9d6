package placement

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/etcdtest"
)

// waitTimeout bounds every wait on etcd in these tests.
const waitTimeout = 10 * time.Second

// newStore starts etcd for t and returns a Store of the default prefix on
// it, the server and the store's client. Once t ends, it checks that no
// goroutine is left behind.
func newStore(t *testing.T) (*Store, *etcdtest.Server, *clientv3.Client) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, once the client and server are gone
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	return NewStore(cli, ""), srv, cli
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestStoreCreateGet(t *testing.T) {
	st, _, cli := newStore(t)
	ctx := testContext(t)
	if st.Key() != "/tumble/placement" {
		t.Errorf("key %q, want /tumble/placement", st.Key())
	}
	if _, _, err := st.Get(ctx); !errors.Is(err, ErrNoPlacement) {
		t.Fatalf("Get before Create: %v, want %v", err, ErrNoPlacement)
	}
	p := mustNew(t, 4, 2, "a", "b", "c")
	if err := st.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, rev, err := st.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("Get:\n%s\nwant\n%s", dump(got), dump(p))
	}
	if rev <= 0 {
		t.Errorf("revision %d, want a positive one", rev)
	}

	other := mustNew(t, 8, 2, "x", "y")
	if err := st.Create(ctx, other); !errors.Is(err, ErrExists) {
		t.Errorf("Create again: %v, want %v", err, ErrExists)
	}
	if got, again, _ := st.Get(ctx); again != rev || !reflect.DeepEqual(got, p) {
		t.Errorf("after a refused Create: revision %d, want %d, unchanged", again, rev)
	}

	var ve *ValidationError
	if err := NewStore(cli, "/other").Create(ctx, &Placement{Shards: 2, Replicas: 2}); !errors.As(err, &ve) {
		t.Errorf("Create of an invalid placement: %v, want a *ValidationError", err)
	}

	// A value that is not a placement, written by hand.
	if _, err := cli.Put(ctx, "/broken/placement", `{"shards":2,"replicas":2,"members":["a"],"assignment":[]}`); err != nil {
		t.Fatal(err)
	}
	_, _, err = NewStore(cli, "/broken/").Get(ctx)
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "get placement /broken/placement at revision") {
		t.Errorf("Get of an invalid value: %v, want a *ValidationError naming the key", err)
	}
}

func TestStoreUpdate(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := testContext(t)
	if _, err := st.Update(ctx, func(p *Placement) (*Placement, error) { return p, nil }); !errors.Is(err, ErrNoPlacement) {
		t.Errorf("Update before Create: %v, want %v", err, ErrNoPlacement)
	}
	p := mustNew(t, 4, 2, "a", "b", "c")
	if err := st.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	errChange := errors.New("no change wanted")
	tests := []struct {
		name    string
		change  func(*Placement) (*Placement, error)
		wantErr string // "" for none
		written bool
	}{
		{"change fails", func(*Placement) (*Placement, error) { return nil, errChange }, errChange.Error(), false},
		{"no result", func(*Placement) (*Placement, error) { return nil, nil }, "the change returned no placement", false},
		{"invalid result", func(p *Placement) (*Placement, error) {
			q := p.Clone()
			q.Assignment[2][0].State = "ready"
			return q, nil
		}, "invalid placement: assignment[2][0].state", false},
		{"shards changed", func(*Placement) (*Placement, error) {
			return New(5, 2, []string{"a", "b", "c"})
		}, "makes 5 shards of 4: the number of shards is fixed", false},
		{"no change", func(p *Placement) (*Placement, error) { return p.Clone(), nil }, "", false},
		{"add node", func(p *Placement) (*Placement, error) { return p.AddNode("d") }, "", true},
		{"already in", func(p *Placement) (*Placement, error) { return p.AddNode("d") }, `add node "d": already a member`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, rev, err := st.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Update(ctx, tt.change)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Update: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Update: %v, want an error containing %q", err, tt.wantErr)
			}
			after, afterRev, err := st.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if written := afterRev != rev; written != tt.written {
				t.Errorf("revision %d after Update, from %d: written %v, want %v", afterRev, rev, written, tt.written)
			}
			if tt.wantErr == "" && !reflect.DeepEqual(got, after) {
				t.Errorf("Update returned\n%s\nbut stored\n%s", dump(got), dump(after))
			}
			if !tt.written && !reflect.DeepEqual(after, before) {
				t.Errorf("stored\n%s\nwant it unchanged\n%s", dump(after), dump(before))
			}
		})
	}
	if _, err := st.Update(ctx, func(*Placement) (*Placement, error) { return nil, errChange }); err != errChange {
		t.Errorf("the change's error came back as %v, want it as it is", err)
	}
}

// TestStoreConcurrentUpdates has two writers read the same placement
// before either writes: one of them must apply its change again to the
// other's result, and both changes land.
func TestStoreConcurrentUpdates(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := testContext(t)
	if err := st.Create(ctx, mustNew(t, 8, 2, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	var read sync.WaitGroup // both writers have read the first placement
	read.Add(2)
	var calls atomic.Int32
	add := func(id string) func(*Placement) (*Placement, error) {
		first := true
		return func(p *Placement) (*Placement, error) {
			calls.Add(1)
			if first {
				first = false
				read.Done()
				read.Wait()
			}
			return p.AddNode(id)
		}
	}
	errs := make(chan error, 2)
	for _, id := range []string{"d", "e"} {
		go func() {
			_, err := st.Update(ctx, add(id))
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the changes ran %d times, want 3: one of them twice, after a conflict", n)
	}
	got, _, err := st.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got.Members, want) {
		t.Errorf("members %v, want %v: both changes", got.Members, want)
	}
	checkInvariants(t, got)
}

// next reads one value from ch within waitTimeout.
func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("nothing sent within %v", waitTimeout)
	}
	panic("unreachable")
}

// closed checks that ch is closed within waitTimeout, skipping what it
// still sends.
func closed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("channel still open %v after its context ended", waitTimeout)
		}
	}
}

func TestStoreWatch(t *testing.T) {
	st, srv, cli := newStore(t)
	ctx := testContext(t)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w := st.Watch(wctx)

	select {
	case p := <-w:
		t.Fatalf("Watch sent %v before there was a placement", p)
	case <-time.After(100 * time.Millisecond):
	}
	p := mustNew(t, 4, 2, "a", "b", "c")
	if err := st.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := next(t, w); !reflect.DeepEqual(got, p) {
		t.Errorf("first placement:\n%s\nwant\n%s", dump(got), dump(p))
	}

	added, err := st.Update(ctx, func(p *Placement) (*Placement, error) { return p.AddNode("d") })
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, w); !reflect.DeepEqual(got, added) {
		t.Errorf("after AddNode:\n%s\nwant\n%s", dump(got), dump(added))
	}

	// An invalid value is skipped; the next valid one comes.
	if _, err := cli.Put(ctx, st.Key(), "{"); err != nil {
		t.Fatal(err)
	}
	removed, err := added.RemoveNode("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, st.Key(), string(mustJSON(t, removed))); err != nil {
		t.Fatal(err)
	}
	if got := next(t, w); !reflect.DeepEqual(got, removed) {
		t.Errorf("after an invalid value and RemoveNode:\n%s\nwant\n%s", dump(got), dump(removed))
	}

	// The watch goes on across a restart of etcd.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	marked, err := st.Update(ctx, func(p *Placement) (*Placement, error) { return p.MarkAvailable(0, "d") })
	if err != nil {
		t.Fatal(err)
	}
	for got := next(t, w); !reflect.DeepEqual(got, marked); got = next(t, w) {
		if !reflect.DeepEqual(got, removed) { // may come again after the restart
			t.Fatalf("after the restart:\n%s\nwant\n%s", dump(got), dump(marked))
		}
	}

	stop()
	closed(t, w)
}

// TestStoreWatchSlowReader makes changes while no one reads: the reader
// then gets the latest, and never an older placement after a newer.
func TestStoreWatchSlowReader(t *testing.T) {
	st, _, _ := newStore(t)
	ctx := testContext(t)
	if err := st.Create(ctx, mustNew(t, 16, 2, "n0", "n1")); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w := st.Watch(wctx)
	const adds = 6
	for i := range adds {
		id := nodes(adds + 2)[i+2]
		if _, err := st.Update(ctx, func(p *Placement) (*Placement, error) { return p.AddNode(id) }); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for members := 0; members < adds+2; {
		p := next(t, w)
		seen++
		if len(p.Members) < members {
			t.Fatalf("a placement of %d members after one of %d", len(p.Members), members)
		}
		members = len(p.Members)
	}
	t.Logf("%d placements read for %d stored", seen, adds+1)
	stop()
	closed(t, w)
}

func TestStorePrefix(t *testing.T) {
	_, _, cli := newStore(t)
	ctx := testContext(t)
	tests := []struct{ prefix, key, nodeKey string }{
		{"", "/tumble/placement", "/tumble/nodes/a"},
		{"/tumble/", "/tumble/placement", "/tumble/nodes/a"},
		{"/staging", "/staging/placement", "/staging/nodes/a"},
	}
	for _, tt := range tests {
		st := NewStore(cli, tt.prefix)
		if st.Key() != tt.key || st.NodeKey("a") != tt.nodeKey {
			t.Errorf("NewStore(%q): keys %q and %q, want %q and %q", tt.prefix, st.Key(), st.NodeKey("a"), tt.key, tt.nodeKey)
		}
	}
	if err := NewStore(cli, "/staging").Create(ctx, mustNew(t, 2, 1, "a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewStore(cli, "").Get(ctx); !errors.Is(err, ErrNoPlacement) {
		t.Errorf("Get under another prefix: %v, want %v", err, ErrNoPlacement)
	}
}

func TestRegister(t *testing.T) {
	st, _, cli := newStore(t)
	ctx := testContext(t)
	grant := func() clientv3.LeaseID {
		t.Helper()
		l, err := cli.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	lease, other := grant(), grant()

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	w := st.WatchNodes(wctx)
	if got := next(t, w); len(got) != 0 {
		t.Errorf("first set %v, want none", got)
	}

	a := Node{ID: "a", GRPCAddr: "10.0.0.1:9300", HTTPAddr: "10.0.0.1:9201"}
	if err := st.Register(ctx, lease, a); err != nil {
		t.Fatal(err)
	}
	want := map[string]Node{"a": a}
	if got := next(t, w); !reflect.DeepEqual(got, want) {
		t.Errorf("WatchNodes after Register: %v, want %v", got, want)
	}
	if got, err := st.Nodes(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes: %v, %v, want %v", got, err, want)
	}

	a.GRPCAddr = "10.0.0.1:9301"
	if err := st.Register(ctx, lease, a); err != nil {
		t.Errorf("Register again under the same lease: %v", err)
	}
	want = map[string]Node{"a": a}
	if got := next(t, w); !reflect.DeepEqual(got, want) {
		t.Errorf("WatchNodes after a new address: %v, want %v", got, want)
	}

	for _, tt := range []struct {
		name  string
		lease clientv3.LeaseID
		node  Node
		want  string
	}{
		{"taken", other, Node{ID: "a"}, ErrNodeTaken.Error()},
		{"no lease", clientv3.NoLease, Node{ID: "b"}, `register node "b": no lease`},
		{"bad ID", lease, Node{ID: "b/c"}, `register node: node ID "b/c"`},
	} {
		err := st.Register(ctx, tt.lease, tt.node)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register, %s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}

	b := Node{ID: "b", GRPCAddr: "10.0.0.2:9300"}
	if err := st.Register(ctx, other, b); err != nil {
		t.Fatal(err)
	}
	want = map[string]Node{"a": a, "b": b}
	if got := next(t, w); !reflect.DeepEqual(got, want) {
		t.Errorf("WatchNodes after b registered: %v, want %v", got, want)
	}

	// The node's session ends: its registration goes with the lease.
	if _, err := cli.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	want = map[string]Node{"b": b}
	if got := next(t, w); !reflect.DeepEqual(got, want) {
		t.Errorf("WatchNodes after a's lease was revoked: %v, want %v", got, want)
	}
	if got, err := st.Nodes(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes after a's lease was revoked: %v, %v, want %v", got, err, want)
	}
	// Now another session may take the ID.
	if err := st.Register(ctx, other, Node{ID: "a"}); err != nil {
		t.Errorf("Register a under another lease once the first is gone: %v", err)
	}

	stop()
	closed(t, w)
}

func mustJSON(t *testing.T, p *Placement) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
