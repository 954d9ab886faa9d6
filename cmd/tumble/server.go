package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/query/promapi"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/leader"
	"github.com/tumblemetrics/tumble/shard/placement"
	"github.com/tumblemetrics/tumble/shard/replica"
	"github.com/tumblemetrics/tumble/shard/router"
	"github.com/tumblemetrics/tumble/storage"
)

// server is one tumble node: a router, replicas of shards, each shard with
// its own storage, and the HTTP API over all of them. Alone, the node holds
// every shard; in a cluster, those the placement gives it, and its API
// reads the others from the nodes that hold them.
type server struct {
	cfg    Config
	log    *slog.Logger
	rules  *rules.RuleSet
	router *router.Router
	// dbs and replicas are every shard's, when the node runs alone.
	dbs      []*storage.DB
	replicas []*replica.Replica
	// outputs emit each shard's windows and trace selections.
	outputs []*leader.Solo
	// candidates writes the candidates of trace selection, and the late
	// samples if asked.
	candidates *sidePublisher
	// cluster is the node's part in a cluster, nil when it runs alone.
	cluster      *clusterNode
	reg          *prometheus.Registry
	metrics      *metrics
	listener     net.Listener
	grpcListener net.Listener
	ready        chan struct{}
}

// localShard is a replica of a shard the node holds.
type localShard struct {
	id  int32
	rep *replica.Replica
	db  *storage.DB
	// lead and state are the replica's leadership and placement state in
	// a cluster: nil and "" when the node runs alone.
	lead  *leader.Shard
	state placement.State
}

// localShards returns the replicas the node holds, by shard.
func (s *server) localShards() []localShard {
	if s.cluster == nil {
		out := make([]localShard, len(s.replicas))
		for i := range s.replicas {
			out[i] = localShard{id: int32(i), rep: s.replicas[i], db: s.dbs[i]}
		}
		return out
	}
	var out []localShard
	for _, cs := range s.cluster.list() {
		out = append(out, localShard{id: cs.id, rep: cs.rep, db: cs.db, lead: cs.lead, state: *cs.state.Load()})
	}
	return out
}

func newServer(cfg Config, log *slog.Logger) (*server, error) {
	rs, err := rules.ParseFile(cfg.Rules)
	if err != nil {
		return nil, err
	}
	limits := sample.DefaultLimits()
	limits.MaxFuture = cfg.EventTime.SkewAllowance
	rt, err := router.New(rs, cfg.Shards, limits)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, rules: rs, router: rt, reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	s.metrics = newMetrics(s.reg, s)
	if s.candidates, err = newSidePublisher(cfg, s.kafkaOpts(), log, s.metrics); err != nil {
		return nil, fmt.Errorf("candidates: kafka client: %w", err)
	}
	if cfg.Cluster.enabled() {
		if s.cluster, err = newClusterNode(cfg, log, s.metrics, s.kafkaOpts(), s.candidates); err != nil {
			s.close()
			return nil, err
		}
		return s, nil
	}
	for i := range cfg.Shards {
		dir := filepath.Join(cfg.DataDir, fmt.Sprintf("shard-%d", i))
		db, err := storage.Open(filepath.Join(dir, "tsdb"), storage.Options{Logger: log.With("shard", i)})
		if err != nil {
			s.close()
			return nil, err
		}
		s.dbs = append(s.dbs, db)
		log.Info("shard storage opened", "shard", i, "startup", db.Startup().String())
		var retained *leader.Retained
		r, err := replica.New(replica.Options{Shard: int32(i), Shards: int32(cfg.Shards), DB: db, Dir: filepath.Join(dir, "checkpoints"),
			Aggregator: aggregator.Options{Lateness: cfg.Lateness, OnLate: s.candidates.lateHook(int32(i), nil)}, Logger: log, OnFlush: s.metrics.onFlush(i),
			OnWindows:    func(emitted int64, ws []windowlog.Window) { retained.Add(emitted, ws) },
			OnCandidates: s.candidates.publish,
		})
		if err != nil {
			s.close()
			return nil, err
		}
		s.replicas = append(s.replicas, r)
		retained = leader.OpenRetained(leader.RetainedPath(dir), r.Stats().Watermark, log.With("shard", i))
		em, err := windowlog.NewEmitter(cfg.Kafka.WindowTopic, cfg.Kafka.SelectionTopic, int32(i), s.kafkaOpts()...)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("shard %d: window log: %w", i, err)
		}
		s.outputs = append(s.outputs, &leader.Solo{Emitter: em, Windows: retained, Node: s.cfg.routerID(), Logger: log.With("shard", i)})
	}
	return s, nil
}

// kafkaOpts are the options of every Kafka client of the node.
func (s *server) kafkaOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(s.cfg.Kafka.Brokers...)}
}

