package kafkatest

import (
	"fmt"
	"strings"
	"time"
)

// Option changes how Start runs a broker.
type Option func(*config)

// StartTimeout bounds the time from launching the broker's JVM to its first
// answer to a metadata request; the default is 60s.
func StartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// Property sets one line of the broker's server.properties, replacing
// kafkatest's default for that key. The node's identity, listeners, quorum
// and directories are kafkatest's own and may not be set.
func Property(key, value string) Option {
	return func(c *config) { c.props[key] = value }
}

type config struct {
	startTimeout time.Duration
	props        map[string]string

	// java and libs are found by Start (JAVA_HOME or the PATH, and the
	// module's .cache/kafka/libs); tests of this package set them.
	java, libs string
}

// defaultProps are the settings of a single node that tests can share: every
// internal topic on one replica and one partition (the consumer offsets
// topic has 50 by default, which the first consumer group waits for), no
// rebalance delay, and topics created only on purpose.
var defaultProps = map[string]string{
	"offsets.topic.replication.factor":                 "1",
	"offsets.topic.num.partitions":                     "1",
	"transaction.state.log.replication.factor":         "1",
	"transaction.state.log.min.isr":                    "1",
	"transaction.state.log.num.partitions":             "1",
	"share.coordinator.state.topic.replication.factor": "1",
	"share.coordinator.state.topic.min.isr":            "1",
	"share.coordinator.state.topic.num.partitions":     "1",
	"group.initial.rebalance.delay.ms":                 "0",
	"num.partitions":                                   "1",
	"auto.create.topics.enable":                        "false",
}

// managedProps are written by kafkatest from the ports and directories it
// picks; Property refuses them.
var managedProps = []string{
	"process.roles",
	"node.id",
	"controller.quorum.voters",
	"controller.quorum.bootstrap.servers",
	"controller.listener.names",
	"inter.broker.listener.name",
	"listeners",
	"advertised.listeners",
	"listener.security.protocol.map",
	"log.dirs",
	"log.dir",
	"metadata.log.dir",
}

func defaultConfig() config {
	c := config{startTimeout: 60 * time.Second, props: map[string]string{}}
	for k, v := range defaultProps {
		c.props[k] = v
	}
	return c
}

func (c *config) validate() error {
	if c.startTimeout <= 0 {
		return fmt.Errorf("kafkatest: StartTimeout %v: must be positive", c.startTimeout)
	}
	for k, v := range c.props {
		for _, m := range managedProps {
			if k == m {
				return fmt.Errorf("kafkatest: Property %q: set by kafkatest itself", k)
			}
		}
		if k == "" || strings.ContainsAny(k, "=:# \t\r\n") {
			return fmt.Errorf("kafkatest: Property %q: a key has no spaces, '=', ':', '#' or line breaks", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("kafkatest: Property %q value %q: must fit on one line", k, v)
		}
	}
	return nil
}
