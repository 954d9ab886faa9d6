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
	shards map[int32]map[string]observed // by shard, the keys under <prefix>/shards/<n>/
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
		retry: 500 * time.Millisecond, shards: map[int32]map[string]observed{}}
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
	o.mu.Lock()
	o.shards, o.synced = map[int32]map[string]observed{}, true
	for _, kv := range resp.Kvs {
		o.put(string(kv.Key), observed{create: kv.CreateRevision, value: kv.Value})
	}
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
				o.delete(string(ev.Kv.Key))
			} else {
				o.put(string(ev.Kv.Key), observed{create: ev.Kv.CreateRevision, value: ev.Kv.Value})
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

// shardOf splits a key under the prefix into its shard and the rest
// ("watermark", "leader/<lease>").
func (o *Observer) shardOf(key string) (int32, string, bool) {
	num, rest, _ := strings.Cut(strings.TrimPrefix(key, o.prefix), "/")
	s, err := strconv.ParseInt(num, 10, 32)
	return int32(s), rest, err == nil && s >= 0
}

func (o *Observer) put(key string, kv observed) {
	s, _, ok := o.shardOf(key)
	if !ok {
		return
	}
	if o.shards[s] == nil {
		o.shards[s] = map[string]observed{}
	}
	o.shards[s][key] = kv
}

func (o *Observer) delete(key string) {
	if s, _, ok := o.shardOf(key); ok {
		delete(o.shards[s], key)
	}
}

// Shard returns the view of shard as last observed.
func (o *Observer) Shard(shard int32) View {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.view(shard)
}

// Shards returns the views of shards 0 to n-1 as last observed.
func (o *Observer) Shards(n int) []View {
	o.mu.Lock()
	defer o.mu.Unlock()
	views := make([]View, n)
	for i := range views {
		views[i] = o.view(int32(i))
	}
	return views
}

func (o *Observer) view(shard int32) View {
	v := View{Shard: shard, Mark: Mark{Watermark: math.MinInt64}}
	type cand struct {
		create int64
		node   string
	}
	var cands []cand
	for key, kv := range o.shards[shard] {
		_, what, _ := o.shardOf(key)
		switch {
		case what == "watermark":
			if m, err := parseMark(shard, kv.value); err == nil {
				v.Mark = m
			}
		case strings.HasPrefix(what, "leader/"):
			cands = append(cands, cand{kv.create, string(kv.value)})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.create, b.create) })
	for _, c := range cands {
		v.Candidates = append(v.Candidates, c.node)
	}
	if len(cands) > 0 {
		v.Leader, v.Term = cands[0].node, cands[0].create
	}
	return v
}
