package placement

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func mustNew(t testing.TB, shards, replicas int, nodes ...string) *Placement {
	t.Helper()
	p, err := New(shards, replicas, nodes)
	if err != nil {
		t.Fatalf("New(%d, %d, %q): %v", shards, replicas, nodes, err)
	}
	return p
}

// nodes returns n node IDs, "n0" to "n<n-1>".
func nodes(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i)
	}
	return ids
}

// checkInvariants checks what every placement the operations return
// keeps: it is valid, the loads of the members are within one of each
// other, and every shard has at least Replicas caught-up replicas
// (available or leaving) running.
func checkInvariants(t testing.TB, p *Placement) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("invalid result: %v\n%s", err, dump(p))
	}
	if lo, hi := loadRange(p); hi-lo > 1 {
		t.Errorf("loads from %d to %d, want them within one\n%s", lo, hi, dump(p))
	}
	for s, rs := range p.Assignment {
		caughtUp := 0
		for _, r := range rs {
			if r.State != Initializing {
				caughtUp++
			}
		}
		if caughtUp < p.Replicas {
			t.Errorf("shard %d: %d caught-up replicas, want at least %d\n%s", s, caughtUp, p.Replicas, dump(p))
		}
	}
}

func loadRange(p *Placement) (lo, hi int) {
	lo = -1
	for _, m := range p.Members {
		l := p.Load(m)
		if lo < 0 || l < lo {
			lo = l
		}
		hi = max(hi, l)
	}
	return lo, hi
}

// dump formats a placement one shard a line, for failure messages.
func dump(p *Placement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "members %v\n", p.Members)
	for s, rs := range p.Assignment {
		fmt.Fprintf(&b, "%3d:", s)
		for _, r := range rs {
			fmt.Fprintf(&b, " %s(%s)", r.Node, r.State)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// completeHandOvers marks every initializing replica available.
func completeHandOvers(t testing.TB, p *Placement) *Placement {
	t.Helper()
	for s := range p.Assignment {
		for _, r := range slices.Clone(p.Assignment[s]) {
			if r.State != Initializing {
				continue
			}
			var err error
			if p, err = p.MarkAvailable(s, r.Node); err != nil {
				t.Fatalf("MarkAvailable(%d, %q): %v", s, r.Node, err)
			}
			checkInvariants(t, p)
		}
	}
	return p
}

// checkSettled checks that p has no hand-over in progress: exactly
// Replicas available replicas per shard.
func checkSettled(t testing.TB, p *Placement) {
	t.Helper()
	for s, rs := range p.Assignment {
		if len(rs) != p.Replicas || slices.ContainsFunc(rs, func(r Replica) bool { return r.State != Available }) {
			t.Errorf("shard %d: %v, want %d available replicas\n%s", s, rs, p.Replicas, dump(p))
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		shards, replicas, nodes int
	}{
		{1, 1, 1},
		{1, 2, 3},
		{3, 2, 3},
		{4, 2, 3},
		{16, 2, 3},
		{16, 3, 5},
		{7, 3, 3},
		{64, 2, 10},
		{5, 2, 12}, // fewer replicas than nodes
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d shards %d replicas %d nodes", tt.shards, tt.replicas, tt.nodes), func(t *testing.T) {
			ids := nodes(tt.nodes)
			p := mustNew(t, tt.shards, tt.replicas, ids...)
			checkInvariants(t, p)
			checkSettled(t, p)
			slices.Sort(ids)
			if !slices.Equal(p.Members, ids) {
				t.Errorf("members %v, want %v", p.Members, ids)
			}
			reversed := slices.Clone(ids)
			slices.Reverse(reversed)
			if q := mustNew(t, tt.shards, tt.replicas, reversed...); !reflect.DeepEqual(q, p) {
				t.Errorf("New on the nodes in another order:\n%s\nwant\n%s", dump(q), dump(p))
			}
		})
	}
}

func TestNewLayout(t *testing.T) {
	p := mustNew(t, 4, 2, "c", "a", "b")
	want := [][]string{{"a", "b"}, {"c", "a"}, {"b", "c"}, {"a", "b"}}
	for s, rs := range p.Assignment {
		var got []string
		for _, r := range rs {
			got = append(got, r.Node)
		}
		if !slices.Equal(got, want[s]) {
			t.Errorf("shard %d on %v, want %v", s, got, want[s])
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name             string
		shards, replicas int
		nodes            []string
		field, reason    string
	}{
		{"no shards", 0, 2, []string{"a", "b"}, "shards", "0: must be at least 1"},
		{"no replicas", 4, 0, []string{"a", "b"}, "replicas", "0: must be at least 1"},
		{"too few nodes", 4, 3, []string{"a", "b"}, "members", "2 nodes for 3 replicas"},
		{"a node twice", 4, 2, []string{"a", "b", "a"}, "members", `node "a" given twice`},
		{"an empty ID", 4, 2, []string{"a", ""}, "members", "node ID is empty"},
		{"a slash", 4, 2, []string{"a", "b/c"}, "members", `node ID "b/c": may hold only`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.shards, tt.replicas, tt.nodes)
			checkValidationError(t, err, tt.field, tt.reason)
		})
	}
}

