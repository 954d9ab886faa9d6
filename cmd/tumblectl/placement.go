package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tumblemetrics/tumble/shard/placement"
)

// etcdFlags are the flags of every placement command: where etcd is and
// how long to wait for it.
type etcdFlags struct {
	endpoints   string
	prefix      string
	dialTimeout time.Duration
	timeout     time.Duration
}

func addEtcdFlags(fs *flag.FlagSet) *etcdFlags {
	f := &etcdFlags{}
	fs.StringVar(&f.endpoints, "etcd", "127.0.0.1:2379", "etcd endpoints, HOST:PORT or URLs, comma-separated")
	fs.StringVar(&f.prefix, "prefix", placement.DefaultPrefix, "prefix of the cluster's etcd keys")
	fs.DurationVar(&f.dialTimeout, "dial-timeout", 5*time.Second, "how long to wait for etcd's first answer")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long the whole command may take")
	return f
}

// connect returns a store on etcd once etcd has answered, and a function
// that closes the client.
func (f *etcdFlags) connect(ctx context.Context) (*placement.Store, func(), error) {
	var endpoints []string
	for e := range strings.SplitSeq(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return nil, nil, errors.New("--etcd: no endpoint given")
	}
	if f.dialTimeout <= 0 {
		return nil, nil, fmt.Errorf("--dial-timeout %v: must be positive", f.dialTimeout)
	}
	where := strings.Join(endpoints, ",")
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: f.dialTimeout,
		Logger:      zap.NewNop(), // its retries would flood stderr; the error below says what failed
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to etcd at %s: %w", where, err)
	}
	st := placement.NewStore(cli, f.prefix)
	pctx, cancel := context.WithTimeout(ctx, f.dialTimeout)
	_, err = cli.Get(pctx, st.Key(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		cli.Close()
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("etcd at %s did not answer within %v (--dial-timeout): is it running, and is --etcd right? %w", where, f.dialTimeout, err)
		}
		return nil, nil, fmt.Errorf("reach etcd at %s: %w", where, err)
	}
	return st, func() { cli.Close() }, nil
}

// commandContext is the context of one placement command: it ends on an
// interrupt or after --timeout.
func (f *etcdFlags) commandContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return ctx, func() { cancel(); stop() }
}

