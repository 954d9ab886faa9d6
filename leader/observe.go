package leader

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// View is what etcd says of one shard's leadership: who leads, with which
// term, and where its output stands.
type View struct {
	Shard int32 `json:"shard"`
	// Leader is the node of the election key with the lowest creation
	// revision (the one that won), "" when no replica campaigns.
	Leader string `json:"leader,omitempty"`
	Term   int64  `json:"term,omitempty"`
	// Candidates are the nodes campaigning, the leader first, in the
	// order they would take over.
	Candidates []string `json:"candidates,omitempty"`
	// Mark is the shard's flush watermark; Mark.Watermark is
	// math.MinInt64 when no leader has recorded one.
	Mark Mark `json:"mark"`
}

// Observer follows the leaderships and flush watermarks of every shard of
// a cluster, for a node that routes queries to leaders and reports status.
// Run keeps it up to date; any goroutine may read it.
type Observer struct {
	cli    *clientv3.Client
	prefix string // <prefix>/shards/
	log    *slog.Logger
	retry  time.Duration

	mu     sync.Mutex
	synced bool
	keys   map[string]observed
}

type observed struct {
	create int64
	value  []byte
}

// NewObserver returns an observer of the shards under prefix; nil logger
// discards.
func NewObserver(cli *clientv3.Client, prefix string, log *slog.Logger) *Observer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Observer{cli: cli, prefix: strings.TrimSuffix(prefix, "/") + "/shards/", log: log,
		retry: 500 * time.Millisecond, keys: map[string]observed{}}
}

// Run reads every shard's keys and follows their changes until ctx ends;
// it reads them all again after a watch breaks (etcd unreachable, history
// compacted).
func (o *Observer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := o.load(ctx)
		if err == nil {
			o.follow(ctx, rev+1)
		} else if ctx.Err() == nil {
			o.log.Debug("read the shards' leaderships", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.retry):
		}
	}
}

func (o *Observer) load(ctx context.Context) (int64, error) {
	resp, err := o.cli.Get(clientv3.WithRequireLeader(ctx), o.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	keys := make(map[string]observed, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys[string(kv.Key)] = observed{create: kv.CreateRevision, value: kv.Value}
	}
	o.mu.Lock()
	o.keys, o.synced = keys, true
	o.mu.Unlock()
	return resp.Header.Revision, nil
}

func (o *Observer) follow(ctx context.Context, from int64) {
	wch := o.cli.Watch(clientv3.WithRequireLeader(ctx), o.prefix, clientv3.WithPrefix(), clientv3.WithRev(from))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			o.log.Debug("watch the shards' leaderships", "err", err)
			return
		}
		o.mu.Lock()
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(o.keys, string(ev.Kv.Key))
			} else {
				o.keys[string(ev.Kv.Key)] = observed{create: ev.Kv.CreateRevision, value: ev.Kv.Value}
			}
		}
		o.mu.Unlock()
	}
}

// Synced reports whether the observer has read the shards' keys once.
func (o *Observer) Synced() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.synced
}

// Shard returns the view of shard as last observed.
func (o *Observer) Shard(shard int32) View {
	return o.Shards(int(shard) + 1)[shard]
}

// Shards returns the views of shards 0 to n-1 as last observed.
func (o *Observer) Shards(n int) []View {
	views := make([]View, n)
	type cand struct {
		create int64
		node   string
	}
	cands := make([][]cand, n)
	for i := range views {
		views[i] = View{Shard: int32(i), Mark: Mark{Watermark: math.MinInt64}}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for key, kv := range o.keys {
		rest := strings.TrimPrefix(key, o.prefix)
		num, what, _ := strings.Cut(rest, "/")
		s, err := strconv.Atoi(num)
		if err != nil || s < 0 || s >= n {
			continue
		}
		switch {
		case what == "watermark":
			if m, err := parseMark(int32(s), kv.value); err == nil {
				views[s].Mark = m
			}
		case strings.HasPrefix(what, "leader/"):
			cands[s] = append(cands[s], cand{kv.create, string(kv.value)})
		}
	}
	for s, cs := range cands {
		slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(a.create, b.create) })
		for _, c := range cs {
			views[s].Candidates = append(views[s].Candidates, c.node)
		}
		if len(cs) > 0 {
			views[s].Leader, views[s].Term = cs[0].node, cs[0].create
		}
	}
	return views
}