func checkValidationError(t *testing.T, err error, field, reason string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *ValidationError", err, err)
	}
	if ve.Field != field || !strings.Contains(ve.Reason, reason) {
		t.Errorf("error field %q, reason %q; want field %q, a reason containing %q", ve.Field, ve.Reason, field, reason)
	}
	if !strings.Contains(err.Error(), field+": ") {
		t.Errorf("error %q does not name the field %q", err, field)
	}
}

func TestValidate(t *testing.T) {
	// base: shard 0 on a, b; shard 1 on c, a; shard 2 on b, c; shard 3 on a, b.
	tests := []struct {
		name          string
		edit          func(p *Placement)
		field, reason string
	}{
		{"shards", func(p *Placement) { p.Shards = -1 }, "shards", "-1: must be at least 1"},
		{"replicas", func(p *Placement) { p.Replicas = 0 }, "replicas", "0: must be at least 1"},
		{"replicas above the nodes", func(p *Placement) { p.Replicas = 4 }, "members", "3 nodes for 4 replicas"},
		{"assignment length", func(p *Placement) { p.Shards = 5 }, "assignment", "4 shards, want 5"},
		{"member twice", func(p *Placement) { p.Members = []string{"a", "b", "b", "c"} }, "members[2]", `node "b" listed twice`},
		{"members unsorted", func(p *Placement) { p.Members = []string{"a", "c", "b"} }, "members[2]", `"b" comes after "c"`},
		{"member ID", func(p *Placement) { p.Members[1] = "b c" }, "members[1]", `node ID "b c"`},
		{"node twice in a shard", func(p *Placement) { p.Assignment[2][1].Node = "b" }, "assignment[2][1].node", `node "b" holds shard 2 twice (also assignment[2][0])`},
		{"empty node", func(p *Placement) { p.Assignment[1][0].Node = "" }, "assignment[1][0].node", "node ID is empty"},
		{"unknown state", func(p *Placement) { p.Assignment[3][1].State = "ready" }, "assignment[3][1].state", `"ready": want "initializing", "available" or "leaving"`},
		{"empty state", func(p *Placement) { p.Assignment[0][0].State = "" }, "assignment[0][0].state", `"": want`},
		{"too few replicas", func(p *Placement) { p.Assignment[1] = p.Assignment[1][:1] }, "assignment[1]", "shard 1 has 1 replicas that are not leaving, want at least 2"},
		{"leaving without replacement", func(p *Placement) {
			p.Assignment[0] = append(p.Assignment[0], Replica{Node: "c", State: Available})
			p.Assignment[0][0].State = Leaving
		}, "assignment[0]", "shard 0 has 1 leaving replicas but 0 initializing ones"},
		{"leaving counted out", func(p *Placement) {
			p.Assignment[0] = append(p.Assignment[0], Replica{Node: "c", State: Leaving})
		}, "assignment[0]", "1 leaving replicas but 0 initializing"},
		{"non-member not leaving", func(p *Placement) { p.Assignment[2][0].Node = "x" }, "assignment[2][0]", `node "x" is not a member, so its replica of shard 2 must be leaving, not available`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, 4, 2, "a", "b", "c")
			tt.edit(p)
			checkValidationError(t, p.Validate(), tt.field, tt.reason)
		})
	}
}

