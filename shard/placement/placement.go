package placement

import (
	"fmt"
	"slices"
	"strings"
)

// State is where a replica stands in its life.
type State string

const (
	// Initializing is a new replica catching up from the shard partition;
	// it may not lead yet. Its node marks it Available once it has caught
	// up (MarkAvailable).
	Initializing State = "initializing"
	// Available is a replica that has caught up: it may lead.
	Available State = "available"
	// Leaving is a replica being replaced. It keeps running, and may still
	// lead, until its replacement is available; then it is removed.
	Leaving State = "leaving"
)

func (s State) valid() bool {
	return s == Initializing || s == Available || s == Leaving
}

// Replica is one replica of a shard: the node that runs it and its state.
type Replica struct {
	Node  string `json:"node"`
	State State  `json:"state"`
}

// Placement says which nodes hold which shards. It is a value: the methods
// that change it return a new placement and leave the receiver as it was,
// so a *Placement may be read from any number of goroutines.
//
// A valid placement (see Validate) keeps these invariants:
//   - Assignment has one entry per shard, 0 to Shards-1;
//   - Members are sorted and distinct, and at least Replicas;
//   - no node holds a shard twice;
//   - every shard has at least Replicas replicas that are not leaving;
//   - every leaving replica waits for an initializing one: a shard has no
//     more leaving replicas than initializing ones;
//   - the replicas that are not leaving are on members; a node that is no
//     longer a member (RemoveNode) holds only leaving replicas, until their
//     replacements are available.
//
// The load of a member is the number of its replicas that are not leaving;
// the placement operations keep the loads of the members within one of
// each other.
type Placement struct {
	// Shards is the number of shards, fixed at cluster creation.
	Shards int `json:"shards"`
	// Replicas is the replication factor: the replicas each shard keeps,
	// not counting leaving ones.
	Replicas int `json:"replicas"`
	// Members are the nodes that take replicas, sorted by name.
	Members []string `json:"members"`
	// Assignment holds the replicas of each shard, by shard number.
	Assignment [][]Replica `json:"assignment"`
}

