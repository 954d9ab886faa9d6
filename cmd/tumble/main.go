// Command tumble is the tumble server: it routes raw samples from Kafka to
// shards, aggregates each shard's windows into its own embedded storage,
// and answers the Prometheus HTTP API over them.
//
//	tumble --config tumble.yaml          # run
//	tumble --config tumble.yaml --check  # validate the configuration and the rules, and exit
//	tumble --embedded                    # the demo: an in-process Kafka broker and a load generator
//	tumble --config tumble.yaml --etcd 127.0.0.1:2379 --node a  # a node of a cluster
//
// Flags override the file for the common settings. SIGINT or SIGTERM stops
// consuming, lets the replicas finish what they read, and closes the
// storages (whose WAL holds every flushed window).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tumblemetrics/tumble/rules"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tumble", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); defaults apply without one")
	check := fs.Bool("check", false, "validate the configuration and the rule file, then exit")
	embedded := fs.Bool("embedded", false, "run an in-process Kafka broker and a load generator (the demo)")
	rulesPath := fs.String("rules", "", "rule file (overrides the configuration)")
	dataDir := fs.String("data", "", "data directory (overrides the configuration)")
	listen := fs.String("listen", "", "HTTP address (overrides the configuration)")
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated (overrides the configuration)")
	etcd := fs.String("etcd", "", "etcd endpoints, comma-separated: run in a cluster (overrides the configuration)")
	node := fs.String("node", "", "this node's ID in the cluster (overrides the configuration)")
	grpcListen := fs.String("grpc-listen", "", "gRPC address of the selections feed and the cluster's query service (overrides the configuration)")
	loadVia := fs.String("load-via", "", "the demo's counters and gauges: remote-write (the default) or kafka (overrides the configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configPath)
	if err == nil {
		if *rulesPath != "" {
			cfg.Rules = *rulesPath
		}
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		if *listen != "" {
			cfg.Listen = *listen
		}
		if *brokers != "" {
			cfg.Kafka.Brokers = strings.Split(*brokers, ",")
		}
		if *etcd != "" {
			cfg.Cluster.Etcd = strings.Split(*etcd, ",")
		}
		if *node != "" {
			cfg.Cluster.Node = *node
		}
		if *grpcListen != "" {
			cfg.GRPCListen = *grpcListen
		}
		if *loadVia != "" {
			cfg.LoadVia = *loadVia
		}
		cfg.Embedded = cfg.Embedded || *embedded
		if cfg.Embedded {
			cfg.Ingest.RemoteWrite, cfg.Ingest.OTLP, cfg.Ingest.Influx = true, true, true // the demo takes other protocols too
		}
		err = cfg.validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "tumble:", err)
		return 2
	}
	if *check {
		rs, err := rules.ParseFile(cfg.Rules)
		if err != nil {
			fmt.Fprintln(stderr, "tumble:", err)
			return 2
		}
		fmt.Fprintln(stdout, "configuration ok; rules:")
		rs.Describe(stdout)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("tumble stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs a node (and, embedded, the broker and the load) until ctx ends.
func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Embedded {
		stopBroker, err := startBroker(cfg, log)
		if err != nil {
			return err
		}
		defer stopBroker()
	}
	s, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	if cfg.Embedded {
		stopLoad := startLoad(ctx, cfg, log, s.ready)
		defer stopLoad() // before the broker stops
		go func() {
			select {
			case <-s.ready:
				printWelcome(stdout, cfg)
			case <-ctx.Done():
			}
		}()
	}
	runErr := s.run(ctx)
	if err := s.close(); runErr == nil {
		runErr = err
	}
	return runErr
}

// loadPaths says which way the demo's samples come in.
func loadPaths(cfg Config) string {
	if cfg.LoadVia == loadViaKafka {
		return "The load generator produces its samples to Kafka in tumble's format."
	}
	return fmt.Sprintf("The load generator sends its request counters and gauges to the remote-write gateway\n"+
		"(http://%s/api/v1/write), as a Prometheus agent does, and its latencies, with their\n"+
		"trace IDs, to Kafka in tumble's format.", cfg.Listen)
}

func printWelcome(w io.Writer, cfg Config) {
	base := "http://" + cfg.Listen
	fmt.Fprintf(w, `
tumble is running: Kafka (in-process) on %s, raw topic %s, %d shards, data in %s.
%s
Prometheus API: %s  (add it as a Prometheus data source in Grafana)
Example queries (windows close 10s + lateness after their end; give it half a minute):
  curl -s '%s/api/v1/query' --data-urlencode 'query=http_request_duration_seconds_by_route{quantile="0.99"}'
  curl -s '%s/api/v1/query' --data-urlencode 'query=sum by (service) (http_requests_by_status)'
  curl -s '%s/api/v1/query_exemplars' --data-urlencode 'query=http_request_duration_seconds_by_route{quantile="0.99"}' --data-urlencode start=0 --data-urlencode end=9999999999
The traces behind each P99 (and, with --candidates, those that may be) as they are selected:
  bin/tumblectl traces watch --addr %s --candidates
Prometheus can send its samples too: remote_write to %s/api/v1/write; OTLP exporters to %s/v1/metrics;
Influx line protocol to %s/api/v2/write
Produce your own samples with any Kafka client, e.g.
  echo '{"name":"x","labels":{"service":"a"},"type":"timer","value":0.2,"timestamp_ms":'$(date +%%s000)'}' | kcat -P -b %s -t %s
`, cfg.Kafka.Brokers[0], cfg.Kafka.RawTopics[0], cfg.Shards, cfg.DataDir, loadPaths(cfg), base, base, base, base, cfg.GRPCListen, base, base, base, cfg.Kafka.Brokers[0], cfg.Kafka.RawTopics[0])
}