func TestAddNode(t *testing.T) {
	tests := []struct {
		shards, replicas, nodes int
		wantMoves               int // replicas handed over to the new node
	}{
		{3, 2, 2, 2},  // 6 replicas: 3/3 → 2/2/2
		{4, 2, 3, 2},  // 8: 3/3/2 → 2/2/2/2
		{16, 2, 3, 8}, // 32: 11/11/10 → 8 each
		{16, 3, 5, 8}, // 48: 10 each → 8/8/8/8/8/8
		{1, 2, 2, 0},  // 2 replicas for 3 nodes: the new one takes none
		{2, 1, 2, 0},  // 1/1 → 1/1/0
		{7, 3, 3, 5},  // 21: 7 each → 6/5/5/5
		{64, 2, 10, 11},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d shards %d replicas %d nodes", tt.shards, tt.replicas, tt.nodes), func(t *testing.T) {
			p := mustNew(t, tt.shards, tt.replicas, nodes(tt.nodes)...)
			before := p.Clone()
			q, err := p.AddNode("new")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, before) {
				t.Errorf("AddNode changed its receiver:\n%s\nwant\n%s", dump(p), dump(before))
			}
			checkInvariants(t, q)
			if !slices.Contains(q.Members, "new") {
				t.Errorf("members %v lack the new node", q.Members)
			}
			if got := q.Load("new"); got != tt.wantMoves {
				t.Errorf("new node's load %d, want %d\n%s", got, tt.wantMoves, dump(q))
			}
			// Each replica of the new node is initializing and replaces one
			// leaving replica of the same shard; nothing else changed.
			for s, rs := range q.Assignment {
				r, ok := q.Replica(s, "new")
				if !ok {
					if !reflect.DeepEqual(rs, p.Assignment[s]) {
						t.Errorf("shard %d changed without a hand-over: %v, want %v", s, rs, p.Assignment[s])
					}
					continue
				}
				if r.State != Initializing {
					t.Errorf("shard %d: the new node's replica is %s, want initializing", s, r.State)
				}
				leaving := 0
				for _, r := range rs {
					if r.State == Leaving {
						leaving++
					}
				}
				if len(rs) != tt.replicas+1 || leaving != 1 {
					t.Errorf("shard %d: %v, want the %d replicas, one leaving, and the new one", s, rs, tt.replicas)
				}
			}
			if again, err := p.AddNode("new"); err != nil || !reflect.DeepEqual(again, q) {
				t.Errorf("AddNode again: %v\n%s\nwant the same result\n%s", err, dump(again), dump(q))
			}

			done := completeHandOvers(t, q)
			checkSettled(t, done)
			if got := done.Load("new"); got != tt.wantMoves {
				t.Errorf("after the hand-overs: new node's load %d, want %d", got, tt.wantMoves)
			}
		})
	}
}

func TestAddNodeErrors(t *testing.T) {
	p := mustNew(t, 4, 2, "a", "b", "c")
	tests := []struct {
		name string
		p    *Placement
		id   string
		want string
	}{
		{"member", p, "b", `add node "b": already a member`},
		{"bad ID", p, "d/e", `add node: node ID "d/e"`},
		{"invalid placement", &Placement{Shards: 1, Replicas: 1}, "d", `add node "d": invalid placement: members: 0 nodes for 1 replicas`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.AddNode(tt.id)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("AddNode(%q): %v, want an error containing %q", tt.id, err, tt.want)
			}
		})
	}
}

