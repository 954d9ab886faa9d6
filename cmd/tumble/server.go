package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/queryapi"
	"github.com/tumblemetrics/tumble/replica"
	"github.com/tumblemetrics/tumble/router"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/storage"
)

// server is one tumble node: a router and a replica of every shard, each
// shard with its own storage, and the HTTP API over all of them.
type server struct {
	cfg      Config
	log      *slog.Logger
	rules    *rules.RuleSet
	router   *router.Router
	dbs      []*storage.DB
	replicas []*replica.Replica
	reg      *prometheus.Registry
	metrics  *metrics
	listener net.Listener
	ready    chan struct{}
}

func newServer(cfg Config, log *slog.Logger) (*server, error) {
	rs, err := rules.ParseFile(cfg.Rules)
	if err != nil {
		return nil, err
	}
	rt, err := router.New(rs, cfg.Shards, sample.DefaultLimits())
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, rules: rs, router: rt, reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	s.metrics = newMetrics(s.reg, s)
	for i := range cfg.Shards {
		dir := filepath.Join(cfg.DataDir, fmt.Sprintf("shard-%d", i))
		db, err := storage.Open(filepath.Join(dir, "tsdb"), storage.Options{Logger: log.With("shard", i)})
		if err != nil {
			s.close()
			return nil, err
		}
		s.dbs = append(s.dbs, db)
		log.Info("shard storage opened", "shard", i, "startup", db.Startup().String())
		r, err := replica.New(replica.Options{Shard: int32(i), DB: db, Dir: filepath.Join(dir, "checkpoints"),
			Aggregator: aggregator.Options{Lateness: cfg.Lateness}, Logger: log, OnFlush: s.metrics.onFlush(i)})
		if err != nil {
			s.close()
			return nil, err
		}
		s.replicas = append(s.replicas, r)
	}
	return s, nil
}

// close closes the storages; the goroutines must have stopped.
func (s *server) close() error {
	var errs []error
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
	want := map[string]int32{s.cfg.Kafka.ShardTopic: int32(s.cfg.Shards), s.cfg.Kafka.DeadLetterTopic: 1}
	for _, t := range s.cfg.Kafka.RawTopics {
		want[t] = int32(s.cfg.Shards)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for name, parts := range want {
		if d, ok := td[name]; ok {
			if name == s.cfg.Kafka.ShardTopic && len(d.Partitions) != s.cfg.Shards {
				return fmt.Errorf("shard topic %s has %d partitions, the configuration %d shards", name, len(d.Partitions), s.cfg.Shards)
			}
			continue
		}
		if _, err := adm.CreateTopic(ctx, parts, -1, nil, name); err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		s.log.Info("topic created", "topic", name, "partitions", parts)
	}
	return nil
}

// run starts the router, the replicas and the HTTP server, and returns
// when ctx ends (after stopping them) or one of them fails.
func (s *server) run(ctx context.Context) error {
	kopts := []kgo.Opt{kgo.SeedBrokers(s.cfg.Kafka.Brokers...)}
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
	wg.Go(func() {
		fail(s.router.Run(ctx, router.Config{
			RawTopics: s.cfg.Kafka.RawTopics, Group: s.cfg.Kafka.RouterGroup,
			ShardTopic: s.cfg.Kafka.ShardTopic, DeadLetterTopic: s.cfg.Kafka.DeadLetterTopic,
			ID: s.cfg.RouterID, Logger: s.log, OnBatch: s.metrics.routerBatch,
		}, kopts...))
	})

	api, err := queryapi.New(queryapi.Options{
		Queryable: shardsQueryable(s.dbs), ExemplarQueryable: shardsQueryable(s.dbs),
		BuildInfo: queryapi.BuildInfo{Version: version}, Logger: s.log,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Register(mux)
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
