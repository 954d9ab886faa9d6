package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tumblemetrics/tumble/internal/etcdtest"
	"github.com/tumblemetrics/tumble/shard/placement"
)

// showJSON runs placement show --json and decodes what it prints.
func showJSON(t *testing.T, etcd string, flags ...string) placementShow {
	t.Helper()
	status, stdout, stderr := tumblectl(t, "", append([]string{"placement", "show", "--json", "--etcd", etcd}, flags...)...)
	if status != exitOK {
		t.Fatalf("placement show --json: status %d, want %d; stderr:\n%s", status, exitOK, stderr)
	}
	var got placementShow
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decode placement show --json: %v\n%s", err, stdout)
	}
	return got
}

// TestPlacementCommands takes a cluster through its life: init, nodes
// registering, a node added and its hand-overs completed, a node removed.
func TestPlacementCommands(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := etcdtest.Start(t)
	etcd := strings.TrimPrefix(srv.Endpoints()[0], "http://") // HOST:PORT, as an operator gives it
	ctl := func(t *testing.T, wantStatus int, args ...string) (string, string) {
		t.Helper()
		status, stdout, stderr := tumblectl(t, "", append(args, "--etcd", etcd)...)
		if status != wantStatus {
			t.Fatalf("tumblectl %s: status %d, want %d; stderr:\n%s", strings.Join(args, " "), status, wantStatus, stderr)
		}
		return stdout, stderr
	}

	out, _ := ctl(t, exitOK, "placement", "init", "--shards", "6", "--replicas", "2", "--nodes", "node-c,node-a,node-b")
	golden(t, "placement-init.golden", out)
	_, stderr := ctl(t, exitError, "placement", "init", "--shards", "8", "--nodes", "x,y")
	if want := "a placement exists already at /tumble/placement"; !strings.Contains(stderr, want) {
		t.Errorf("init again: stderr\n%s\nwant it to contain %q", stderr, want)
	}

	// node-a and node-b run; node-e runs but is not in the placement.
	cli := srv.Client(t)
	st := placement.NewStore(cli, "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []placement.Node{
		{ID: "node-a", GRPCAddr: "10.0.0.1:9300", HTTPAddr: "10.0.0.1:9201"},
		{ID: "node-b", GRPCAddr: "10.0.0.2:9300", HTTPAddr: "10.0.0.2:9201"},
		{ID: "node-e", GRPCAddr: "10.0.0.5:9300"},
	} {
		if err := st.Register(ctx, lease.ID, n); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = ctl(t, exitOK, "placement", "show")
	golden(t, "placement-show.golden", out)

	out, _ = ctl(t, exitOK, "placement", "add-node", "node-d")
	golden(t, "placement-add-node.golden", out)
	shown := showJSON(t, etcd)
	if len(shown.Registered) != 3 || shown.Registered[0].ID != "node-a" || shown.Registered[0].GRPCAddr != "10.0.0.1:9300" {
		t.Errorf("registered %+v, want node-a, node-b and node-e with their addresses", shown.Registered)
	}
	p := shown.Placement
	handOvers := 0
	for s := range p.Shards {
		r, ok := p.Replica(s, "node-d")
		if !ok {
			continue
		}
		handOvers++
		if r.State != placement.Initializing {
			t.Errorf("shard %d: node-d's replica %s, want initializing", s, r.State)
		}
		out, _ := ctl(t, exitOK, "placement", "mark-available", fmt.Sprint(s), "node-d")
		if !strings.Contains(out, fmt.Sprintf("shard %d: node-d initializing → available, ", s)) || !strings.Contains(out, " removed") {
			t.Errorf("mark-available %d node-d printed\n%s\nwant node-d available and the leaving replica removed", s, out)
		}
	}
	if handOvers != 3 {
		t.Errorf("%d hand-overs to node-d, want 3 (12 replicas on 4 nodes)", handOvers)
	}
	p = showJSON(t, etcd).Placement
	for s, rs := range p.Assignment {
		for _, r := range rs {
			if r.State != placement.Available || len(rs) != 2 {
				t.Errorf("shard %d: %v, want two available replicas once the hand-overs are done", s, rs)
				break
			}
		}
	}
	out, _ = ctl(t, exitOK, "placement", "mark-available", "0", "node-a")
	if out != "no change\n" {
		t.Errorf("mark-available of an available replica printed %q, want no change", out)
	}

	out, _ = ctl(t, exitOK, "placement", "remove-node", "node-a")
	if !strings.HasPrefix(out, "node node-a leaves\n") || !strings.Contains(out, "node-a available → leaving") {
		t.Errorf("remove-node printed\n%s\nwant node-a leaving", out)
	}
	out, _ = ctl(t, exitOK, "placement", "show")
	for _, want := range []string{"node-a  removed  yes ", "node-e  no       yes ", "warning: node node-e is registered but not in the placement"} {
		if !strings.Contains(out, want) {
			t.Errorf("show after remove-node:\n%s\nwant it to contain %q", out, want)
		}
	}
}

func TestPlacementErrors(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := etcdtest.Start(t)
	etcd := srv.Endpoints()[0] // a URL works too
	status, _, stderr := tumblectl(t, "", "placement", "init", "--etcd", etcd, "--shards", "2", "--nodes", "a,b,c")
	if status != exitOK {
		t.Fatalf("init: status %d; stderr:\n%s", status, stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"init without shards", []string{"placement", "init", "--nodes", "a,b"}, "placement init: --shards is required"},
		{"init without nodes", []string{"placement", "init", "--shards", "4", "--nodes", " , "}, "placement init: --nodes is required"},
		{"init with too few nodes", []string{"placement", "init", "--shards", "4", "--replicas", "3", "--nodes", "a,b"}, "placement init: invalid placement: members: 2 nodes for 3 replicas"},
		{"init with a bad node", []string{"placement", "init", "--shards", "4", "--nodes", "a,b/c"}, `node ID "b/c": may hold only`},
		{"init with an argument", []string{"placement", "init", "--shards", "4", "--nodes", "a,b", "extra"}, `placement init: unexpected argument "extra"`},
		{"show without placement", []string{"placement", "show", "--prefix", "/other"}, "placement show: no placement at /other/placement: create one with placement init"},
		{"add-node without node", []string{"placement", "add-node"}, "placement add-node: want NODE, got 0 arguments"},
		{"add-node of a member", []string{"placement", "add-node", "b"}, `placement add-node: add node "b": already a member`},
		{"add-node without placement", []string{"placement", "add-node", "d", "--prefix", "/other"}, "placement add-node: no placement at /other/placement"},
		{"remove-node unknown", []string{"placement", "remove-node", "x"}, `placement remove-node: remove node "x": not in the placement`},
		{"mark-available one argument", []string{"placement", "mark-available", "1"}, "placement mark-available: want SHARD NODE, got 1 arguments"},
		{"mark-available bad shard", []string{"placement", "mark-available", "one", "a"}, `placement mark-available: shard "one": not a number`},
		{"mark-available no shard", []string{"placement", "mark-available", "2", "a"}, "no such shard: the shards are 0 to 1"},
		{"mark-available no replica", []string{"placement", "mark-available", "0", "c"}, `the node holds no replica of the shard`},
		{"bad flag", []string{"placement", "show", "--nope"}, "flag provided but not defined: -nope"},
		{"no endpoint", []string{"placement", "show", "--etcd", ","}, "placement show: --etcd: no endpoint given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{}, tt.args...)
			if !strings.Contains(strings.Join(args, " "), "--etcd") {
				args = append(args, "--etcd", etcd)
			}
			status, _, stderr := tumblectl(t, "", args...)
			if status != exitError {
				t.Errorf("status %d, want %d", status, exitError)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, tt.want)
			}
		})
	}
	// No refused change wrote anything.
	if got := showJSON(t, etcd); got.Revision != 2 || len(got.Placement.Members) != 3 {
		t.Errorf("placement at revision %d with members %v, want the one init wrote", got.Revision, got.Placement.Members)
	}
}