func TestRemoveNode(t *testing.T) {
	tests := []struct {
		shards, replicas, nodes int
		remove                  string
	}{
		{3, 2, 3, "n0"},
		{4, 2, 3, "n1"},
		{16, 2, 4, "n3"},
		{16, 3, 5, "n2"},
		{64, 2, 10, "n7"},
		{1, 2, 3, "n2"}, // holds no replica
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d shards %d replicas %d nodes", tt.shards, tt.replicas, tt.nodes), func(t *testing.T) {
			p := mustNew(t, tt.shards, tt.replicas, nodes(tt.nodes)...)
			before := p.Clone()
			q, err := p.RemoveNode(tt.remove)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, before) {
				t.Error("RemoveNode changed its receiver")
			}
			checkInvariants(t, q)
			if slices.Contains(q.Members, tt.remove) {
				t.Errorf("members %v still hold %s", q.Members, tt.remove)
			}
			if got, want := q.ShardsOf(tt.remove), p.ShardsOf(tt.remove); !slices.Equal(got, want) {
				t.Errorf("%s holds shards %v, want %v until the replacements are available", tt.remove, got, want)
			}
			for _, s := range p.ShardsOf(tt.remove) {
				if r, _ := q.Replica(s, tt.remove); r.State != Leaving {
					t.Errorf("shard %d: the removed node's replica is %s, want leaving", s, r.State)
				}
				var added []Replica
				for _, r := range q.Assignment[s] {
					if _, had := p.Replica(s, r.Node); !had {
						added = append(added, r)
					}
				}
				if len(added) != 1 || added[0].State != Initializing {
					t.Errorf("shard %d: replicas %v added, want one initializing", s, added)
				}
			}
			if again, err := p.RemoveNode(tt.remove); err != nil || !reflect.DeepEqual(again, q) {
				t.Errorf("RemoveNode again: %v, want the same result", err)
			}
			if len(p.ShardsOf(tt.remove)) > 0 {
				if again, err := q.RemoveNode(tt.remove); err != nil || !reflect.DeepEqual(again, q) {
					t.Errorf("RemoveNode of a node that is leaving: %v, want no change", err)
				}
			}

			done := completeHandOvers(t, q)
			checkSettled(t, done)
			if slices.Contains(done.Nodes(), tt.remove) {
				t.Errorf("nodes %v still hold %s after the hand-overs", done.Nodes(), tt.remove)
			}
		})
	}
}

func TestRemoveNodeLeastLoaded(t *testing.T) {
	// Loads: n0 2, n1 2, n2 1, n3 1.
	p := &Placement{Shards: 3, Replicas: 2, Members: nodes(4), Assignment: [][]Replica{
		{{"n0", Available}, {"n1", Available}},
		{{"n0", Available}, {"n2", Available}},
		{{"n1", Available}, {"n3", Available}},
	}}
	q, err := p.RemoveNode("n0")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Replica{
		{{"n0", Leaving}, {"n1", Available}, {"n2", Initializing}}, // n2 and n3 at 1: n2 by name
		{{"n0", Leaving}, {"n2", Available}, {"n3", Initializing}}, // n1 and n2 at 2 now, n3 at 1
		{{"n1", Available}, {"n3", Available}},
	}
	if !reflect.DeepEqual(q.Assignment, want) {
		t.Errorf("got\n%s\nwant the replacements on n2, then n3", dump(q))
	}
}

func TestRemoveNodeErrors(t *testing.T) {
	tests := []struct {
		name string
		p    *Placement
		id   string
		want string
	}{
		{"as many nodes as replicas", mustNew(t, 4, 3, "a", "b", "c"), "b",
			`remove node "b": no other node can take its replica of shard 0: 2 nodes would remain for 3 replicas of each shard`},
		{"two of two", mustNew(t, 2, 2, "a", "b"), "a", `remove node "a": no other node can take its replica of shard 0`},
		{"unknown", mustNew(t, 2, 2, "a", "b"), "c", `remove node "c": not in the placement`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.RemoveNode(tt.id)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RemoveNode(%q): %v, want an error containing %q", tt.id, err, tt.want)
			}
		})
	}
}

