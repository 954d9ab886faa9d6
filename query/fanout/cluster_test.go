package fanout_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// The tests run a cluster in the process: nodes with a real gRPC server on
// 127.0.0.1, each holding replicas of some shards in real storage DBs
// filled with the same points, and compare what the fan-out answers with
// what the DBs answer when read directly and merged.

const (
	dataStart = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
	stepMs    = int64(10_000)
)

var testPolicy = policy.Policy{Resolution: 10 * time.Second, Retention: 48 * time.Hour}

// testData is an hour of points at 10s: counters http_requests_total
// {service, route, code} and gauges request_duration_p99{service, route}
// with an exemplar on every point, from a fixed seed.
func testData(points int) []storage.Point {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []storage.Point
	for s := range 8 {
		service := fmt.Sprintf("svc-%d", s)
		for r := range 3 {
			route := fmt.Sprintf("/r%d", r)
			for _, code := range []string{"200", "500"} {
				ls := labels.FromStrings("__name__", "http_requests_total", "service", service, "route", route, "code", code)
				v := 0.0
				for i := range points {
					v += float64(rng.IntN(100))
					out = append(out, storage.Point{Labels: ls, Policy: testPolicy, T: dataStart + int64(i)*stepMs, V: v})
				}
			}
			ls := labels.FromStrings("__name__", "request_duration_p99", "service", service, "route", route)
			for i := range points {
				t := dataStart + int64(i)*stepMs
				v := rng.Float64()
				ex := &chunkenc.Exemplar{Value: v * 0.99, TimestampMs: t - 3000}
				for j := range ex.TraceID {
					ex.TraceID[j] = byte(rng.IntN(256))
				}
				out = append(out, storage.Point{Labels: ls, Policy: testPolicy, T: t, V: v, Exemplar: ex})
			}
		}
	}
	return out
}

// shardOf is the shard of a series in the tests' clusters.
func shardOf(ls labels.Labels, shards int) int32 { return int32(ls.Hash() % uint64(shards)) }

// selectHook is called by a node before each series a Select reads, with
// the number of series read before it.
type selectHook func(ctx context.Context, n int)

type testNode struct {
	name string
	addr string
	srv  *grpc.Server
	done chan struct{}

	mu    sync.Mutex
	dbs   map[int32]*storage.DB
	hooks map[int32]selectHook
	stop  sync.Once
}

// Stop stops the node's gRPC server at once: its connections close and its
// calls in flight fail. Safe to call twice, and from a hook.
func (n *testNode) Stop() {
	n.stop.Do(func() {
		n.srv.Stop()
		<-n.done
	})
}

// hook sets the hook of the node's Selects on shard.
func (n *testNode) hook(shard int32, h selectHook) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hooks[shard] = h
}

func (n *testNode) shard(shard int32) (fanout.Shard, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	db, ok := n.dbs[shard]
	if !ok {
		return nil, false
	}
	if h := n.hooks[shard]; h != nil {
		return hookedShard{DB: db, hook: h}, true
	}
	return db, true
}

type testCluster struct {
	tb       testing.TB
	shards   int
	nodes    []*testNode
	replicas [][]fanout.Endpoint // per shard, leader first
	dbs      [][]*storage.DB     // per shard, in the order of replicas
	pool     *fanout.Pool
}

type clusterConfig struct {
	nodes, shards, replicas int
	points                  []storage.Point
	batchBytes              int
}

