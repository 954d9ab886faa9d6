package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/router"
)

// Node is one tumble node: a router, the replicas of the shards it holds
// (every shard alone; those the placement gives it in a cluster), each
// with its storage and output, and the view over the shards that queries
// read. New opens it, Run runs it, Close closes it.
type Node struct {
	opts    Options
	log     *slog.Logger
	router  *router.Router
	side    *sidePublisher
	metrics *metrics
	// alone holds every shard's replica, by shard, when the node runs
	// alone; cluster is nil then.
	alone   []*shardReplica
	cluster *cluster
	query   Queryable
	ready   chan struct{}
}

// Queryable reads series and exemplars: what the query API needs.
type Queryable interface {
	promstorage.Queryable
	promstorage.ExemplarQueryable
}

// New opens a node: alone, the storage and replica of every shard; in a
// cluster, its etcd client (Run opens the replicas the placement gives
// it).
func New(opts Options) (*Node, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("node options: %w", err)
	}
	if opts.EventTime.IdleTimeout == 0 {
		opts.EventTime.IdleTimeout = router.DefaultIdleTimeout
	}
	if opts.EventTime.SkewAllowance == 0 {
		opts.EventTime.SkewAllowance = router.DefaultSkewAllowance
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	limits := sample.DefaultLimits()
	limits.MaxFuture = opts.EventTime.SkewAllowance
	rt, err := router.New(opts.Rules, opts.Shards, limits)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: opts.Logger, router: rt, ready: make(chan struct{})}
	n.metrics = newMetrics(opts.Registerer, n)
	if n.side, err = newSidePublisher(opts, n.metrics); err != nil {
		return nil, fmt.Errorf("candidates: kafka client: %w", err)
	}
	if opts.Cluster != nil {
		if n.cluster, err = newCluster(n); err != nil {
			n.Close()
			return nil, err
		}
		n.query = n.cluster.query
		return n, nil
	}
	for i := range int32(opts.Shards) {
		r, err := n.openReplica(i, "", nil)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.alone = append(n.alone, r)
	}
	n.query = shardsQueryable(n.alone)
	return n, nil
}

// Queryable returns what reads every shard: alone, the node's storages;
// in a cluster, one live replica of each shard, this node's own where it
// holds one.
func (n *Node) Queryable() Queryable { return n.query }

// Local returns the node's replica of shard for queries, when it holds one
// that queries may read: the cluster's query service serves those.
func (n *Node) Local(shard int32) (fanout.Shard, bool) {
	for _, r := range n.replicas() {
		if r.id == shard && r.serving() {
			return r.db, true
		}
	}
	return nil, false
}

// replicas returns the replicas the node holds, by shard.
func (n *Node) replicas() []*shardReplica {
	if n.cluster == nil {
		return n.alone
	}
	return n.cluster.list()
}

// Ready is closed once Run has the topics it needs and has started the
// router and the replicas.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Run ensures the topics exist and runs the router and the replicas (in a
// cluster: the node's membership, which runs those the placement gives
// it) until ctx ends or one of them fails; then it stops them. Run is
// called once.
func (n *Node) Run(ctx context.Context) error {
	if err := n.ensureTopics(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }
	var wg sync.WaitGroup
	if n.cluster != nil {
		wg.Go(func() { n.cluster.run(ctx, fail) })
	}
	for _, r := range n.alone {
		r.start(ctx, n, nil, fail)
	}
	k := n.opts.Kafka
	wg.Go(func() {
		err := n.router.Run(ctx, router.Config{
			RawTopics: k.RawTopics, Group: k.RouterGroup, ShardTopic: k.ShardTopic, DeadLetterTopic: k.DeadLetterTopic,
			ID: n.opts.ID, Logger: n.log, OnBatch: n.metrics.routerBatch,
			IdleTimeout: n.opts.EventTime.IdleTimeout,
			LeaveOnStop: n.leavingForGood,
		}, k.Client...)
		if err != nil {
			fail(err)
		}
	})
	close(n.ready)
	<-ctx.Done()
	wg.Wait()
	for _, r := range n.alone {
		if r.cancel != nil {
			r.cancel()
			<-r.done
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close closes what New opened: the storages (whose WAL holds every
// flushed window), the retained windows, the Kafka and etcd clients. Run
// must have returned.
func (n *Node) Close() error {
	var errs []error
	if n.cluster != nil {
		n.cluster.close()
	}
	for _, r := range n.alone {
		errs = append(errs, r.close())
	}
	if n.side != nil {
		n.side.close()
	}
	return errors.Join(errs...)
}

// leavingForGood reports whether the node stops for good: it is in a
// cluster whose placement no longer has it (tumblectl placement
// remove-node). Its router then says so to the shards, which stop waiting
// for its watermark.
func (n *Node) leavingForGood() bool {
	if n.cluster == nil {
		return false
	}
	p := n.cluster.placed.Load()
	node := n.cluster.opts.Node
	return p != nil && !slices.Contains(p.Members, node) && len(p.ShardsOf(node)) == 0
}
