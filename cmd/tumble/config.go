package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/shard/node"
	"github.com/tumblemetrics/tumble/shard/placement"
	"github.com/tumblemetrics/tumble/shard/router"
)

// Config is tumble's configuration file. Unknown keys are errors.
type Config struct {
	// Rules is the path of the rule file (M3's format).
	Rules string `yaml:"rules"`
	// DataDir holds one directory per shard, DataDir/shard-N, with its
	// storage (tsdb) and its replica's checkpoints (checkpoints).
	DataDir string `yaml:"dataDir"`
	// Listen is the address of the HTTP API and /metrics.
	Listen string `yaml:"listen"`
	// GRPCListen is the address of the gRPC services: the selections feed
	// for trace samplers and, in a cluster, the query service the other
	// nodes ask.
	GRPCListen string `yaml:"grpcListen"`
	// Shards is the number of shards: the partitions of the shard topic.
	// It is fixed when the cluster is created.
	Shards int         `yaml:"shards"`
	Kafka  KafkaConfig `yaml:"kafka"`
	// RouterID names this node's router (see router.Config.ID); it must
	// stay the same across restarts and differ between the nodes. Default:
	// cluster.node in a cluster, else the host name.
	RouterID string `yaml:"routerID"`
	// Lateness overrides the aggregator's allowed lateness (default: the
	// resolution, at most 2m).
	Lateness time.Duration `yaml:"lateness"`
	// EventTime says when a window closes; see EventTimeConfig.
	EventTime EventTimeConfig `yaml:"eventTime"`
	// Embedded runs an in-process Kafka-protocol broker on Kafka.Brokers[0]
	// and a load generator: the one-command demo.
	Embedded bool `yaml:"embedded"`
	// LoadRate is the embedded load generator's ticks per second (each a
	// second of the fleet's traffic); 0 means 1.
	LoadRate float64 `yaml:"loadRate"`
	// LoadVia is the way the embedded load generator's request counters
	// and gauges come in: "remote-write" (the default), to the node's
	// Prometheus remote-write gateway over HTTP, as a Prometheus agent
	// sends them; or "kafka", to the raw topic in tumble's own format.
	// Its latencies (timers, with their trace IDs) always go to Kafka in
	// tumble's format: remote write has no timer type.
	LoadVia string `yaml:"loadVia"`
	// Cluster makes the node one of a cluster coordinated through etcd;
	// without cluster.etcd it runs alone, every shard its own.
	Cluster ClusterConfig `yaml:"cluster"`
	// Ingest configures the gateways that take samples in through other
	// protocols and write them to the raw topic.
	Ingest IngestConfig `yaml:"ingest"`
}

// IngestConfig configures the ingest gateways; each is off unless asked.
type IngestConfig struct {
	// RemoteWrite serves Prometheus remote write 1.0 at POST
	// /api/v1/write on listen.
	RemoteWrite bool `yaml:"remoteWrite"`
	// OTLP serves OpenTelemetry's metrics protocol: POST /v1/metrics and
	// /otlp/v1/metrics on listen, the MetricsService on grpcListen.
	OTLP bool `yaml:"otlp"`
	// Influx serves InfluxDB's line protocol: POST /write (1.x) and
	// /api/v2/write (2.x) on listen.
	Influx bool `yaml:"influx"`
	// GraphiteTCP and GraphiteUDP are the addresses of Graphite's
	// plaintext protocol (carbon's 2003); "" serves none.
	GraphiteTCP string `yaml:"graphiteTCP"`
	GraphiteUDP string `yaml:"graphiteUDP"`
	// OTLPPromoteResourceAttributes are the resource attributes copied
	// onto every series of the resource (job and instance always are).
	OTLPPromoteResourceAttributes []string `yaml:"otlpPromoteResourceAttributes"`
	// Topic is the raw topic the gateways write; default the first of
	// kafka.rawTopics.
	Topic string `yaml:"topic"`
	// MaxBodyBytes, MaxDecodedBytes and MaxSamples bound one request (as
	// sent, decompressed, and its samples); 0 means 32 MiB, 128 MiB and
	// 500000.
	MaxBodyBytes    int64 `yaml:"maxBodyBytes"`
	MaxDecodedBytes int   `yaml:"maxDecodedBytes"`
	MaxSamples      int   `yaml:"maxSamples"`
}

