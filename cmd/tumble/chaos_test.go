package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/internal/childproc"
	"github.com/tumblemetrics/tumble/internal/etcdtest"
	"github.com/tumblemetrics/tumble/internal/kafkatest"
	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/internal/tcpproxy"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard/clusterstatus"
	"github.com/tumblemetrics/tumble/shard/leader"
	"github.com/tumblemetrics/tumble/shard/node"
	"github.com/tumblemetrics/tumble/storage"
)

var chaosKills = flag.Int("chaos.kills", 3, "leaders TestChaos kills with SIGKILL (make chaos: 20)")

const (
	chaosShards   = 4
	chaosTTL      = 3 * time.Second
	chaosPrefix   = "/tumble"
	chaosTicksPer = 10 // ticks of the fleet produced per second
)

// TestChaos runs a cluster of three tumble processes, two replicas per
// shard, against a real Kafka broker and a real etcd, each node reaching
// etcd through a proxy of its own. While the fleet's traffic comes in, it
// kills the leader of a random shard with SIGKILL (chaos.kills times) and
// starts it again, stops etcd for ten seconds once, and cuts a leader off
// from etcd once. Then every replica's storage must hold exactly what the
// offline replay computes for its shard, the window log every window of
// every shard once, in order, with the replay's content, the query API the
// whole cluster's points, and the dead-letter topic each malformed record
// once. It reports the failover times: a leader killed, to the first window
// its successor emitted.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tumble and runs Kafka, etcd and three nodes")
	}
	dir := t.TempDir()
	b := kafkatest.Start(t)
	etcd := etcdtest.Start(t)
	etcdAddr := strings.TrimPrefix(etcd.Endpoints()[0], "http://")
	bin := buildTumble(t, dir)
	rulesPath, err := filepath.Abs("../../testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(dir, "tumblectl")
	if out, err := exec.Command("go", "build", "-o", ctl, "../tumblectl").CombinedOutput(); err != nil {
		t.Fatalf("go build tumblectl: %v\n%s", err, out)
	}
	if out, err := exec.Command(ctl, "placement", "init", "--etcd", etcdAddr, "--prefix", chaosPrefix,
		"--nodes", "a,b,c", "--shards", strconv.Itoa(chaosShards), "--replicas", "2").CombinedOutput(); err != nil {
		t.Fatalf("tumblectl placement init: %v\n%s", err, out)
	}

	c := &chaosCluster{t: t, bin: bin, ctl: ctl, nodes: map[string]*chaosNode{}}
	c.cleanup()
	for _, id := range []string{"a", "b", "c"} {
		c.nodes[id] = c.newNode(dir, id, rulesPath, b.Addr(), tcpproxy.Start(t, etcdAddr))
	}
	for _, n := range c.nodes {
		n.start()
	}

	cli := etcd.Client(t)
	obs := leader.NewObserver(cli, chaosPrefix, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { obs.Run(ctx) })
	wlog := &windowLog{}
	wg.Go(func() { wlog.follow(ctx, t, b.Addr()) })
	c.waitAllLed(obs, 60*time.Second)

	// The fleet's traffic, keyed by pod over the raw topic's partitions,
	// produced at chaosTicksPer ticks a second from seven minutes before
	// now until it reaches the wall clock, then in real time, until the
	// chaos is over.
	now := time.Now()
	start := now.UnixMilli() - now.UnixMilli()%60_000 - 7*60_000
	prod := &chaosProducer{brokers: []string{b.Addr()}, start: start, maxTicks: 60 * 60}
	chaosDone := make(chan struct{})
	prodErr := make(chan error, 1)
	go func() { prodErr <- prod.run(ctx, chaosDone) }()

	rng := rand.New(rand.NewPCG(5, uint64(now.UnixNano())))
	var failovers []time.Duration
	outageAt, partitionAt := *chaosKills/2, *chaosKills
	for k := 0; k <= *chaosKills; k++ {
		time.Sleep(time.Second + time.Duration(rng.IntN(2000))*time.Millisecond)
		if k == outageAt {
			c.etcdOutage(etcd, obs)
		}
		if k == partitionAt {
			c.partition(obs, wlog)
			c.addNode(dir, "d", rulesPath, b.Addr(), etcdAddr, obs)
			c.removeNode("c", etcdAddr, obs)
			break
		}
		failovers = append(failovers, c.killLeader(rng, obs, wlog)...)
	}
	close(chaosDone)
	if err := <-prodErr; err != nil {
		t.Fatal(err)
	}
	all, ticks := prod.samples()
	last := all[0].TimestampMs
	for _, s := range all {
		last = max(last, s.TimestampMs)
	}
	t.Logf("%d ticks of the fleet produced (%d samples, event time from %s to %s before now)", ticks, len(all),
		time.Since(time.UnixMilli(start)).Round(time.Second), time.Since(time.UnixMilli(last)).Round(time.Second))

	// Every replica closes every window once the raw partitions are
	// quiet: the last minute's window with its lateness.
	closer := last - last%60_000 + 2*60_000
	for _, n := range c.nodes {
		waitWatermarks(t, n.base(), len(n.shards(t)), closer, "node "+n.id)
	}
	want := replayShards(t, rulesPath, all)
	wantWindows := expectedWindows(t, want)
	for seen, lastMove := 0, time.Now(); !wlog.holds(wantWindows) && time.Since(lastMove) < 30*time.Second; {
		if n := len(wlog.all()); n != seen {
			seen, lastMove = n, time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	} // compareWindows says what is missing

	// The query API of any node answers for the whole cluster.
	wantAll := map[string]replay.Point{}
	for _, ps := range want {
		for k, p := range ps {
			wantAll[k] = p
		}
	}
	t.Run("query API", func(t *testing.T) {
		comparePoints(t, wantAll, servedPoints(t, c.nodes["a"].base(), closer/1000))
	})
	t.Run("window log", func(t *testing.T) { compareWindows(t, wantWindows, wlog.all()) })
	t.Run("selections", func(t *testing.T) {
		wantSel := wantSelections(wantAll)
		got := watchSelections(t, c.nodes["a"].grpc, len(wantSel))
		checkSelections(t, got, wantSel, all, servedExemplars(t, c.nodes["b"].base(), all[0].TimestampMs/1000-60, closer/1000))
		compareSelectionTerms(t, got, wlog.all())
	})
	reasons := deadLetters(t, []string{b.Addr()}, "tumble-dead-letter", prod.malformed())
	t.Logf("dead letters %v", reasons)

	// tumblectl cluster status shows the settled cluster.
	out, err := exec.Command(c.ctl, "cluster", "status", "--url", c.nodes["b"].base(), "--json").Output()
	if err != nil {
		t.Fatalf("tumblectl cluster status: %v", err)
	}
	var st clusterstatus.Report
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("tumblectl cluster status --json: %v\n%s", err, out)
	}
	checkStatus(t, &st, closer)
	if table, err := exec.Command(c.ctl, "cluster", "status", "--url", c.nodes["b"].base()).Output(); err == nil {
		t.Logf("tumblectl cluster status:\n%s", table)
	} else {
		t.Errorf("tumblectl cluster status: %v", err)
	}

	// Every replica, read from its own storage once its node stopped.
	for _, n := range c.nodes {
		shards := n.shards(t)
		if err := n.stop(syscall.SIGTERM); err != nil {
			t.Errorf("node %s on SIGTERM: %v", n.id, err)
		}
		for _, s := range shards {
			got := storedPoints(t, filepath.Join(n.dataDir, fmt.Sprintf("shard-%d", s), "tsdb"))
			t.Run(fmt.Sprintf("replica %s of shard %d", n.id, s), func(t *testing.T) {
				comparePoints(t, want[int32(s)], got)
			})
		}
	}
	slices.Sort(failovers)
	if len(failovers) > 0 {
		t.Logf("failover (leader killed → its successor's first window), %d shards: median %s, max %s, all %v",
			len(failovers), failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond), failovers)
	}
}

