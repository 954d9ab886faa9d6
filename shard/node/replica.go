package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/shard/leader"
	"github.com/tumblemetrics/tumble/shard/placement"
	"github.com/tumblemetrics/tumble/shard/replica"
	"github.com/tumblemetrics/tumble/storage"
)

// shardReplica is the node's replica of one shard, built alike alone and
// in a cluster: its own storage, the replica that fills it from the shard
// partition, the windows it closed that the shard's output may not hold
// yet, the emitter of that output, and what decides when it writes: a
// leader.Solo alone, the shard's leadership (leader.Shard) in a cluster.
type shardReplica struct {
	id       int32
	db       *storage.DB
	rep      *replica.Replica
	retained *leader.Retained
	emitter  *windowlog.Emitter
	solo     *leader.Solo  // alone
	lead     *leader.Shard // in a cluster
	// state is the replica's state in the placement as last seen; ""
	// alone. Only the goroutine that applies placements stores it.
	state atomic.Pointer[placement.State]

	cancel context.CancelFunc
	done   chan struct{} // closed when the replica's goroutines have ended
}

// openReplica opens the storage of shard id under the node's data
// directory and builds its replica and output, led by the cluster's
// election (c) or alone (c nil); start runs them.
func (n *Node) openReplica(id int32, state placement.State, c *cluster) (_ *shardReplica, err error) {
	r := &shardReplica{id: id, done: make(chan struct{})}
	r.state.Store(&state)
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	dir := filepath.Join(n.opts.DataDir, fmt.Sprintf("shard-%d", id))
	log := n.log.With("shard", id)
	if r.db, err = storage.Open(filepath.Join(dir, "tsdb"), storage.Options{Logger: log}); err != nil {
		return nil, err
	}
	log.Info("shard storage opened", "startup", r.db.Startup().String(), "state", state)
	r.rep, err = replica.New(replica.Options{Shard: id, Shards: int32(n.opts.Shards), DB: r.db, Dir: filepath.Join(dir, "checkpoints"),
		Aggregator: aggregator.Options{Lateness: n.opts.Lateness, OnLate: n.side.lateHook(id, r.leading)}, Logger: n.log,
		OnFlush:   n.metrics.onFlush(id),
		OnWindows: func(emitted int64, ws []windowlog.Window) { r.retained.Add(emitted, ws) },
		OnCandidates: func(sels []selection.Selection) {
			if r.leading() {
				n.side.publish(sels)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	// The replica reports the windows it closes from where it resumes;
	// those it closed before, its file keeps.
	r.retained = leader.OpenRetained(leader.RetainedPath(dir), r.rep.Stats().Watermark, log)
	k := n.opts.Kafka
	if r.emitter, err = windowlog.NewEmitter(k.WindowTopic, k.SelectionTopic, id, k.Client...); err != nil {
		return nil, fmt.Errorf("shard %d: window log: %w", id, err)
	}
	if c == nil {
		r.solo = &leader.Solo{Emitter: r.emitter, Windows: r.retained, Node: n.opts.ID, Logger: log}
		return r, nil
	}
	r.lead, err = leader.NewShard(leader.ShardOptions{
		Client: c.cli, Prefix: c.opts.Prefix, Shard: id, Node: c.opts.Node,
		Emitter: r.emitter, Windows: r.retained, MaxLag: c.opts.MaxLag, Logger: n.log,
		Replica: func() (bool, int64) { return r.serving(), r.rep.Published().Lag },
		OnLead: func(term, from int64) {
			log.Info("leading the shard", "term", term, "resume_after_ms", from)
		},
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// leading reports whether the replica writes the shard's output now: a
// lone node's always does.
func (r *shardReplica) leading() bool { return r.lead == nil || r.lead.Leading() }

// serving reports whether queries may read the replica (and whether it may
// lead): one catching up in a hand-over does not hold every window yet.
func (r *shardReplica) serving() bool { return *r.state.Load() != placement.Initializing }

// start runs the replica and its output until stop, reading the shard
// topic through n's clients; an error of either that is not the stop's
// goes to fail. sessions gives a cluster's leadership the node's session.
func (r *shardReplica) start(ctx context.Context, n *Node, sessions *leader.Sessions, fail func(error)) {
	ctx, r.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.rep.Run(ctx, n.opts.Kafka.ShardTopic, n.opts.Kafka.Client...); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("replica of shard %d: %w", r.id, err))
		}
	})
	wg.Go(func() {
		var err error
		if r.solo != nil {
			err = r.solo.Run(ctx)
		} else {
			err = r.lead.Run(ctx, sessions.Get)
		}
		if err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("output of shard %d: %w", r.id, err))
		}
	})
	go func() {
		wg.Wait()
		close(r.done)
	}()
}

// stop ends the replica's goroutines, if started, and closes what it
// opened.
func (r *shardReplica) stop() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	return r.close()
}

func (r *shardReplica) close() error {
	var errs []error
	if r.emitter != nil {
		r.emitter.Close()
	}
	if r.retained != nil {
		errs = append(errs, r.retained.Save())
	}
	if r.db != nil {
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}
