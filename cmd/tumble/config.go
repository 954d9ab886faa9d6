package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tumblemetrics/tumble/shard"
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
	// Shards is the number of shards: the partitions of the shard topic.
	// It is fixed when the cluster is created.
	Shards int         `yaml:"shards"`
	Kafka  KafkaConfig `yaml:"kafka"`
	// RouterID names this node's router (see router.Config.ID); it must
	// stay the same across restarts. Default: the host name.
	RouterID string `yaml:"routerID"`
	// Lateness overrides the aggregator's allowed lateness (default: the
	// resolution, at most 2m).
	Lateness time.Duration `yaml:"lateness"`
	// Embedded runs an in-process Kafka-protocol broker on Kafka.Brokers[0]
	// and a load generator: the one-command demo.
	Embedded bool `yaml:"embedded"`
	// LoadRate is the embedded load generator's ticks per second (each a
	// second of the fleet's traffic); 0 means 1.
	LoadRate float64 `yaml:"loadRate"`
}

// KafkaConfig names the brokers and topics.
type KafkaConfig struct {
	Brokers         []string `yaml:"brokers"`
	RawTopics       []string `yaml:"rawTopics"`
	ShardTopic      string   `yaml:"shardTopic"`
	DeadLetterTopic string   `yaml:"deadLetterTopic"`
	RouterGroup     string   `yaml:"routerGroup"`
}

// defaults returns the configuration tumble runs with when given none.
func defaults() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "tumble"
	}
	return Config{
		Rules:    "testdata/rules/example.yaml",
		DataDir:  "data",
		Listen:   "127.0.0.1:9201",
		Shards:   4,
		RouterID: host,
		Kafka: KafkaConfig{
			Brokers:         []string{"127.0.0.1:9092"},
			RawTopics:       []string{"tumble-raw"},
			ShardTopic:      "tumble-shards",
			DeadLetterTopic: "tumble-dead-letter",
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
		{"kafka.routerGroup", c.Kafka.RouterGroup}, {"routerID", c.RouterID},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if c.Lateness < 0 {
		errs = append(errs, fmt.Errorf("lateness %s: must not be negative", c.Lateness))
	}
	if c.LoadRate < 0 {
		errs = append(errs, fmt.Errorf("loadRate %g: must not be negative", c.LoadRate))
	}
	return errors.Join(errs...)
}