// ClusterConfig places the node in a cluster: it holds the replicas of the
// shards the placement in etcd gives it, and leads some.
type ClusterConfig struct {
	// Etcd lists the etcd endpoints; empty means no cluster.
	Etcd []string `yaml:"etcd"`
	// Prefix is the cluster's key prefix in etcd.
	Prefix string `yaml:"prefix"`
	// Node is this node's ID in the placement; it must stay the same
	// across restarts (its data directory holds its replicas).
	Node string `yaml:"node"`
	// Advertise is the gRPC address the other nodes dial; default
	// grpcListen. AdvertiseHTTP is this node's HTTP address for them
	// (cluster status); default Listen.
	Advertise     string `yaml:"advertise"`
	AdvertiseHTTP string `yaml:"advertiseHTTP"`
	// SessionTTL is the lease of the node's etcd session: a node that
	// dies loses its leaderships after at most that long. At least 2s.
	SessionTTL time.Duration `yaml:"sessionTTL"`
	// MaxLag is the most records of a shard partition a replica may have
	// left to read and still take the lead.
	MaxLag int64 `yaml:"maxLag"`
}

// enabled reports whether the node runs in a cluster.
func (c *ClusterConfig) enabled() bool { return len(c.Etcd) > 0 }

// EventTimeConfig says how event time moves: the watermark of each raw
// partition follows the timestamps read from it, and a window closes once
// every partition's watermark has passed its end plus the lateness.
type EventTimeConfig struct {
	// IdleTimeout is how long a raw partition that is read to its end may
	// go without a new record before it stops holding the windows open:
	// its watermark then follows the router's clock, less SkewAllowance.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// SkewAllowance is how far ahead of the router's clock a sample's
	// timestamp may be: a sample further ahead is refused (dead letter
	// reason timestamp_in_future), and no watermark runs ahead of the
	// clock plus it. Keep it below the finest lateness, so that a
	// producer whose clock runs ahead by up to it makes no other
	// producer's samples late.
	SkewAllowance time.Duration `yaml:"skewAllowance"`
	// DeadLetterLate sends each sample dropped as late to the dead-letter
	// topic (reason late), besides counting it: the sample as its shard
	// got it, under its output series' name and labels, with its rule and
	// policy. Best effort, written by the shard's leading replica.
	DeadLetterLate bool `yaml:"deadLetterLate"`
}

// KafkaConfig names the brokers and topics.
type KafkaConfig struct {
	Brokers         []string `yaml:"brokers"`
	RawTopics       []string `yaml:"rawTopics"`
	ShardTopic      string   `yaml:"shardTopic"`
	DeadLetterTopic string   `yaml:"deadLetterTopic"`
	// WindowTopic is a cluster's window log: the record of every window
	// its shards' leaders emitted, once (one partition per shard).
	WindowTopic string `yaml:"windowTopic"`
	// SelectionTopic carries the traces the windows select for tail-based
	// samplers (package selection; one partition per shard).
	SelectionTopic string `yaml:"selectionTopic"`
	RouterGroup    string `yaml:"routerGroup"`
}

// routerID returns the router's ID, defaulted.
func (c *Config) routerID() string {
	switch {
	case c.RouterID != "":
		return c.RouterID
	case c.Cluster.enabled():
		return c.Cluster.Node
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "tumble"
	}
	return host
}

// kafkaOpts are the options of every Kafka client of the node.
func (c *Config) kafkaOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.Kafka.Brokers...)}
}

// nodeOptions are the node's options under c, with its rules, logger and
// metrics registry.
func (c *Config) nodeOptions(rs *rules.RuleSet, log *slog.Logger, reg prometheus.Registerer) node.Options {
	o := node.Options{
		Rules: rs, Shards: c.Shards, DataDir: c.DataDir, ID: c.routerID(), Lateness: c.Lateness,
		Kafka: node.Kafka{
			Client: c.kafkaOpts(), RawTopics: c.Kafka.RawTopics, RouterGroup: c.Kafka.RouterGroup,
			ShardTopic: c.Kafka.ShardTopic, DeadLetterTopic: c.Kafka.DeadLetterTopic,
			WindowTopic: c.Kafka.WindowTopic, SelectionTopic: c.Kafka.SelectionTopic,
		},
		EventTime: node.EventTime{
			IdleTimeout: c.EventTime.IdleTimeout, SkewAllowance: c.EventTime.SkewAllowance,
			DeadLetterLate: c.EventTime.DeadLetterLate,
		},
		Logger: log, Registerer: reg,
	}
	if cc := c.Cluster; cc.enabled() {
		o.Cluster = &node.Cluster{
			Etcd: cc.Etcd, Prefix: cc.Prefix, Node: cc.Node,
			GRPCAddr: cmp.Or(cc.Advertise, c.GRPCListen), HTTPAddr: cmp.Or(cc.AdvertiseHTTP, c.Listen),
			SessionTTL: cc.SessionTTL, MaxLag: cc.MaxLag,
		}
	}
	return o
}

