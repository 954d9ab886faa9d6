package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/shard/placement"
)

// Options configures a node.
type Options struct {
	Rules *rules.RuleSet
	// Shards is the number of shards: the partitions of the shard topic.
	Shards int
	// DataDir holds one directory per shard, DataDir/shard-N, with its
	// storage (tsdb), its replica's checkpoints (checkpoints) and the
	// windows it retains for its output.
	DataDir string
	// ID names the node's router in its transactions and watermark
	// records, and the node in the selections it writes: unique among the
	// nodes, the same across restarts.
	ID string
	// Lateness overrides the aggregator's allowed lateness (0: the
	// resolution, at most 2m).
	Lateness  time.Duration
	Kafka     Kafka
	EventTime EventTime
	// Cluster places the node in a cluster; nil runs it alone, every
	// shard its own.
	Cluster *Cluster
	Logger  *slog.Logger
	// Registerer takes the node's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Kafka names the topics and how to reach the brokers.
type Kafka struct {
	// Client are the options of every Kafka client of the node: the
	// brokers, and whatever else reaching them takes.
	Client          []kgo.Opt
	RawTopics       []string
	RouterGroup     string
	ShardTopic      string
	DeadLetterTopic string
	// WindowTopic is the window log: every window the shards' outputs
	// emitted, once (one partition per shard).
	WindowTopic string
	// SelectionTopic carries the traces the windows select (package
	// selection; one partition per shard).
	SelectionTopic string
}

// EventTime says how event time moves (see router.Config.IdleTimeout).
type EventTime struct {
	// IdleTimeout is how long a caught-up raw partition may go without a
	// record before its watermark follows the clock; 0 means
	// router.DefaultIdleTimeout.
	IdleTimeout time.Duration
	// SkewAllowance is how far ahead of the router's clock a sample may
	// be (sample.Limits.MaxFuture); 0 means router.DefaultSkewAllowance.
	SkewAllowance time.Duration
	// DeadLetterLate sends the samples the leading replicas drop as late
	// to the dead-letter topic, best effort.
	DeadLetterLate bool
}

// Cluster places the node in a cluster coordinated through etcd.
type Cluster struct {
	Etcd []string
	// Prefix is the cluster's key prefix in etcd.
	Prefix string
	// Node is this node's ID in the placement.
	Node string
	// GRPCAddr and HTTPAddr are the addresses the other nodes reach this
	// one at: its query service, and its status.
	GRPCAddr, HTTPAddr string
	// SessionTTL is the lease of the node's etcd session: a node that dies
	// loses its leaderships after at most that long.
	SessionTTL time.Duration
	// MaxLag is the most records of a shard partition a replica may have
	// left to read and still take the lead.
	MaxLag int64
}

// validate names the first field of each kind that is wrong.
func (o *Options) validate() error {
	var errs []error
	if o.Rules == nil {
		errs = append(errs, errors.New("Rules: required"))
	}
	if err := shard.Validate(o.Shards); err != nil {
		errs = append(errs, fmt.Errorf("Shards %d: %w", o.Shards, err))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("DataDir: required"))
	}
	if o.ID == "" {
		errs = append(errs, errors.New("ID: required"))
	}
	if len(o.Kafka.RawTopics) == 0 {
		errs = append(errs, errors.New("Kafka.RawTopics: at least one"))
	}
	for _, f := range []struct{ name, v string }{
		{"Kafka.RouterGroup", o.Kafka.RouterGroup}, {"Kafka.ShardTopic", o.Kafka.ShardTopic},
		{"Kafka.DeadLetterTopic", o.Kafka.DeadLetterTopic}, {"Kafka.WindowTopic", o.Kafka.WindowTopic},
		{"Kafka.SelectionTopic", o.Kafka.SelectionTopic},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if c := o.Cluster; c != nil {
		if len(c.Etcd) == 0 {
			errs = append(errs, errors.New("Cluster.Etcd: at least one endpoint"))
		}
		if err := placement.ValidNodeID(c.Node); err != nil {
			errs = append(errs, fmt.Errorf("Cluster.Node: %w", err))
		}
		if c.GRPCAddr == "" {
			errs = append(errs, errors.New("Cluster.GRPCAddr: required"))
		}
		if c.SessionTTL <= 0 || c.MaxLag <= 0 {
			errs = append(errs, fmt.Errorf("Cluster.SessionTTL %s, Cluster.MaxLag %d: must be positive", c.SessionTTL, c.MaxLag))
		}
	}
	return errors.Join(errs...)
}