// chaosCluster is the nodes of TestChaos.
type chaosCluster struct {
	t     *testing.T
	bin   string
	ctl   string
	nodes map[string]*chaosNode
}

// cleanup registers the nodes' end: after the broker's and etcd's
// cleanups, so it runs before them; on a failure, the nodes' logs end the
// output.
func (c *chaosCluster) cleanup() {
	c.t.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop(syscall.SIGKILL)
			if c.t.Failed() {
				c.t.Logf("the end of node %s's log:\n%s", n.id, tail(n.logPath))
			}
		}
	})
}

// addNode starts node id and adds it to the placement: shards move to it
// in hand-overs, which must complete (the new replicas caught up and
// available, the ones they replace gone) with every shard led.
func (c *chaosCluster) addNode(dir, id, rulesPath, broker, etcdAddr string, obs *leader.Observer) {
	t := c.t
	t.Helper()
	n := c.newNode(dir, id, rulesPath, broker, tcpproxy.Start(t, etcdAddr))
	c.nodes[id] = n
	n.start()
	began := time.Now()
	if out, err := exec.Command(c.ctl, "placement", "add-node", id, "--etcd", etcdAddr, "--prefix", chaosPrefix).CombinedOutput(); err != nil {
		t.Fatalf("tumblectl placement add-node %s: %v\n%s", id, err, out)
	}
	c.waitHandedOver(n, func(held int) bool { return held > 0 })
	t.Logf("node %s added: hand-overs done in %s", id, time.Since(began).Round(time.Millisecond))
	c.waitAllLed(obs, 90*time.Second)
}