// TestUndo removes a node whose replicas are still catching up, and adds
// back a node whose replicas are still leaving: the hand-overs are undone,
// the caught-up replicas taken back.
func TestUndo(t *testing.T) {
	for _, tt := range []struct {
		shards, replicas, nodes int
	}{
		{4, 2, 3},
		{6, 2, 3},
		{16, 3, 5},
		{64, 2, 10},
	} {
		t.Run(fmt.Sprintf("%d shards %d replicas %d nodes", tt.shards, tt.replicas, tt.nodes), func(t *testing.T) {
			p := mustNew(t, tt.shards, tt.replicas, nodes(tt.nodes)...)
			added, err := p.AddNode("new")
			if err != nil {
				t.Fatal(err)
			}
			q, err := added.RemoveNode("new")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(q, p) {
				t.Errorf("add then remove:\n%s\nwant the placement before\n%s", dump(q), dump(p))
			}

			removed, err := p.RemoveNode("n1")
			if err != nil {
				t.Fatal(err)
			}
			q, err = removed.AddNode("n1")
			if err != nil {
				t.Fatal(err)
			}
			// Balanced within one, it may stop one replica short of the
			// placement before, but takes back rather than starts anew.
			checkInvariants(t, q)
			for s, rs := range q.Assignment {
				if r, ok := q.Replica(s, "n1"); ok && r.State == Initializing {
					t.Errorf("shard %d: %v, want n1's leaving replica taken back, not a new one", s, rs)
				}
			}
			checkSettled(t, completeHandOvers(t, q))
		})
	}
}