// close closes the storages; the goroutines must have stopped.
func (s *server) close() error {
	if s.cluster != nil {
		s.cluster.close()
	}
	var errs []error
	for _, o := range s.outputs {
		o.Emitter.Close()
		errs = append(errs, o.Windows.Save())
	}
	if s.candidates != nil {
		s.candidates.close()
	}
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// ensureTopics creates the topics tumble needs that do not exist.
func (s *server) ensureTopics(ctx context.Context, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	n := int32(s.cfg.Shards)
	want := map[string]int32{s.cfg.Kafka.ShardTopic: n, s.cfg.Kafka.DeadLetterTopic: 1, s.cfg.Kafka.WindowTopic: n, s.cfg.Kafka.SelectionTopic: n}
	for _, t := range s.cfg.Kafka.RawTopics {
		want[t] = int32(s.cfg.Shards)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for name, parts := range want {
		if d, ok := td[name]; ok {
			if name != s.cfg.Kafka.DeadLetterTopic && !slices.Contains(s.cfg.Kafka.RawTopics, name) && len(d.Partitions) != s.cfg.Shards {
				return fmt.Errorf("topic %s has %d partitions, the configuration %d shards", name, len(d.Partitions), s.cfg.Shards)
			}
			continue
		}
		_, err := adm.CreateTopic(ctx, parts, -1, nil, name)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			continue // another node made it meanwhile
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		s.log.Info("topic created", "topic", name, "partitions", parts)
	}
	return nil
}

// run starts the router, the replicas and the HTTP server, and returns
// when ctx ends (after stopping them) or one of them fails.
func (s *server) run(ctx context.Context) error {
	kopts := s.kafkaOpts()
	if err := s.ensureTopics(ctx, kopts); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	fail := func(err error) {
		if err != nil {
			cancel(err)
		}
	}
	for _, r := range s.replicas {
		wg.Go(func() { fail(r.Run(ctx, s.cfg.Kafka.ShardTopic, kopts...)) })
	}
	for _, o := range s.outputs {
		wg.Go(func() { fail(o.Run(ctx)) })
	}
	var queryable interface {
		promstorage.Queryable
		promstorage.ExemplarQueryable
	} = shardsQueryable(s.dbs)
	if s.grpcListener == nil {
		var err error
		if s.grpcListener, err = net.Listen("tcp", s.cfg.GRPCListen); err != nil {
			return fmt.Errorf("listen for gRPC: %w", err)
		}
	}
	gs := grpc.NewServer()
	selectionfeed.NewServer(s.cfg.Kafka.SelectionTopic, s.log, kopts...).Register(gs)
	if s.cluster != nil {
		wg.Go(func() { s.cluster.run(ctx, fail) })
		queryable = s.cluster.query
		srv, err := fanout.NewServer(s.cluster.local, fanout.ServerOptions{})
		if err != nil {
			return err
		}
		srv.Register(gs)
	}
	wg.Go(func() {
		if err := gs.Serve(s.grpcListener); err != nil {
			fail(fmt.Errorf("gRPC server: %w", err))
		}
	})
	wg.Go(func() {
		fail(s.router.Run(ctx, router.Config{
			RawTopics: s.cfg.Kafka.RawTopics, Group: s.cfg.Kafka.RouterGroup,
			ShardTopic: s.cfg.Kafka.ShardTopic, DeadLetterTopic: s.cfg.Kafka.DeadLetterTopic,
			ID: s.cfg.routerID(), Logger: s.log, OnBatch: s.metrics.routerBatch,
			IdleTimeout: s.cfg.EventTime.IdleTimeout,
			LeaveOnStop: s.leavingForGood,
		}, kopts...))
	})

	api, err := promapi.New(promapi.Options{
		Queryable: queryable, ExemplarQueryable: queryable,
		BuildInfo: promapi.BuildInfo{Version: version}, Logger: s.log,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Register(mux)
	s.registerStatus(mux)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	if s.listener == nil {
		if s.listener, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	wg.Go(func() {
		if err := hs.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
			fail(err)
		}
	})
	close(s.ready)
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	hs.Shutdown(sctx)
	stopGRPC(gs, 5*time.Second)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// shardsQueryable reads every shard's storage: series are partitioned by
// shard, so merging them never meets the same series twice.
type shardsQueryable []*storage.DB

func (q shardsQueryable) Querier(mint, maxt int64) (promstorage.Querier, error) {
	qs := make([]promstorage.Querier, 0, len(q))
	for _, db := range q {
		sq, err := db.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		qs = append(qs, sq)
	}
	return promstorage.NewMergeQuerier(qs, nil, promstorage.ChainedSeriesMerge), nil
}

func (q shardsQueryable) ExemplarQuerier(ctx context.Context) (promstorage.ExemplarQuerier, error) {
	var eqs shardsExemplars
	for _, db := range q {
		eq, err := db.ExemplarQuerier(ctx)
		if err != nil {
			return nil, err
		}
		eqs = append(eqs, eq)
	}
	return eqs, nil
}

type shardsExemplars []promstorage.ExemplarQuerier

func (e shardsExemplars) Select(start, end int64, ms ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	var out []exemplar.QueryResult
	for _, eq := range e {
		res, err := eq.Select(start, end, ms...)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// leavingForGood reports whether the node stops for good: it is in a
// cluster whose placement no longer has it (tumblectl placement
// remove-node). Its router then says so to the shards, which stop waiting
// for its watermark.
func (s *server) leavingForGood() bool {
	if s.cluster == nil {
		return false
	}
	p := s.cluster.placed.Load()
	node := s.cfg.Cluster.Node
	return p != nil && !slices.Contains(p.Members, node) && len(p.ShardsOf(node)) == 0
}

// stopGRPC stops gs gracefully, or at once after limit.
func stopGRPC(gs *grpc.Server, limit time.Duration) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		gs.Stop()
		<-done
	}
}
