package etcdtest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Option changes how Start runs etcd.
type Option func(*config)

// StartTimeout bounds the time from launching etcd, at Start and at each
// Restart, to its first answer to a read; the default is 30s.
func StartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// Flag sets one command-line flag of etcd, "--name=value", replacing
// etcdtest's default for that name: Flag("auto-compaction-retention", "1").
// The member's name, URLs, cluster and directories are etcdtest's own and
// may not be set.
func Flag(name, value string) Option {
	return func(c *config) { c.flags[name] = value }
}

type config struct {
	startTimeout time.Duration
	flags        map[string]string

	// bin is found by Start (the module's .cache/etcd); tests of this
	// package set it.
	bin string
}

// defaultFlags make a single member quick: it elects itself within a few
// heartbeats of 10ms, and leases may be as short as one second (etcd's
// shortest TTL is one and a half election timeouts, rounded up to seconds).
// With one member there is no peer to miss a heartbeat.
var defaultFlags = map[string]string{
	"heartbeat-interval": "10",
	"election-timeout":   "100",
}

// managedFlags are written by etcdtest from the ports and directories it
// picks; Flag refuses them.
var managedFlags = []string{
	"name",
	"data-dir",
	"wal-dir",
	"config-file",
	"listen-client-urls",
	"advertise-client-urls",
	"listen-peer-urls",
	"initial-advertise-peer-urls",
	"initial-cluster",
	"initial-cluster-state",
	"initial-cluster-token",
	"discovery",
	"discovery-srv",
	"force-new-cluster",
}

func defaultConfig() config {
	c := config{startTimeout: 30 * time.Second, flags: map[string]string{}}
	for k, v := range defaultFlags {
		c.flags[k] = v
	}
	return c
}

func (c *config) validate() error {
	if c.startTimeout <= 0 {
		return fmt.Errorf("etcdtest: StartTimeout %v: must be positive", c.startTimeout)
	}
	for name, v := range c.flags {
		if slices.Contains(managedFlags, name) {
			return fmt.Errorf("etcdtest: Flag %q: set by etcdtest itself", name)
		}
		if name == "" || strings.HasPrefix(name, "-") || strings.ContainsAny(name, "= \t\r\n") {
			return fmt.Errorf("etcdtest: Flag %q: a name has no leading '-', no '=' and no spaces", name)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("etcdtest: Flag %q value %q: must fit on one line", name, v)
		}
	}
	return nil
}