// removeNode takes node id out of the placement: its replicas are handed
// over to the others, and once none is left on it, it stops.
func (c *chaosCluster) removeNode(id, etcdAddr string, obs *leader.Observer) {
	t := c.t
	t.Helper()
	began := time.Now()
	if out, err := exec.Command(c.ctl, "placement", "remove-node", id, "--etcd", etcdAddr, "--prefix", chaosPrefix).CombinedOutput(); err != nil {
		t.Fatalf("tumblectl placement remove-node %s: %v\n%s", id, err, out)
	}
	n := c.nodes[id]
	c.waitHandedOver(n, func(held int) bool { return held == 0 })
	t.Logf("node %s removed: hand-overs done in %s", id, time.Since(began).Round(time.Millisecond))
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Errorf("node %s on SIGTERM: %v", id, err)
	}
	delete(c.nodes, id)
	c.waitAllLed(obs, 90*time.Second)
}

// waitHandedOver waits until the cluster status, as n sees it, has every
// replica of every shard available and n holding a number of replicas that
// held accepts.
func (c *chaosCluster) waitHandedOver(n *chaosNode, held func(int) bool) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := exec.Command(c.ctl, "cluster", "status", "--url", n.base(), "--json").Output()
		var st clusterstatus.Report
		if err == nil && json.Unmarshal(out, &st) == nil && handedOver(&st, n.id, held) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hand-overs of node %s did not complete in 90s: %v\n%s", n.id, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// handedOver reports whether st shows every replica of every shard
// available, and node id holding a number of them that held accepts.
func handedOver(st *clusterstatus.Report, id string, held func(int) bool) bool {
	n := 0
	for _, s := range st.Shard {
		for _, r := range s.Replicas {
			if r.State != "available" || r.Error != "" {
				return false
			}
			if r.Node == id {
				n++
			}
		}
	}
	return held(n)
}

// chaosNode is one tumble process of the cluster, reaching etcd through a
// proxy of its own.
type chaosNode struct {
	t       *testing.T
	id      string
	bin     string
	cfgPath string
	dataDir string
	logPath string
	listen  string
	grpc    string
	proxy   *tcpproxy.Proxy

	mu   sync.Mutex
	proc *exec.Cmd
	logf *os.File
}