// newCluster starts the nodes: shard s is held by nodes s, s+1, … (mod
// nodes), the first its leader.
func newCluster(tb testing.TB, cfg clusterConfig) *testCluster {
	tb.Helper()
	c := &testCluster{
		tb:       tb,
		shards:   cfg.shards,
		replicas: make([][]fanout.Endpoint, cfg.shards),
		dbs:      make([][]*storage.DB, cfg.shards),
		pool:     fanout.NewPool(),
	}
	tb.Cleanup(func() {
		c.pool.Close()
		for _, n := range c.nodes {
			n.Stop()
		}
		for _, dbs := range c.dbs {
			for _, db := range dbs {
				db.Close()
			}
		}
	})
	byShard := make([][]storage.Point, cfg.shards)
	for _, p := range cfg.points {
		s := shardOf(p.Labels, cfg.shards)
		byShard[s] = append(byShard[s], p)
	}
	for i := range cfg.nodes {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		n := &testNode{
			name:  fmt.Sprintf("n%d", i),
			addr:  lis.Addr().String(),
			srv:   grpc.NewServer(),
			done:  make(chan struct{}),
			dbs:   map[int32]*storage.DB{},
			hooks: map[int32]selectHook{},
		}
		srv, err := fanout.NewServer(n.shard, fanout.ServerOptions{BatchBytes: cfg.batchBytes})
		if err != nil {
			tb.Fatal(err)
		}
		srv.Register(n.srv)
		go func() {
			defer close(n.done)
			n.srv.Serve(lis)
		}()
		c.nodes = append(c.nodes, n)
	}
	for s := range int32(cfg.shards) {
		for r := range cfg.replicas {
			n := c.nodes[(int(s)+r)%cfg.nodes]
			db, err := storage.Open(tb.TempDir(), storage.Options{NoSync: true, NoBackground: true})
			if err != nil {
				tb.Fatal(err)
			}
			c.dbs[s] = append(c.dbs[s], db)
			if _, err := db.Append(byShard[s], nil); err != nil {
				tb.Fatal(err)
			}
			n.mu.Lock()
			n.dbs[s] = db
			n.mu.Unlock()
			c.replicas[s] = append(c.replicas[s], fanout.Endpoint{Node: n.name, Addr: n.addr})
		}
	}
	return c
}

// queryable returns a fan-out Queryable over the cluster, as seen from no
// node of it; mod may change its options.
func (c *testCluster) queryable(mod func(*fanout.Options)) *fanout.Queryable {
	c.tb.Helper()
	opts := fanout.Options{
		Shards:   c.shards,
		Replicas: func(shard int32) []fanout.Endpoint { return c.replicas[shard] },
		Pool:     c.pool,
	}
	if mod != nil {
		mod(&opts)
	}
	q, err := fanout.New(opts)
	if err != nil {
		c.tb.Fatal(err)
	}
	return q
}

// local makes the Queryable read node's replicas in-process.
func (c *testCluster) local(node int) func(*fanout.Options) {
	n := c.nodes[node]
	return func(o *fanout.Options) {
		o.Node = n.name
		o.Local = n.shard
	}
}

// reference reads the first replica of each of the shards directly, all of
// them if shards is empty.
func (c *testCluster) reference(shards ...int32) refQueryable {
	if len(shards) == 0 {
		for s := range int32(c.shards) {
			shards = append(shards, s)
		}
	}
	var ref refQueryable
	for _, s := range shards {
		ref = append(ref, c.dbs[s][0])
	}
	return ref
}

// refQueryable merges DBs read directly.
type refQueryable []*storage.DB

func (r refQueryable) Querier(mint, maxt int64) (promstorage.Querier, error) {
	var qs []promstorage.Querier
	for _, db := range r {
		q, err := db.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return promstorage.NewMergeQuerier(qs, nil, promstorage.ChainedSeriesMerge), nil
}

func (r refQueryable) exemplars(start, end int64, ms ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	var out []exemplar.QueryResult
	for _, db := range r {
		eq, err := db.ExemplarQuerier(context.Background())
		if err != nil {
			return nil, err
		}
		res, err := eq.Select(start, end, ms...)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	slices.SortFunc(out, func(a, b exemplar.QueryResult) int { return labels.Compare(a.SeriesLabels, b.SeriesLabels) })
	return out, nil
}

// hookedShard calls a hook before each series its Selects read.
type hookedShard struct {
	*storage.DB
	hook selectHook
}

func (h hookedShard) Querier(mint, maxt int64) (promstorage.Querier, error) {
	q, err := h.DB.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return hookedQuerier{Querier: q, hook: h.hook}, nil
}

type hookedQuerier struct {
	promstorage.Querier
	hook selectHook
}

func (q hookedQuerier) Select(ctx context.Context, sortSeries bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	return &hookedSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), ctx: ctx, hook: q.hook}
}

type hookedSet struct {
	promstorage.SeriesSet
	ctx  context.Context
	hook selectHook
	n    int
}

func (s *hookedSet) Next() bool {
	s.hook(s.ctx, s.n)
	s.n++
	return s.SeriesSet.Next()
}