// defaults returns the configuration tumble runs with when given none.
func defaults() Config {
	return Config{
		Rules:      "testdata/rules/example.yaml",
		DataDir:    "data",
		Listen:     "127.0.0.1:9201",
		GRPCListen: "127.0.0.1:9301",
		Shards:     4,
		EventTime: EventTimeConfig{
			IdleTimeout:   router.DefaultIdleTimeout,
			SkewAllowance: router.DefaultSkewAllowance,
		},
		Cluster: ClusterConfig{
			Prefix:     placement.DefaultPrefix,
			SessionTTL: 5 * time.Second,
			MaxLag:     100_000,
		},
		Kafka: KafkaConfig{
			Brokers:         []string{"127.0.0.1:9092"},
			RawTopics:       []string{"tumble-raw"},
			ShardTopic:      "tumble-shards",
			DeadLetterTopic: "tumble-dead-letter",
			WindowTopic:     "tumble-windows",
			SelectionTopic:  "tumble-selections",
			RouterGroup:     "tumble-router",
		},
	}
}

// loadConfig reads path over the defaults, strictly.
func loadConfig(path string) (Config, error) {
	cfg := defaults()
	if path == "" {
		return cfg, cfg.validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Rules == "" {
		errs = append(errs, errors.New("rules: a rule file is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("dataDir: required"))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: required"))
	}
	if c.GRPCListen == "" {
		errs = append(errs, errors.New("grpcListen: required"))
	}
	if err := shard.Validate(c.Shards); err != nil {
		errs = append(errs, fmt.Errorf("shards %d: %w", c.Shards, err))
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one"))
	}
	if len(c.Kafka.RawTopics) == 0 {
		errs = append(errs, errors.New("kafka.rawTopics: at least one"))
	}
	for _, f := range []struct{ name, v string }{
		{"kafka.shardTopic", c.Kafka.ShardTopic}, {"kafka.deadLetterTopic", c.Kafka.DeadLetterTopic},
		{"kafka.routerGroup", c.Kafka.RouterGroup}, {"kafka.windowTopic", c.Kafka.WindowTopic},
		{"kafka.selectionTopic", c.Kafka.SelectionTopic},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if c.Lateness < 0 {
		errs = append(errs, fmt.Errorf("lateness %s: must not be negative", c.Lateness))
	}
	if c.EventTime.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("eventTime.idleTimeout %s: must be positive", c.EventTime.IdleTimeout))
	}
	if c.EventTime.SkewAllowance <= 0 {
		errs = append(errs, fmt.Errorf("eventTime.skewAllowance %s: must be positive", c.EventTime.SkewAllowance))
	}
	if c.Ingest.MaxBodyBytes < 0 || c.Ingest.MaxDecodedBytes < 0 || c.Ingest.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("ingest: maxBodyBytes %d, maxDecodedBytes %d, maxSamples %d: none may be negative",
			c.Ingest.MaxBodyBytes, c.Ingest.MaxDecodedBytes, c.Ingest.MaxSamples))
	}
	if c.LoadRate < 0 {
		errs = append(errs, fmt.Errorf("loadRate %g: must not be negative", c.LoadRate))
	}
	switch c.LoadVia {
	case "", loadViaRemoteWrite, loadViaKafka:
	default:
		errs = append(errs, fmt.Errorf("loadVia %q: want %s or %s", c.LoadVia, loadViaRemoteWrite, loadViaKafka))
	}
	if c.Cluster.enabled() {
		errs = append(errs, c.Cluster.validate()...)
		if c.Embedded {
			errs = append(errs, errors.New("embedded: the demo runs alone, not with cluster.etcd"))
		}
	}
	return errors.Join(errs...)
}

func (c *ClusterConfig) validate() []error {
	var errs []error
	if err := placement.ValidNodeID(c.Node); err != nil {
		errs = append(errs, fmt.Errorf("cluster.node: %w", err))
	}
	if c.Prefix == "" || c.Prefix[0] != '/' {
		errs = append(errs, fmt.Errorf("cluster.prefix %q: must start with /", c.Prefix))
	}
	if c.SessionTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("cluster.sessionTTL %s: at least 2s", c.SessionTTL))
	}
	if c.MaxLag <= 0 {
		errs = append(errs, fmt.Errorf("cluster.maxLag %d: must be positive", c.MaxLag))
	}
	return errs
}
