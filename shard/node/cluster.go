package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/shard/leader"
	"github.com/tumblemetrics/tumble/shard/placement"
)

// cluster is what a node of a cluster adds to a lone one: its etcd
// session and registration, the replicas of the shards the placement gives
// it (each with its leadership), the hand-over of the replicas it takes
// over, and the view of the cluster that routes queries to each shard's
// leader first.
type cluster struct {
	n        *Node
	opts     Cluster
	log      *slog.Logger
	cli      *clientv3.Client
	sessions *leader.Sessions
	store    *placement.Store
	observer *leader.Observer
	pool     *fanout.Pool
	query    *fanout.Queryable

	placed atomic.Pointer[placement.Placement]
	nodes  atomic.Pointer[map[string]placement.Node]

	mu     sync.Mutex
	shards map[int32]*shardReplica
}

func newCluster(n *Node) (*cluster, error) {
	opts, log := *n.opts.Cluster, n.log
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: opts.Etcd, DialTimeout: 2 * time.Second,
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		Logger: zap.NewNop(),
		// Reconnect soon after etcd is back: the node's leases depend on it.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second}})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	ttl := opts.SessionTTL
	c := &cluster{
		n: n, opts: opts, log: log, cli: cli,
		// The margin covers clock drift and a write in flight.
		sessions: leader.NewSessions(cli, ttl, ttl/4, nil),
		store:    placement.NewStore(cli, opts.Prefix, placement.WithLogger(log)),
		observer: leader.NewObserver(cli, opts.Prefix, log),
		pool:     fanout.NewPool(),
		shards:   map[int32]*shardReplica{},
	}
	c.nodes.Store(&map[string]placement.Node{})
	c.query, err = fanout.New(fanout.Options{
		Shards: n.opts.Shards, Replicas: c.replicasOf, Pool: c.pool,
		Node: opts.Node, Local: n.Local, Logger: log,
	})
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// close releases the client side; run must have returned.
func (c *cluster) close() {
	c.sessions.Close()
	c.pool.Close()
	c.cli.Close()
}

// self is how the node registers itself.
func (c *cluster) self() placement.Node {
	return placement.Node{ID: c.opts.Node, GRPCAddr: c.opts.GRPCAddr, HTTPAddr: c.opts.HTTPAddr}
}

// run registers the node, follows the placement, the registered nodes and
// the shards' leaderships, and runs the replicas the node holds, until
// ctx ends; then it stops them (their leaderships resign) and ends the
// session. An error of a replica goes to fail.
func (c *cluster) run(ctx context.Context, fail func(error)) {
	var wg sync.WaitGroup
	wg.Go(func() { c.observer.Run(ctx) })
	wg.Go(func() { c.register(ctx) })
	wg.Go(func() {
		for nodes := range c.store.WatchNodes(ctx) {
			c.nodes.Store(&nodes)
		}
	})
	wg.Go(func() { c.handOver(ctx) })
	placements := c.store.Watch(ctx)
	c.log.Info("waiting for the cluster's placement", "key", c.store.Key())
	for p := range placements {
		c.apply(ctx, p, fail)
	}
	wg.Wait()
	for _, r := range c.list() {
		c.mu.Lock()
		delete(c.shards, r.id)
		c.mu.Unlock()
		if err := r.stop(); err != nil {
			c.log.Error("close the shard", "shard", r.id, "err", err)
		}
	}
	c.sessions.Close()
}

// register keeps the node registered under its live session.
func (c *cluster) register(ctx context.Context) {
	self := c.self()
	for ctx.Err() == nil {
		sess, err := c.sessions.Get(ctx)
		if err != nil {
			return // ctx ended
		}
		err = c.store.Register(ctx, sess.ID(), self)
		switch {
		case errors.Is(err, placement.ErrNodeTaken):
			// A previous run of this node died; its lease ends soon.
			c.log.Info("node ID still held by a previous session; waiting for its lease to end", "node", self.ID)
			sleep(ctx, time.Second)
			continue
		case err != nil:
			c.log.Warn("register the node", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		c.log.Info("node registered", "node", self.ID, "grpc", self.GRPCAddr, "http", self.HTTPAddr, "lease", fmt.Sprintf("%x", sess.ID()))
		select {
		case <-ctx.Done():
		case <-sess.Done():
			c.log.Warn("etcd session lost; registering again", "node", self.ID)
		}
	}
}

// apply starts the replicas p gives the node and stops those it no longer
// gives.
func (c *cluster) apply(ctx context.Context, p *placement.Placement, fail func(error)) {
	if p.Shards != c.n.opts.Shards {
		fail(fmt.Errorf("the placement has %d shards, the configuration %d", p.Shards, c.n.opts.Shards))
		return
	}
	c.placed.Store(p)
	node := c.opts.Node
	held := map[int32]placement.State{}
	for _, s := range p.ShardsOf(node) {
		r, _ := p.Replica(s, node)
		held[int32(s)] = r.State
	}
	// Only this goroutine changes the set: open and stop outside the
	// lock, which queries take.
	for _, cs := range c.list() {
		state, ok := held[cs.id]
		if ok {
			if old := *cs.state.Load(); old != state {
				c.log.Info("replica state changed", "shard", cs.id, "from", old, "to", state)
				cs.state.Store(&state)
			}
			delete(held, cs.id)
			continue
		}
		c.log.Info("shard no longer placed here; stopping its replica", "shard", cs.id)
		c.mu.Lock()
		delete(c.shards, cs.id)
		c.mu.Unlock()
		if err := cs.stop(); err != nil {
			c.log.Error("close the shard", "shard", cs.id, "err", err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(held)) {
		r, err := c.n.openReplica(id, held[id], c)
		if err != nil {
			fail(fmt.Errorf("open shard %d: %w", id, err))
			return
		}
		r.start(ctx, c.n, c.sessions, fail)
		c.mu.Lock()
		c.shards[id] = r
		c.mu.Unlock()
	}
}

// handOver marks the node's initializing replicas available once they have
// caught up with their shard's output: from then on they may lead, and
// the replica they replace leaves.
func (c *cluster) handOver(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.observer.Synced() {
			continue
		}
		for _, cs := range c.list() {
			if *cs.state.Load() != placement.Initializing {
				continue
			}
			from, emitted := cs.retained.State()
			st := cs.rep.Published()
			if st.Records == 0 && st.Offset == 0 {
				continue // not read yet
			}
			mark := c.observer.Shard(cs.id).Mark.Watermark
			r := leader.Replica{Eligible: true, Emitted: emitted, RetainedFrom: from, Lag: st.Lag}
			if err := leader.CanLead(r, mark, c.opts.MaxLag); err != nil {
				continue
			}
			node := c.opts.Node
			if _, err := c.store.Update(ctx, func(p *placement.Placement) (*placement.Placement, error) {
				return p.MarkAvailable(int(cs.id), node)
			}); err != nil {
				c.log.Warn("mark the replica available", "shard", cs.id, "err", err)
				continue
			}
			c.log.Info("replica caught up: available", "shard", cs.id, "emitted", emitted, "watermark", mark)
		}
	}
}

// list returns the node's replicas by shard.
func (c *cluster) list() []*shardReplica {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := slices.Sorted(maps.Keys(c.shards))
	out := make([]*shardReplica, len(ids))
	for i, id := range ids {
		out[i] = c.shards[id]
	}
	return out
}

// replicasOf returns the replicas of shard that queries may read, the
// leader first: those not catching up in a hand-over, on live nodes (this
// node is live to itself).
func (c *cluster) replicasOf(shard int32) []fanout.Endpoint {
	p := c.placed.Load()
	if p == nil || int(shard) >= len(p.Assignment) {
		return nil
	}
	nodes := *c.nodes.Load()
	self := c.self()
	lead := c.observer.Shard(shard).Leader
	rs := slices.Clone(p.Assignment[shard])
	slices.SortStableFunc(rs, func(a, b placement.Replica) int {
		switch {
		case a.Node == b.Node:
			return 0
		case a.Node == lead:
			return -1
		case b.Node == lead:
			return 1
		}
		return 0
	})
	var out []fanout.Endpoint
	for _, r := range rs {
		if r.State == placement.Initializing {
			continue
		}
		if r.Node == self.ID {
			out = append(out, fanout.Endpoint{Node: self.ID, Addr: self.GRPCAddr})
		} else if n, ok := nodes[r.Node]; ok {
			out = append(out, fanout.Endpoint{Node: n.ID, Addr: n.GRPCAddr})
		}
	}
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