// ValidationError is an invalid placement: the field at fault, in the
// placement's JSON form ("assignment[3][1].state"), and what is wrong.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "invalid placement: " + e.Field + ": " + e.Reason
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidNodeID returns an error unless id is a usable node ID: letters,
// digits, '.', '_' and '-', at most 253 of them. A node ID is part of an
// etcd key and of the command line of tumblectl.
func ValidNodeID(id string) error {
	if id == "" {
		return fmt.Errorf("node ID is empty")
	}
	if len(id) > 253 {
		return fmt.Errorf("node ID %.20q… is %d bytes long, more than 253", id, len(id))
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("node ID %q: may hold only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// New returns a placement of shards shards with replicas replicas each,
// all available, spread over nodes: the replicas are dealt to the nodes,
// in sorted order, round robin, so that every node holds the same number
// of replicas give or take one and a shard's replicas are on distinct
// nodes. The same shards, replicas and set of nodes give the same
// placement, whatever the order of nodes.
func New(shards, replicas int, nodes []string) (*Placement, error) {
	if shards < 1 {
		return nil, invalid("shards", "%d: must be at least 1", shards)
	}
	if replicas < 1 {
		return nil, invalid("replicas", "%d: must be at least 1", replicas)
	}
	members := slices.Clone(nodes)
	slices.Sort(members)
	for i, n := range members {
		if err := ValidNodeID(n); err != nil {
			return nil, invalid("members", "%v", err)
		}
		if i > 0 && members[i-1] == n {
			return nil, invalid("members", "node %q given twice", n)
		}
	}
	if len(members) < replicas {
		return nil, invalid("members", "%d nodes for %d replicas: the replicas of a shard need distinct nodes", len(members), replicas)
	}
	p := &Placement{Shards: shards, Replicas: replicas, Members: members, Assignment: make([][]Replica, shards)}
	for s := range shards {
		rs := make([]Replica, replicas)
		for r := range rs {
			rs[r] = Replica{Node: members[(s*replicas+r)%len(members)], State: Available}
		}
		p.Assignment[s] = rs
	}
	return p, nil
}

// Validate checks the invariants listed on Placement. The error, a
// *ValidationError, names the field at fault.
func (p *Placement) Validate() error {
	if p.Shards < 1 {
		return invalid("shards", "%d: must be at least 1", p.Shards)
	}
	if p.Replicas < 1 {
		return invalid("replicas", "%d: must be at least 1", p.Replicas)
	}
	members := make(map[string]bool, len(p.Members))
	for i, n := range p.Members {
		field := fmt.Sprintf("members[%d]", i)
		if err := ValidNodeID(n); err != nil {
			return invalid(field, "%v", err)
		}
		if members[n] {
			return invalid(field, "node %q listed twice", n)
		}
		if i > 0 && n < p.Members[i-1] {
			return invalid(field, "%q comes after %q: members are sorted by name", n, p.Members[i-1])
		}
		members[n] = true
	}
	if len(p.Members) < p.Replicas {
		return invalid("members", "%d nodes for %d replicas: the replicas of a shard need distinct nodes", len(p.Members), p.Replicas)
	}
	if len(p.Assignment) != p.Shards {
		return invalid("assignment", "%d shards, want %d (shards)", len(p.Assignment), p.Shards)
	}
	for s, rs := range p.Assignment {
		var counts [3]int // initializing, available, leaving
		for i, r := range rs {
			field := fmt.Sprintf("assignment[%d][%d]", s, i)
			if err := ValidNodeID(r.Node); err != nil {
				return invalid(field+".node", "%v", err)
			}
			if j := slices.IndexFunc(rs[:i], func(o Replica) bool { return o.Node == r.Node }); j >= 0 {
				return invalid(field+".node", "node %q holds shard %d twice (also assignment[%d][%d])", r.Node, s, s, j)
			}
			switch r.State {
			case Initializing:
				counts[0]++
			case Available:
				counts[1]++
			case Leaving:
				counts[2]++
			default:
				return invalid(field+".state", "%q: want %q, %q or %q", r.State, Initializing, Available, Leaving)
			}
			if r.State != Leaving && !members[r.Node] {
				return invalid(field, "node %q is not a member, so its replica of shard %d must be leaving, not %s", r.Node, s, r.State)
			}
		}
		field := fmt.Sprintf("assignment[%d]", s)
		if staying := counts[0] + counts[1]; staying < p.Replicas {
			return invalid(field, "shard %d has %d replicas that are not leaving, want at least %d (replicas)", s, staying, p.Replicas)
		}
		if counts[2] > counts[0] {
			return invalid(field, "shard %d has %d leaving replicas but %d initializing ones to replace them", s, counts[2], counts[0])
		}
	}
	return nil
}

// Clone returns a deep copy of p.
func (p *Placement) Clone() *Placement {
	c := *p
	c.Members = slices.Clone(p.Members)
	c.Assignment = make([][]Replica, len(p.Assignment))
	for s, rs := range p.Assignment {
		c.Assignment[s] = slices.Clone(rs)
	}
	return &c
}

// Replica returns the replica of shard on node, and whether there is one.
func (p *Placement) Replica(shard int, node string) (Replica, bool) {
	if shard < 0 || shard >= len(p.Assignment) {
		return Replica{}, false
	}
	i := p.index(shard, node)
	if i < 0 {
		return Replica{}, false
	}
	return p.Assignment[shard][i], true
}

// ShardsOf returns, in increasing order, the shards node holds a replica
// of, whatever its state: a node runs its leaving replicas too, until they
// are removed.
func (p *Placement) ShardsOf(node string) []int {
	var shards []int
	for s := range p.Assignment {
		if p.index(s, node) >= 0 {
			shards = append(shards, s)
		}
	}
	return shards
}

// Nodes returns, sorted, every node that is a member or holds a replica:
// the nodes that should be running.
func (p *Placement) Nodes() []string {
	nodes := slices.Clone(p.Members)
	for _, rs := range p.Assignment {
		for _, r := range rs {
			nodes = append(nodes, r.Node)
		}
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

// Load returns the number of replicas on node that are not leaving.
func (p *Placement) Load(node string) int {
	n := 0
	for _, rs := range p.Assignment {
		for _, r := range rs {
			if r.Node == node && r.State != Leaving {
				n++
			}
		}
	}
	return n
}

// AddNode returns a placement with id as a new member, and as many
// replicas moved onto it as balance the loads: no member then holds more
// than one replica more than another. A move is a hand-over: the new
// node's replica is added initializing, and the replica it replaces
// becomes leaving; both run until the new one is marked available (an
// initializing replica, which has not caught up, is moved at once).
//
// Moves take, from the most loaded members first, the replicas of shards
// with no hand-over in progress first, lowest shard first; the same
// placement and id give the same result. A node that was removed but
// still runs leaving replicas may be added back: it takes those back
// first, as they are caught up. It is an error if id is already a member.
func (p *Placement) AddNode(id string) (*Placement, error) {
	if err := ValidNodeID(id); err != nil {
		return nil, fmt.Errorf("add node: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("add node %q: %w", id, err)
	}
	i, member := slices.BinarySearch(p.Members, id)
	if member {
		return nil, fmt.Errorf("add node %q: already a member", id)
	}
	q := p.Clone()
	q.Members = slices.Insert(q.Members, i, id)
	q.rebalance()
	return q, nil
}

// RemoveNode returns a placement without id as a member: each of its
// available replicas becomes leaving, and a replacement, initializing,
// goes to the least loaded member (the first by name among equals) that
// does not hold the shard yet. The leaving replicas are removed as their
// replacements are marked available. An initializing replica on id, which
// has not caught up and may not lead, is dropped at once; if it was the
// replacement of a leaving replica on a member, that one is taken back
// (it is caught up: the hand-over is undone), or else it is replaced as
// an available one is. A leaving replica of a member is likewise taken
// back, rather than a new one started, where a shard needs a replica.
// The loads are then balanced as AddNode does.
//
// It is an error, naming the shard, if no other member can take one of
// the replicas, which happens only when fewer members than Replicas would
// remain. Removing a node that is no longer a member but still holds
// leaving replicas changes nothing.
func (p *Placement) RemoveNode(id string) (*Placement, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("remove node %q: %w", id, err)
	}
	i, member := slices.BinarySearch(p.Members, id)
	if !member {
		if len(p.ShardsOf(id)) > 0 {
			return p.Clone(), nil
		}
		return nil, fmt.Errorf("remove node %q: not in the placement", id)
	}
	if remain := len(p.Members) - 1; remain < p.Replicas {
		if shards := p.ShardsOf(id); len(shards) > 0 {
			return nil, fmt.Errorf("remove node %q: no other node can take its replica of shard %d: %d nodes would remain for %d replicas of each shard",
				id, shards[0], remain, p.Replicas)
		}
		return nil, fmt.Errorf("remove node %q: %d nodes would remain for %d replicas of each shard", id, remain, p.Replicas)
	}
	q := p.Clone()
	q.Members = slices.Delete(q.Members, i, i+1)
	loads := q.loads()
	for s, rs := range q.Assignment {
		j := q.index(s, id)
		if j < 0 || rs[j].State == Leaving {
			continue
		}
		if rs[j].State == Initializing {
			q.Assignment[s] = slices.Delete(rs, j, j+1)
		} else {
			rs[j].State = Leaving
		}
		if !q.repair(s, loads) { // not with as many members as replicas, but said all the same
			return nil, fmt.Errorf("remove node %q: no other node can take its replica of shard %d: the remaining nodes (%s) hold it already",
				id, s, strings.Join(q.Members, ", "))
		}
	}
	q.rebalance()
	return q, nil
}

// MarkAvailable returns a placement where the initializing replica of
// shard on node, now caught up, is available, and where the hand-over it
// completes is done: if the shard then has more leaving replicas than
// initializing ones, the first leaving one is removed. A replica already
// available is left as it is. It is an error if node holds no replica of
// shard or a leaving one.
func (p *Placement) MarkAvailable(shard int, node string) (*Placement, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("mark shard %d on %q available: %w", shard, node, err)
	}
	if shard < 0 || shard >= p.Shards {
		return nil, fmt.Errorf("mark shard %d on %q available: no such shard: the shards are 0 to %d", shard, node, p.Shards-1)
	}
	i := p.index(shard, node)
	if i < 0 {
		return nil, fmt.Errorf("mark shard %d on %q available: the node holds no replica of the shard", shard, node)
	}
	q := p.Clone()
	rs := q.Assignment[shard]
	switch rs[i].State {
	case Available:
		return q, nil
	case Leaving:
		return nil, fmt.Errorf("mark shard %d on %q available: the replica is leaving", shard, node)
	}
	rs[i].State = Available
	if initializing, _, leaving := count(rs); leaving > initializing {
		first := slices.IndexFunc(rs, func(r Replica) bool { return r.State == Leaving })
		q.Assignment[shard] = slices.Delete(rs, first, first+1)
	}
	return q, nil
}

// count returns the number of replicas in each state.
func count(rs []Replica) (initializing, available, leaving int) {
	for _, r := range rs {
		switch r.State {
		case Initializing:
			initializing++
		case Available:
			available++
		case Leaving:
			leaving++
		}
	}
	return initializing, available, leaving
}

// index returns the position of node's replica in shard, or -1.
func (p *Placement) index(shard int, node string) int {
	return slices.IndexFunc(p.Assignment[shard], func(r Replica) bool { return r.Node == node })
}

// loads returns the load of every member.
func (p *Placement) loads() map[string]int {
	loads := make(map[string]int, len(p.Members))
	for _, m := range p.Members {
		loads[m] = 0
	}
	for _, rs := range p.Assignment {
		for _, r := range rs {
			if _, ok := loads[r.Node]; ok && r.State != Leaving {
				loads[r.Node]++
			}
		}
	}
	return loads
}

// repair gives shard, after one of its replicas became leaving or was
// dropped, Replicas replicas that are not leaving and a replacement for
// each leaving one: it takes back a leaving replica of a member, which is
// caught up, or else starts an initializing one on the least loaded member
// (the first by name among equals) without a replica of the shard. It
// keeps loads up to date, and returns false if no member could take a
// replica.
func (p *Placement) repair(shard int, loads map[string]int) bool {
	for {
		rs := p.Assignment[shard]
		initializing, available, leaving := count(rs)
		if initializing+available >= p.Replicas && leaving <= initializing {
			return true
		}
		if j := slices.IndexFunc(rs, func(r Replica) bool {
			_, member := loads[r.Node]
			return member && r.State == Leaving
		}); j >= 0 {
			rs[j].State = Available
			loads[rs[j].Node]++
			continue
		}
		to := ""
		for _, m := range p.Members {
			if p.index(shard, m) < 0 && (to == "" || loads[m] < loads[to]) {
				to = m
			}
		}
		if to == "" {
			return false
		}
		p.Assignment[shard] = append(rs, Replica{Node: to, State: Initializing})
		loads[to]++
	}
}

// move hands the replica at index i of shard over to node to. The
// replica at i, if available, becomes leaving; if initializing, it has
// not caught up and may not lead, and is dropped. A leaving replica of to
// is taken back (available: it is caught up); otherwise to gets an
// initializing replica.
func (p *Placement) move(shard, i int, to string) {
	rs := p.Assignment[shard]
	if rs[i].State == Initializing {
		rs = slices.Delete(rs, i, i+1)
	} else {
		rs[i].State = Leaving
	}
	if k := slices.IndexFunc(rs, func(r Replica) bool { return r.Node == to }); k >= 0 {
		rs[k].State = Available
	} else {
		rs = append(rs, Replica{Node: to, State: Initializing})
	}
	p.Assignment[shard] = rs
}

// rebalance moves replicas from the most loaded members to the least
// loaded ones until no two loads differ by more than one. A member with
// two replicas more than another holds at least two shards that the other
// holds no replica of, or only a leaving one, so a move is always
// possible; each narrows the spread, so it ends.
func (p *Placement) rebalance() {
	loads := p.loads()
	for {
		byLoad := slices.Clone(p.Members)
		slices.SortStableFunc(byLoad, func(a, b string) int { return loads[a] - loads[b] }) // members are sorted by name
		moved := false
	search:
		for d := len(byLoad) - 1; d > 0; d-- {
			donor := byLoad[d]
			for _, to := range byLoad[:d] {
				if loads[donor]-loads[to] < 2 {
					break
				}
				if s, i, ok := p.pickMove(donor, to); ok {
					p.move(s, i, to)
					loads[donor]--
					loads[to]++
					moved = true
					break search
				}
			}
		}
		if !moved {
			return
		}
	}
}

// Ranks of the moves pickMove chooses from, best first.
const (
	undoHandOver   = iota // to takes back its leaving replica; the donor's, initializing, goes
	swapRoles             // to takes back its leaving replica; the donor's, available, leaves
	handOver              // to starts a replica; the donor's, available, leaves
	moveCatchUp           // to starts a replica; the donor's, initializing, goes
	secondHandOver        // as handOver, in a shard with a hand-over in progress
	noMove
)

// pickMove chooses the replica of donor to move to node to, among the
// shards where donor's replica is not leaving and to holds none or a
// leaving one: by rank, then the lowest shard.
func (p *Placement) pickMove(donor, to string) (shard, index int, ok bool) {
	best := noMove
	for s, rs := range p.Assignment {
		i := p.index(s, donor)
		if i < 0 || rs[i].State == Leaving {
			continue
		}
		rank := noMove
		k := p.index(s, to)
		switch {
		case k >= 0 && rs[k].State != Leaving:
			continue
		case k >= 0 && rs[i].State == Initializing:
			rank = undoHandOver
		case k >= 0:
			rank = swapRoles
		case rs[i].State == Initializing:
			rank = moveCatchUp
		case !slices.ContainsFunc(rs, func(r Replica) bool { return r.State != Available }):
			rank = handOver
		default:
			rank = secondHandOver
		}
		if rank < best {
			best, shard, index, ok = rank, s, i, true
		}
	}
	return shard, index, ok
}