func TestMarkAvailable(t *testing.T) {
	// Shard 0: a leaving, b available, d initializing (a hand-over a → d).
	// Shard 1: two hand-overs, a → d and b → e.
	base := &Placement{Shards: 3, Replicas: 2, Members: []string{"b", "c", "d", "e"}, Assignment: [][]Replica{
		{{"a", Leaving}, {"b", Available}, {"d", Initializing}},
		{{"a", Leaving}, {"b", Leaving}, {"d", Initializing}, {"e", Initializing}},
		{{"c", Available}, {"d", Initializing}, {"e", Initializing}}, // three replicas: one above the factor
	}}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		shard int
		node  string
		want  []Replica // of shard
		err   string
	}{
		{"hand-over", 0, "d", []Replica{{"b", Available}, {"d", Available}}, ""},
		{"already available", 0, "b", []Replica{{"a", Leaving}, {"b", Available}, {"d", Initializing}}, ""},
		{"first of two", 1, "e", []Replica{{"b", Leaving}, {"d", Initializing}, {"e", Available}}, ""},
		{"no leaving one", 2, "d", []Replica{{"c", Available}, {"d", Available}, {"e", Initializing}}, ""},
		{"leaving", 0, "a", nil, `mark shard 0 on "a" available: the replica is leaving`},
		{"no replica", 0, "c", nil, `mark shard 0 on "c" available: the node holds no replica of the shard`},
		{"no shard", 3, "d", nil, `mark shard 3 on "d" available: no such shard: the shards are 0 to 2`},
		{"negative shard", -1, "d", nil, "no such shard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := base.Clone()
			q, err := base.MarkAvailable(tt.shard, tt.node)
			if !reflect.DeepEqual(base, before) {
				t.Error("MarkAvailable changed its receiver")
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("MarkAvailable(%d, %q): %v, want an error containing %q", tt.shard, tt.node, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Validate(); err != nil {
				t.Errorf("invalid result: %v", err)
			}
			if got := q.Assignment[tt.shard]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("shard %d: %v, want %v", tt.shard, got, tt.want)
			}
			for s := range q.Assignment {
				if s != tt.shard && !reflect.DeepEqual(q.Assignment[s], base.Assignment[s]) {
					t.Errorf("shard %d changed too: %v, want %v", s, q.Assignment[s], base.Assignment[s])
				}
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	p := mustNew(t, 4, 2, "a", "b", "c")
	p, err := p.RemoveNode("c")
	if err != nil {
		t.Fatal(err)
	}
	// c held shards 1 and 2; a and b each take one.
	if got, want := p.ShardsOf("c"), []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("ShardsOf(c) = %v, want %v", got, want)
	}
	if got := p.ShardsOf("x"); got != nil {
		t.Errorf("ShardsOf(x) = %v, want none", got)
	}
	if got, want := p.Nodes(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("Nodes() = %v, want %v (c until its replacements are available)", got, want)
	}
	if r, ok := p.Replica(1, "c"); !ok || r != (Replica{"c", Leaving}) {
		t.Errorf("Replica(1, c) = %v, %v, want c leaving", r, ok)
	}
	for _, tt := range []struct {
		shard int
		node  string
	}{{0, "c"}, {-1, "a"}, {4, "a"}} {
		if r, ok := p.Replica(tt.shard, tt.node); ok {
			t.Errorf("Replica(%d, %s) = %v, want none", tt.shard, tt.node, r)
		}
	}
	if got := p.Load("c"); got != 0 {
		t.Errorf("Load(c) = %d, want 0: leaving replicas do not count", got)
	}
	if got, want := p.Load("a")+p.Load("b"), 8; got != want {
		t.Errorf("loads of a and b add up to %d, want %d", got, want)
	}
}

// TestOperationsKeepInvariants runs random sequences of operations, with
// fixed seeds, checking the invariants after each.
func TestOperationsKeepInvariants(t *testing.T) {
	for _, tt := range []struct {
		shards, replicas, nodes int
	}{
		{8, 2, 3},
		{32, 3, 5},
		{5, 2, 2},
		{1, 2, 2},
		{100, 2, 8},
	} {
		t.Run(fmt.Sprintf("%d shards %d replicas %d nodes", tt.shards, tt.replicas, tt.nodes), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.shards)))
			p := mustNew(t, tt.shards, tt.replicas, nodes(tt.nodes)...)
			next := tt.nodes
			for step := range 400 {
				var q *Placement
				var err error
				var op string
				switch k := rng.IntN(4); {
				case k == 0:
					id := fmt.Sprintf("n%d", next)
					if gone := slices.DeleteFunc(p.Nodes(), func(n string) bool { return slices.Contains(p.Members, n) }); len(gone) > 0 && rng.IntN(2) == 0 {
						id = gone[rng.IntN(len(gone))] // removed, still leaving: back
					} else {
						next++
					}
					op = "add " + id
					q, err = p.AddNode(id)
				case k == 1 && len(p.Members) > tt.replicas:
					id := p.Members[rng.IntN(len(p.Members))]
					op = "remove " + id
					q, err = p.RemoveNode(id)
				default:
					type replica struct {
						shard int
						node  string
					}
					var init []replica
					for s, rs := range p.Assignment {
						for _, r := range rs {
							if r.State == Initializing {
								init = append(init, replica{s, r.Node})
							}
						}
					}
					if len(init) == 0 {
						continue
					}
					r := init[rng.IntN(len(init))]
					op = fmt.Sprintf("mark %d on %s available", r.shard, r.node)
					q, err = p.MarkAvailable(r.shard, r.node)
				}
				if err != nil {
					t.Fatalf("step %d, %s: %v\n%s", step, op, err, dump(p))
				}
				checkInvariants(t, q)
				if t.Failed() {
					t.Fatalf("step %d, %s, from\n%s", step, op, dump(p))
				}
				p = q
			}
			checkSettled(t, completeHandOvers(t, p))
		})
	}
}

// TestJSON checks the stored form of a placement with a hand-over in
// progress, and that it decodes to the same placement.
func TestJSON(t *testing.T) {
	p, err := mustNew(t, 4, 2, "a", "b", "c").AddNode("d")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "add-node.golden.json"), append(b, '\n'), *update)
	var q Placement
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&q, p) {
		t.Errorf("decoded\n%s\nwant\n%s", dump(&q), dump(p))
	}
}