// TestPlacementEtcdDown points the commands at a port no etcd listens on:
// each fails within its dial timeout, saying so.
func TestPlacementEtcdDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{
		{"placement", "show"},
		{"placement", "init", "--shards", "2", "--nodes", "a,b"},
		{"placement", "add-node", "c"},
		{"placement", "remove-node", "a"},
		{"placement", "mark-available", "0", "a"},
	} {
		t.Run(args[1], func(t *testing.T) {
			start := time.Now()
			status, _, stderr := tumblectl(t, "", append(args, "--etcd", addr, "--dial-timeout", "300ms")...)
			if status != exitError {
				t.Errorf("status %d, want %d", status, exitError)
			}
			want := fmt.Sprintf("tumblectl: placement %s: etcd at %s did not answer within 300ms (--dial-timeout)", args[1], addr)
			if !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr:\n%s\nwant it to start with %q", stderr, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to give up, with a dial timeout of 300ms", d)
			}
		})
	}
}

func TestPlacementUsage(t *testing.T) {
	status, stdout, _ := tumblectl(t, "", "help")
	if status != exitOK || !strings.Contains(stdout, "tumblectl placement init --shards N") || !strings.Contains(stdout, "tumblectl placement mark-available SHARD ID") {
		t.Errorf("help: status %d, usage\n%s\nwant the placement commands", status, stdout)
	}
	status, _, stderr := tumblectl(t, "", "placement", "move")
	if status != exitError || !strings.Contains(stderr, `unknown command "placement"`) {
		t.Errorf("placement move: status %d, stderr\n%s\nwant an unknown command", status, stderr)
	}
}
