package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/ingest/graphite"
	"github.com/tumblemetrics/tumble/ingest/influx"
	"github.com/tumblemetrics/tumble/ingest/otlp"
	"github.com/tumblemetrics/tumble/ingest/remotewrite"
	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/query/promapi"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/node"
)

// server is a node and what reaches it: the HTTP API (the Prometheus
// query API, status, /metrics) and the gRPC services (the selections feed
// and, in a cluster, the query service the other nodes ask).
type server struct {
	cfg  Config
	log  *slog.Logger
	node *node.Node
	reg  *prometheus.Registry
	// listener and grpcListener are opened by run unless set before.
	listener     net.Listener
	grpcListener net.Listener
	ready        chan struct{} // closed once both listen
	// writer writes what the ingest gateways take in; nil without them.
	writer *ingest.Writer
	// graphite serves Graphite's plaintext protocol; nil without it.
	graphite *graphite.Server
}

func newServer(cfg Config, log *slog.Logger) (*server, error) {
	rs, err := rules.ParseFile(cfg.Rules)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	if s.node, err = node.New(cfg.nodeOptions(rs, log, s.reg)); err != nil {
		return nil, err
	}
	return s, nil
}

// close closes the node and the gateways' writer; run must have
// returned.
func (s *server) close() error {
	if s.writer != nil {
		s.writer.Close()
	}
	return s.node.Close()
}

// registerIngest serves the ingest gateways the configuration asks for:
// Prometheus remote write, InfluxDB line protocol and OTLP over HTTP on
// mux, OTLP on gs.
func (s *server) registerIngest(mux *http.ServeMux, gs *grpc.Server) error {
	ic := s.cfg.Ingest
	if !ic.RemoteWrite && !ic.OTLP && !ic.Influx && ic.GraphiteTCP == "" && ic.GraphiteUDP == "" {
		return nil
	}
	var err error
	s.writer, err = ingest.NewWriter(ingest.WriterOptions{Client: s.cfg.kafkaOpts(), Topic: cmp.Or(ic.Topic, s.cfg.Kafka.RawTopics[0]),
		DeadLetterTopic: s.cfg.Kafka.DeadLetterTopic, ID: s.cfg.routerID(), Logger: s.log})
	if err != nil {
		return err
	}
	metrics := ingest.NewMetrics(s.reg)
	samples := sample.DefaultLimits()
	samples.MaxFuture = s.cfg.EventTime.SkewAllowance
	limits := ingest.Limits{MaxBodyBytes: ic.MaxBodyBytes, MaxDecodedBytes: ic.MaxDecodedBytes, MaxSamples: ic.MaxSamples}
	if ic.RemoteWrite {
		h, err := remotewrite.NewHandler(remotewrite.Options{Writer: s.writer, Metrics: metrics, Samples: samples, Limits: limits, Logger: s.log})
		if err != nil {
			return err
		}
		mux.Handle("POST /api/v1/write", h)
	}
	if ic.Influx {
		h, err := influx.NewHandler(influx.Options{Writer: s.writer, Metrics: metrics, Samples: samples, Limits: limits, Logger: s.log})
		if err != nil {
			return err
		}
		mux.Handle("POST /write", h)
		mux.Handle("POST /api/v2/write", h)
	}
	if ic.GraphiteTCP != "" || ic.GraphiteUDP != "" {
		if s.graphite, err = graphite.Listen(graphite.Options{Writer: s.writer, Metrics: metrics, Samples: samples, Logger: s.log,
			TCP: ic.GraphiteTCP, UDP: ic.GraphiteUDP}); err != nil {
			return fmt.Errorf("graphite: %w", err)
		}
	}
	if ic.OTLP {
		g, err := otlp.New(otlp.Options{Writer: s.writer, Metrics: metrics, Samples: samples, Limits: limits, Logger: s.log,
			PromoteResourceAttributes: ic.OTLPPromoteResourceAttributes})
		if err != nil {
			return err
		}
		mux.Handle("POST /v1/metrics", g)
		mux.Handle("POST /otlp/v1/metrics", g)
		g.Register(gs)
	}
	return nil
}

// run runs the node and serves its APIs until ctx ends (then it stops
// them) or one of them fails.
func (s *server) run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := s.node.Run(ctx); err != nil {
			fail(err)
		}
		cancel(nil) // the node stopped: so do the APIs
	})
	select {
	case <-s.node.Ready():
	case <-ctx.Done():
		return s.cause(ctx)
	}
	var err error
	if s.listener == nil {
		if s.listener, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			cancel(fmt.Errorf("listen: %w", err))
			return s.cause(ctx)
		}
	}
	if s.grpcListener == nil {
		if s.grpcListener, err = net.Listen("tcp", s.cfg.GRPCListen); err != nil {
			s.listener.Close()
			cancel(fmt.Errorf("listen for gRPC: %w", err))
			return s.cause(ctx)
		}
	}
	gs := grpc.NewServer()
	selectionfeed.NewServer(s.cfg.Kafka.SelectionTopic, s.log, s.cfg.kafkaOpts()...).Register(gs)
	if s.cfg.Cluster.enabled() {
		srv, err := fanout.NewServer(s.node.Local, fanout.ServerOptions{})
		if err != nil {
			cancel(err)
			return s.cause(ctx)
		}
		srv.Register(gs)
	}
	api, err := promapi.New(promapi.Options{
		Queryable: s.node.Queryable(), ExemplarQueryable: s.node.Queryable(),
		BuildInfo: promapi.BuildInfo{Version: version}, Logger: s.log,
	})
	if err != nil {
		cancel(err)
		return s.cause(ctx)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	if err := s.registerIngest(mux, gs); err != nil {
		cancel(err)
		return s.cause(ctx)
	}
	s.registerStatus(mux)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	if s.graphite != nil {
		wg.Go(func() { s.graphite.Run(ctx) })
	}
	wg.Go(func() {
		if err := gs.Serve(s.grpcListener); err != nil {
			fail(fmt.Errorf("gRPC server: %w", err))
		}
	})
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
	return s.cause(ctx)
}

// cause returns why ctx ended, nil for a stop: the node's and the
// servers' goroutines must have ended.
func (s *server) cause(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
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