func (c *chaosCluster) newNode(dir, id, rulesPath, broker string, proxy *tcpproxy.Proxy) *chaosNode {
	t := c.t
	ports, err := childproc.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	n := &chaosNode{t: t, id: id, bin: c.bin, proxy: proxy,
		dataDir: filepath.Join(dir, "node-"+id), logPath: filepath.Join(dir, "node-"+id+".log"),
		cfgPath: filepath.Join(dir, "node-"+id+".yaml"), listen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		grpc: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg := fmt.Sprintf(`rules: %s
dataDir: %s
listen: %s
grpcListen: 127.0.0.1:%d
shards: %d
kafka:
  brokers: [%s]
cluster:
  etcd: [%s]
  prefix: %s
  node: %s
  sessionTTL: %s
eventTime:
  idleTimeout: 2s
`, rulesPath, n.dataDir, n.listen, ports[1], chaosShards, broker, proxy.Addr(), chaosPrefix, id, chaosTTL)
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *chaosNode) base() string { return "http://" + n.listen }

// start starts the node's process and waits for its HTTP API.
func (n *chaosNode) start() {
	t := n.t
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.logf = logf
	n.proc = exec.Command(n.bin, "--config", n.cfgPath)
	n.proc.Stdout, n.proc.Stderr = logf, logf
	n.proc.SysProcAttr = childproc.Attr()
	if err := n.proc.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(n.base() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not come up", n.id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop signals the node's process and waits for it; safe when stopped.
func (n *chaosNode) stop(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return nil
	}
	n.proc.Process.Signal(sig)
	err := n.proc.Wait()
	n.proc = nil
	n.logf.Close()
	if sig == syscall.SIGKILL {
		return nil
	}
	return err
}

// replicas returns the node's report of its replicas.
func (n *chaosNode) replicas() ([]clusterstatus.Replica, error) {
	return node.FetchReplicas(context.Background(), n.listen)
}

// shards returns the shards the node holds.
func (n *chaosNode) shards(t *testing.T) []int {
	t.Helper()
	rs, err := n.replicas()
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, r := range rs {
		out = append(out, int(r.Shard))
	}
	return out
}

// waitAllLed waits until every shard has a leader and every replica of
// every node can lead (has caught up).
func (c *chaosCluster) waitAllLed(obs *leader.Observer, limit time.Duration) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok := true
		// Each shard led by the node etcd names, with the term etcd has,
		// and no other; every replica able to take over.
		leaders := map[int32]string{}
		for _, n := range c.nodes {
			rs, err := n.replicas()
			ok = ok && err == nil && len(rs) > 0
			for _, r := range rs {
				ok = ok && (r.Leading || r.CanLead == "yes")
				if r.Leading {
					ok = ok && leaders[r.Shard] == ""
					leaders[r.Shard] = fmt.Sprintf("%s@%d", r.Node, r.Term)
				}
			}
		}
		for _, v := range obs.Shards(chaosShards) {
			ok = ok && v.Leader != "" && len(v.Candidates) == 2 && leaders[v.Shard] == fmt.Sprintf("%s@%d", v.Leader, v.Term)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, v := range obs.Shards(chaosShards) {
				t.Logf("shard %d: %+v", v.Shard, v)
			}
			for _, n := range c.nodes {
				rs, err := n.replicas()
				t.Logf("node %s: %+v %v", n.id, rs, err)
			}
			t.Fatalf("the cluster did not settle in %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLeader kills the node leading a random shard, starts it again, and
// returns, for each shard it led, the time from the kill to the first
// window of the successor's term.
func (c *chaosCluster) killLeader(rng *rand.Rand, obs *leader.Observer, wlog *windowLog) []time.Duration {
	t := c.t
	t.Helper()
	views := obs.Shards(chaosShards)
	victim := c.nodes[views[rng.IntN(len(views))].Leader]
	led := c.ledBy(victim)
	killed := time.Now()
	victim.stop(syscall.SIGKILL)
	t.Logf("killed node %s, leader of shards %v", victim.id, slices.Sorted(maps.Keys(led)))
	victim.start()
	var out []time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for _, s := range slices.Sorted(maps.Keys(led)) {
		term := led[s]
		var elected time.Duration
		w, at := wlog.waitAfterTerm(t, s, term, deadline, "the kill of "+victim.id, func() {
			if v := obs.Shard(s); elected == 0 && v.Leader != "" && v.Term != term {
				elected = time.Since(killed)
			}
		})
		out = append(out, at.Sub(killed))
		t.Logf("  shard %d: new leader %s elected after %s, its first window after %s",
			s, w.Leader, elected.Round(time.Millisecond), at.Sub(killed).Round(time.Millisecond))
		if w.Leader == victim.id {
			t.Errorf("shard %d: after the kill of %s, it leads again before another did: %+v", s, victim.id, w)
		}
	}
	c.waitAllLed(obs, 90*time.Second)
	return out
}

// ledBy returns the shards n leads, with their terms, as n reports them.
func (c *chaosCluster) ledBy(n *chaosNode) map[int32]int64 {
	c.t.Helper()
	rs, err := n.replicas()
	if err != nil {
		c.t.Fatalf("node %s: %v", n.id, err)
	}
	led := map[int32]int64{}
	for _, r := range rs {
		if r.Leading {
			led[r.Shard] = r.Term
		}
	}
	return led
}

// etcdOutage stops etcd for ten seconds, killing and restarting both
// replicas of shard 0 in the middle, then waits for the cluster to settle.
func (c *chaosCluster) etcdOutage(etcd *etcdtest.Server, obs *leader.Observer) {
	t := c.t
	t.Helper()
	var holders []*chaosNode // of shard 0
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		if slices.Contains(c.nodes[id].shards(t), 0) {
			holders = append(holders, c.nodes[id])
		}
	}
	etcd.Stop()
	t.Log("etcd stopped for 10s")
	// No leader emits meanwhile, while the replicas go on closing windows
	// and checkpointing (every 30s of event time: 3s here). Both replicas
	// of shard 0 then restart from checkpoints past the shard's output:
	// they must still know the windows in between, to emit them.
	time.Sleep(5 * time.Second)
	for _, n := range holders {
		n.stop(syscall.SIGKILL)
		n.start()
	}
	t.Logf("killed and restarted nodes %s and %s, the replicas of shard 0", holders[0].id, holders[1].id)
	time.Sleep(5 * time.Second)
	if err := etcd.Restart(); err != nil {
		t.Fatal(err)
	}
	c.waitAllLed(obs, 90*time.Second)
	t.Log("cluster settled after the etcd outage")
}

// partition cuts the leader of a random shard off from etcd: it must stop
// leading before its session's TTL has passed, and its successors' first
// windows come after it stopped.
func (c *chaosCluster) partition(obs *leader.Observer, wlog *windowLog) {
	t := c.t
	t.Helper()
	victim := c.nodes[obs.Shard(0).Leader]
	led := c.ledBy(victim)
	cut := time.Now()
	victim.proxy.Cut()
	var stopped time.Time
	for stopped.IsZero() {
		rs, err := victim.replicas()
		if err != nil {
			t.Fatalf("node %s, cut off from etcd, does not answer: %v", victim.id, err)
		}
		leading := false
		for _, r := range rs {
			leading = leading || r.Leading
		}
		if !leading {
			stopped = time.Now()
		} else if time.Since(cut) > 2*chaosTTL {
			t.Fatalf("node %s still leads %s after being cut off from etcd", victim.id, time.Since(cut))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := stopped.Sub(cut); d >= chaosTTL {
		t.Errorf("node %s stopped leading %s after the cut, not before the session TTL (%s)", victim.id, d, chaosTTL)
	}
	deadline := time.Now().Add(60 * time.Second)
	for s, term := range led {
		w, at := wlog.waitAfterTerm(t, s, term, deadline, "cutting "+victim.id+" off", nil)
		t.Logf("partition: node %s cut off; stopped leading after %s; shard %d's next leader %s emitted after %s",
			victim.id, stopped.Sub(cut).Round(time.Millisecond), s, w.Leader, at.Sub(cut).Round(time.Millisecond))
		if at.Before(stopped) {
			t.Errorf("shard %d: the new leader emitted at %s, before the old one stopped at %s", s, at, stopped)
		}
	}
	for _, w := range wlog.all() {
		if w.w.Term == led[w.w.Shard] && w.at.After(stopped) {
			t.Errorf("shard %d: a window of the cut-off leader's term written after it stopped: %+v", w.w.Shard, w.w)
		}
	}
	victim.proxy.Restore()
	c.waitAllLed(obs, 90*time.Second)
}

// chaosProducer produces the fleet's traffic, a tick of the fleet (a
// second of event time) per 1/chaosTicksPer seconds while event time is
// behind the wall clock, and in real time once it has reached it, keeping
// the samples it produced. Its records are keyed by pod.
type chaosProducer struct {
	brokers  []string
	start    int64
	maxTicks int

	mu    sync.Mutex
	all   []sample.Sample
	ticks int
}

// run produces until done is closed (and at least a minute of event
// time), or maxTicks.
func (p *chaosProducer) run(ctx context.Context, done <-chan struct{}) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.DefaultProduceTopic("tumble-raw"))
	if err != nil {
		return err
	}
	defer cl.Close()
	g := loadgen.New(loadgen.Config{Seed: 9, StartMs: p.start, TickMs: 1000, RequestsPerPod: 10})
	tick := time.NewTicker(time.Second / chaosTicksPer)
	defer tick.Stop()
	over := false
	var batch []sample.Sample
	for n := 0; n < p.maxTicks && !(over && n >= 60); n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			over = true
		case <-tick.C:
		}
		// Never ahead of the wall clock.
		if wait := time.Until(time.UnixMilli(g.NowMs())); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		batch = g.Tick(batch[:0])
		var recs []*kgo.Record
		loadgen.PodRuns(batch, 0, func(pod string, run []sample.Sample) {
			recs = append(recs, fleetRecord([]byte(pod), run, n%2 == 0))
		})
		if n%40 == 0 {
			recs = append(recs, &kgo.Record{Key: []byte("bad"), Value: []byte(`{"name":"x","value":1}`)},
				&kgo.Record{Key: []byte("bad"), Value: []byte("\x0a\x05garbage")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce tick %d: %w", n, err)
		}
		p.mu.Lock()
		p.all = append(p.all, batch...)
		p.ticks++
		p.mu.Unlock()
	}
	return nil
}

func (p *chaosProducer) samples() ([]sample.Sample, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all, p.ticks
}

// malformed is the number of malformed records produced.
func (p *chaosProducer) malformed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return 2 * ((p.ticks + 39) / 40)
}

// windowLog follows the committed records of the window log.
type windowLog struct {
	mu   sync.Mutex
	recs []loggedWindow
}

type loggedWindow struct {
	w  windowlog.Window
	at time.Time // the record's timestamp: when its leader produced it
}

func (l *windowLog) follow(ctx context.Context, t *testing.T, broker string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics("tumble-windows"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			w, err := windowlog.Decode(r.Value)
			if err != nil {
				t.Errorf("window log record at %d/%d: %v", r.Partition, r.Offset, err)
				return
			}
			if w.Shard != r.Partition {
				t.Errorf("window of shard %d in partition %d", w.Shard, r.Partition)
			}
			l.mu.Lock()
			l.recs = append(l.recs, loggedWindow{w, r.Timestamp})
			l.mu.Unlock()
		})
	}
}