// placementInitCmd creates the placement of a new cluster.
func placementInitCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("placement init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ef := addEtcdFlags(fs)
	shards := fs.Int("shards", 0, "number of shards, the partitions of the shard topic; fixed for the life of the cluster (required)")
	replicas := fs.Int("replicas", 2, "replicas of each shard, on distinct nodes")
	nodeList := fs.String("nodes", "", "IDs of the nodes, comma-separated (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 0 {
		return exitError, fmt.Errorf("placement init: unexpected argument %q", pos[0])
	}
	if *shards == 0 {
		return exitError, errors.New("placement init: --shards is required")
	}
	var nodes []string
	for n := range strings.SplitSeq(*nodeList, ",") {
		if n = strings.TrimSpace(n); n != "" {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return exitError, errors.New("placement init: --nodes is required")
	}
	p, err := placement.New(*shards, *replicas, nodes)
	if err != nil {
		return exitError, fmt.Errorf("placement init: %w", err)
	}
	if *replicas == 1 {
		fmt.Fprintln(stderr, "placement init: warning: one replica per shard: a shard is down, with no replica to take over, whenever its node is")
	}
	ctx, cancel := ef.commandContext()
	defer cancel()
	st, closeStore, err := ef.connect(ctx)
	if err != nil {
		return exitError, fmt.Errorf("placement init: %w", err)
	}
	defer closeStore()
	if err := st.Create(ctx, p); errors.Is(err, placement.ErrExists) {
		return exitError, fmt.Errorf("placement init: a placement exists already at %s: change it with add-node and remove-node", st.Key())
	} else if err != nil {
		return exitError, fmt.Errorf("placement init: %w", err)
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "created the placement at %s: %d shards, %d replicas each, on %d nodes\n", st.Key(), p.Shards, p.Replicas, len(p.Members))
	writeShards(w, p, nil)
	if err := w.Flush(); err != nil {
		return exitError, fmt.Errorf("placement init: write: %w", err)
	}
	return exitOK, nil
}

// placementShow is what placement show prints as JSON.
type placementShow struct {
	Key        string               `json:"key"`
	Revision   int64                `json:"revision"`
	Placement  *placement.Placement `json:"placement"`
	Registered []placement.Node     `json:"registered"` // sorted by ID
}

// placementShowCmd prints the placement and which of its nodes are live.
func placementShowCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("placement show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ef := addEtcdFlags(fs)
	asJSON := fs.Bool("json", false, "write the placement and the registered nodes as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 0 {
		return exitError, fmt.Errorf("placement show: unexpected argument %q", pos[0])
	}
	ctx, cancel := ef.commandContext()
	defer cancel()
	st, closeStore, err := ef.connect(ctx)
	if err != nil {
		return exitError, fmt.Errorf("placement show: %w", err)
	}
	defer closeStore()
	p, rev, err := st.Get(ctx)
	if errors.Is(err, placement.ErrNoPlacement) {
		return exitError, fmt.Errorf("placement show: no placement at %s: create one with placement init", st.Key())
	} else if err != nil {
		return exitError, fmt.Errorf("placement show: %w", err)
	}
	live, err := st.Nodes(ctx)
	if err != nil {
		return exitError, fmt.Errorf("placement show: %w", err)
	}
	w := bufio.NewWriter(stdout)
	if *asJSON {
		out := placementShow{Key: st.Key(), Revision: rev, Placement: p, Registered: []placement.Node{}}
		for _, id := range sortedKeys(live) {
			out.Registered = append(out.Registered, live[id])
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return exitError, fmt.Errorf("placement show: encode: %w", err)
		}
		w.Write(append(b, '\n'))
	} else {
		fmt.Fprintf(w, "placement %s at revision %d: %d shards, %d replicas each\n", st.Key(), rev, p.Shards, p.Replicas)
		writeShards(w, p, live)
		fmt.Fprintln(w)
		writeNodes(w, p, live)
		for _, warning := range shardWarnings(p, live) {
			fmt.Fprintf(w, "warning: %s\n", warning)
		}
	}
	if err := w.Flush(); err != nil {
		return exitError, fmt.Errorf("placement show: write: %w", err)
	}
	return exitOK, nil
}

// writeShards writes a table of the shards, their replicas and, when live
// is not nil, how many of those run on registered nodes.
func writeShards(w io.Writer, p *placement.Placement, live map[string]placement.Node) {
	t := &table{right: []bool{true, false}}
	header := []string{"SHARD", "REPLICAS"}
	if live != nil {
		t.right = append(t.right, true)
		header = append(header, "LIVE")
	}
	t.add(header...)
	for s, rs := range p.Assignment {
		cells := make([]string, len(rs))
		registered := 0
		for i, r := range rs {
			cells[i] = r.Node + " " + string(r.State)
			if _, ok := live[r.Node]; ok {
				registered++
			}
		}
		row := []string{strconv.Itoa(s), strings.Join(cells, ", ")}
		if live != nil {
			row = append(row, fmt.Sprintf("%d/%d", registered, len(rs)))
		}
		t.add(row...)
	}
	t.write(w, "")
}

// writeNodes writes a table of the nodes of the placement and the
// registered ones: whether each is a member and live, its replicas by
// state, and its addresses.
func writeNodes(w io.Writer, p *placement.Placement, live map[string]placement.Node) {
	ids := p.Nodes()
	for id := range live {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	t := &table{right: []bool{false, false, false, true, true, true, false, false}}
	t.add("NODE", "MEMBER", "LIVE", "AVAILABLE", "INITIALIZING", "LEAVING", "GRPC", "HTTP")
	for _, id := range ids {
		var counts [3]int
		for _, s := range p.ShardsOf(id) {
			r, _ := p.Replica(s, id)
			switch r.State {
			case placement.Available:
				counts[0]++
			case placement.Initializing:
				counts[1]++
			case placement.Leaving:
				counts[2]++
			}
		}
		member := "no"
		switch {
		case slices.Contains(p.Members, id):
			member = "yes"
		case counts[2] > 0:
			member = "removed"
		}
		n, ok := live[id]
		t.add(id, member, yesNo(ok), strconv.Itoa(counts[0]), strconv.Itoa(counts[1]), strconv.Itoa(counts[2]),
			orDash(n.GRPCAddr), orDash(n.HTTPAddr))
	}
	t.write(w, "")
}

// shardWarnings names the shards that no live replica may lead, and the
// registered nodes the placement does not know.
func shardWarnings(p *placement.Placement, live map[string]placement.Node) []string {
	var warnings []string
	var leaderless []string
	for s, rs := range p.Assignment {
		if !slices.ContainsFunc(rs, func(r placement.Replica) bool {
			_, ok := live[r.Node]
			return ok && r.State != placement.Initializing
		}) {
			leaderless = append(leaderless, strconv.Itoa(s))
		}
	}
	switch len(leaderless) {
	case 0:
	case 1:
		warnings = append(warnings, fmt.Sprintf("shard %s: no live replica may lead (none caught up on a registered node)", leaderless[0]))
	default:
		warnings = append(warnings, fmt.Sprintf("shards %s: no live replica may lead (none caught up on a registered node)", strings.Join(leaderless, ", ")))
	}
	for _, id := range sortedKeys(live) {
		if len(p.ShardsOf(id)) == 0 && !slices.Contains(p.Members, id) {
			warnings = append(warnings, fmt.Sprintf("node %s is registered but not in the placement: add it with placement add-node %s", id, id))
		}
	}
	return warnings
}

// placementAddNodeCmd adds a node and hands shards over to it.
func placementAddNodeCmd(args []string, stdout, stderr io.Writer) (int, error) {
	return placementChange("add-node", args, stdout, stderr, 1, "NODE",
		func(pos []string) (func(*placement.Placement) (*placement.Placement, error), error) {
			return func(p *placement.Placement) (*placement.Placement, error) { return p.AddNode(pos[0]) }, nil
		})
}

// placementRemoveNodeCmd hands a node's shards over to the others.
func placementRemoveNodeCmd(args []string, stdout, stderr io.Writer) (int, error) {
	return placementChange("remove-node", args, stdout, stderr, 1, "NODE",
		func(pos []string) (func(*placement.Placement) (*placement.Placement, error), error) {
			return func(p *placement.Placement) (*placement.Placement, error) { return p.RemoveNode(pos[0]) }, nil
		})
}

// placementMarkAvailableCmd completes a hand-over by hand.
func placementMarkAvailableCmd(args []string, stdout, stderr io.Writer) (int, error) {
	return placementChange("mark-available", args, stdout, stderr, 2, "SHARD NODE",
		func(pos []string) (func(*placement.Placement) (*placement.Placement, error), error) {
			shard, err := strconv.Atoi(pos[0])
			if err != nil {
				return nil, fmt.Errorf("shard %q: not a number", pos[0])
			}
			return func(p *placement.Placement) (*placement.Placement, error) { return p.MarkAvailable(shard, pos[1]) }, nil
		})
}

// placementChange runs a command that changes the placement: it parses
// the etcd flags and want positional arguments (named by usage), makes the
// change with parse's function, and prints what changed.
func placementChange(name string, args []string, stdout, stderr io.Writer, want int, usage string,
	parse func(pos []string) (func(*placement.Placement) (*placement.Placement, error), error)) (int, error) {
	cmd := "placement " + name
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ef := addEtcdFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != want {
		return exitError, fmt.Errorf("%s: want %s, got %d arguments", cmd, usage, len(pos))
	}
	change, err := parse(pos)
	if err != nil {
		return exitError, fmt.Errorf("%s: %w", cmd, err)
	}
	ctx, cancel := ef.commandContext()
	defer cancel()
	st, closeStore, err := ef.connect(ctx)
	if err != nil {
		return exitError, fmt.Errorf("%s: %w", cmd, err)
	}
	defer closeStore()
	var before *placement.Placement
	after, err := st.Update(ctx, func(p *placement.Placement) (*placement.Placement, error) {
		before = p
		return change(p)
	})
	if errors.Is(err, placement.ErrNoPlacement) {
		return exitError, fmt.Errorf("%s: no placement at %s: create one with placement init", cmd, st.Key())
	} else if err != nil {
		return exitError, fmt.Errorf("%s: %w", cmd, err)
	}
	w := bufio.NewWriter(stdout)
	changes := describeChanges(before, after)
	if len(changes) == 0 {
		fmt.Fprintln(w, "no change")
	}
	for _, c := range changes {
		fmt.Fprintln(w, c)
	}
	if slices.ContainsFunc(after.Assignment, func(rs []placement.Replica) bool {
		return slices.ContainsFunc(rs, func(r placement.Replica) bool { return r.State == placement.Initializing })
	}) && name != "mark-available" {
		fmt.Fprintln(w, "an initializing replica becomes available, and the leaving one it replaces goes, once it has caught up: its node marks it")
	}
	if err := w.Flush(); err != nil {
		return exitError, fmt.Errorf("%s: write: %w", cmd, err)
	}
	return exitOK, nil
}

// describeChanges lists, a line each, the members that came or went and
// the shards whose replicas changed between two placements.
func describeChanges(before, after *placement.Placement) []string {
	var lines []string
	for _, m := range after.Members {
		if !slices.Contains(before.Members, m) {
			lines = append(lines, fmt.Sprintf("node %s joins", m))
		}
	}
	for _, m := range before.Members {
		if !slices.Contains(after.Members, m) {
			lines = append(lines, fmt.Sprintf("node %s leaves", m))
		}
	}
	for s := range after.Assignment {
		var parts []string
		for _, r := range after.Assignment[s] {
			old, ok := before.Replica(s, r.Node)
			switch {
			case !ok:
				parts = append(parts, fmt.Sprintf("%s %s (new)", r.Node, r.State))
			case old.State != r.State:
				parts = append(parts, fmt.Sprintf("%s %s → %s", r.Node, old.State, r.State))
			}
		}
		for _, r := range before.Assignment[s] {
			if _, ok := after.Replica(s, r.Node); !ok {
				parts = append(parts, fmt.Sprintf("%s removed", r.Node))
			}
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("shard %d: %s", s, strings.Join(parts, ", ")))
		}
	}
	return lines
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