func (l *windowLog) all() []loggedWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// firstAfterTerm returns the first window of shard from a term after term.
func (l *windowLog) firstAfterTerm(shard int32, term int64) (windowlog.Window, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.w.Shard == shard && r.w.Term > term {
			return r.w, r.at, true
		}
	}
	return windowlog.Window{}, time.Time{}, false
}

// waitAfterTerm waits until the log has a window of shard from a term
// after term, calling each (if set) at every look, and returns it with its
// timestamp; at deadline it fails the test, naming after what.
func (l *windowLog) waitAfterTerm(t *testing.T, shard int32, term int64, deadline time.Time, after string, each func()) (windowlog.Window, time.Time) {
	t.Helper()
	for {
		if each != nil {
			each()
		}
		if w, at, ok := l.firstAfterTerm(shard, term); ok {
			return w, at
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard %d: no window from a new leader after %s", shard, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holds reports whether the log has at least as many windows as want.
func (l *windowLog) holds(want map[windowKey]windowlog.Window) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs) >= len(want)
}

type windowKey struct {
	shard      int32
	policy     string
	start, end int64
}

// replayShards returns the replay's points by shard, then by pointKey.
func replayShards(t *testing.T, rulesPath string, samples []sample.Sample) map[int32]map[string]replay.Point {
	t.Helper()
	out := map[int32]map[string]replay.Point{}
	for k, p := range replayPointsWith(t, rulesPath, samples, replay.Options{Shards: chaosShards}) {
		if out[*p.Shard] == nil {
			out[*p.Shard] = map[string]replay.Point{}
		}
		out[*p.Shard][k] = p
	}
	return out
}

// expectedWindows returns the record each window of want should have in
// the window log, but the leader, term and close time.
func expectedWindows(t *testing.T, want map[int32]map[string]replay.Point) map[windowKey]windowlog.Window {
	t.Helper()
	digests := map[windowKey]uint64{}
	out := map[windowKey]windowlog.Window{}
	for s, ps := range want {
		for _, p := range ps {
			ls := labels.FromMap(p.Labels)
			b := labels.NewBuilder(ls)
			b.Set(labels.MetricName, p.Name)
			var trace [16]byte
			var ev float64
			if p.Exemplar != nil && p.Exemplar.TraceID != "" {
				raw, err := hex.DecodeString(p.Exemplar.TraceID)
				if err != nil || len(raw) != 16 {
					t.Fatalf("trace ID %q: %v", p.Exemplar.TraceID, err)
				}
				copy(trace[:], raw)
				ev = float64(p.Exemplar.Value)
			}
			k := windowKey{s, p.Policy, p.WindowStartMs, p.WindowEndMs}
			digests[k] += windowlog.PointHash(b.Labels(), float64(p.Value), trace, ev)
			w := out[k]
			w.Shard, w.Policy, w.StartMs, w.EndMs = s, p.Policy, p.WindowStartMs, p.WindowEndMs
			w.Points++
			out[k] = w
		}
	}
	for k, d := range digests {
		w := out[k]
		w.Digest = strconv.FormatUint(d, 16)
		out[k] = w
	}
	return out
}

// compareWindows requires the log to hold every window of want once, with
// its points and digest, each shard's in the order they close.
func compareWindows(t *testing.T, want map[windowKey]windowlog.Window, log []loggedWindow) {
	t.Helper()
	seen := map[windowKey]windowlog.Window{}
	last := map[int32]windowlog.Window{}
	terms := map[int32]map[int64]bool{}
	bad := 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range log {
		w := r.w
		k := windowKey{w.Shard, w.Policy, w.StartMs, w.EndMs}
		if prev, dup := seen[k]; dup {
			fail("window emitted twice: %+v and %+v", prev, w)
			continue
		}
		seen[k] = w
		if l, ok := last[w.Shard]; ok && (w.CloseMs < l.CloseMs || w.Term < l.Term) {
			fail("shard %d: window %+v after %+v", w.Shard, w, l)
		}
		last[w.Shard] = w
		if terms[w.Shard] == nil {
			terms[w.Shard] = map[int64]bool{}
		}
		terms[w.Shard][w.Term] = true
		e, ok := want[k]
		switch {
		case !ok:
			fail("window in the log, not in the replay: %+v", w)
		case e.Points != w.Points || e.Digest != w.Digest:
			fail("window %+v: %d points, digest %s; the replay's: %d points, digest %s", k, w.Points, w.Digest, e.Points, e.Digest)
		}
	}
	for k := range want {
		if _, ok := seen[k]; !ok {
			fail("window missing from the log: %+v", k)
		}
	}
	if bad > 0 {
		t.Fatalf("%d differences between the window log (%d records) and the replay (%d windows)", bad, len(log), len(want))
	}
	t.Logf("window log: %d windows, each once, as the replay computed them; leader terms by shard: %v", len(log), termCounts(terms))
}

func termCounts(terms map[int32]map[int64]bool) map[int32]int {
	out := map[int32]int{}
	for s, ts := range terms {
		out[s] = len(ts)
	}
	return out
}

// storedPoints reads every point of the storage at dir, by pointKey.
func storedPoints(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	got, err := readStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readStorage reads every point of the storage at dir, under both policies
// of the example rules, by pointKey.
func readStorage(dir string) (map[string]float64, error) {
	db, err := storage.Open(dir, storage.Options{NoBackground: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	got := map[string]float64{}
	for _, pol := range []string{"10s:2d", "1m:40d"} {
		ss := q.Select(context.Background(), false, nil,
			labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"),
			labels.MustNewMatcher(labels.MatchEqual, storage.PolicyLabel, pol))
		for ss.Next() {
			s := ss.At()
			ls := s.Labels().Map()
			name := ls[labels.MetricName]
			delete(ls, labels.MetricName)
			it := s.Iterator(nil)
			for it.Next() == promchunkenc.ValFloat {
				ts, v := it.At()
				got[pointKey(name, ls, pol, ts)] = v
			}
			if err := it.Err(); err != nil {
				return nil, err
			}
		}
		if err := ss.Err(); err != nil {
			return nil, err
		}
	}
	return got, nil
}

// checkStatus requires st to show the settled cluster: three live members,
// each shard led, its output at the end of the workload, every replica
// reporting, caught up and able to lead.
func checkStatus(t *testing.T, st *clusterstatus.Report, closer int64) {
	t.Helper()
	if st.Shards != chaosShards || st.Replicas != 2 || len(st.Nodes) != 3 || len(st.Shard) != chaosShards {
		t.Errorf("cluster status: %d shards, %d replicas, %d nodes, %d shard rows", st.Shards, st.Replicas, len(st.Nodes), len(st.Shard))
	}
	for _, n := range st.Nodes {
		if !n.Member || !n.Registered || n.GRPCAddr == "" || n.HTTPAddr == "" {
			t.Errorf("cluster status: node %+v", n)
		}
	}
	for _, s := range st.Shard {
		if s.Leader == "" || s.Term == 0 || s.WatermarkMs == nil || *s.WatermarkMs < closer-3*60_000 || len(s.Replicas) != 2 {
			t.Errorf("cluster status: shard %+v", s)
		}
		leaders := 0
		for _, r := range s.Replicas {
			if r.Leading {
				leaders++
			}
			if r.Error != "" || r.State != "available" || !r.Leading && r.CanLead != "yes" || r.BehindSeconds == nil || *r.BehindSeconds != 0 {
				t.Errorf("cluster status: shard %d replica %+v", s.Shard, r)
			}
		}
		if leaders != 1 {
			t.Errorf("cluster status: shard %d has %d leading replicas", s.Shard, leaders)
		}
	}
}
