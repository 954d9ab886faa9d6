package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/shard/leader"
	"github.com/tumblemetrics/tumble/shard/placement"
	"github.com/tumblemetrics/tumble/shard/replica"
	"github.com/tumblemetrics/tumble/storage"
)

// clusterShard is this node's replica of one shard of a cluster: its own
// storage, the replica that fills it from the shard partition, the windows
// it closed that the shard's output may not hold yet, and its leadership.
type clusterShard struct {
	id       int32
	db       *storage.DB
	rep      *replica.Replica
	retained *leader.Retained
	emitter  *windowlog.Emitter
	lead     *leader.Shard
	// state is the replica's state in the placement as last seen.
	state atomic.Pointer[placement.State]

	cancel context.CancelFunc
	done   chan struct{} // closed when the shard's goroutines have ended
}

// openClusterShard opens the storage of shard id under the node's data
// directory and builds its replica and leadership; start runs them.
func (c *clusterNode) openShard(id int32, state placement.State) (_ *clusterShard, err error) {
	cs := &clusterShard{id: id, done: make(chan struct{})}
	cs.state.Store(&state)
	defer func() {
		if err != nil {
			cs.close()
		}
	}()
	dir := filepath.Join(c.cfg.DataDir, fmt.Sprintf("shard-%d", id))
	log := c.log.With("shard", id)
	if cs.db, err = storage.Open(filepath.Join(dir, "tsdb"), storage.Options{Logger: log}); err != nil {
		return nil, err
	}
	log.Info("shard storage opened", "startup", cs.db.Startup().String(), "state", state)
	cs.rep, err = replica.New(replica.Options{Shard: id, Shards: int32(c.cfg.Shards), DB: cs.db, Dir: filepath.Join(dir, "checkpoints"),
		Aggregator: aggregator.Options{Lateness: c.cfg.Lateness, OnLate: c.candidates.lateHook(id, func() bool { return cs.lead.Leading() })}, Logger: c.log,
		OnFlush:   c.metrics.onFlush(int(id)),
		OnWindows: func(emitted int64, ws []windowlog.Window) { cs.retained.Add(emitted, ws) },
		OnCandidates: func(sels []selection.Selection) {
			if cs.lead.Leading() {
				c.candidates.publish(sels)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	// The replica reports the windows it closes from where it resumes;
	// those it closed before, its file keeps.
	cs.retained = leader.OpenRetained(leader.RetainedPath(dir), cs.rep.Stats().Watermark, log)
	if cs.emitter, err = windowlog.NewEmitter(c.cfg.Kafka.WindowTopic, c.cfg.Kafka.SelectionTopic, id, c.kopts...); err != nil {
		return nil, fmt.Errorf("shard %d: window log: %w", id, err)
	}
	cs.lead, err = leader.NewShard(leader.ShardOptions{
		Client: c.cli, Prefix: c.cfg.Cluster.Prefix, Shard: id, Node: c.cfg.Cluster.Node,
		Emitter: cs.emitter, Windows: cs.retained, MaxLag: c.cfg.Cluster.MaxLag, Logger: c.log,
		Replica: func() (bool, int64) { return *cs.state.Load() != placement.Initializing, cs.rep.Published().Lag },
		OnLead: func(term, from int64) {
			log.Info("leading the shard", "term", term, "resume_after_ms", from)
		},
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// start runs the replica and its leadership until stop; an error of
// either that is not the stop's goes to fail.
func (cs *clusterShard) start(ctx context.Context, shardTopic string, kopts []kgo.Opt, sessions *leader.Sessions, fail func(error)) {
	ctx, cs.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := cs.rep.Run(ctx, shardTopic, kopts...); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("replica of shard %d: %w", cs.id, err))
		}
	})
	wg.Go(func() {
		if err := cs.lead.Run(ctx, sessions.Get); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("leadership of shard %d: %w", cs.id, err))
		}
	})
	go func() {
		wg.Wait()
		close(cs.done)
	}()
}

// stop ends the shard's goroutines, if started, and closes what it opened.
func (cs *clusterShard) stop() error {
	if cs.cancel != nil {
		cs.cancel()
		<-cs.done
	}
	return cs.close()
}

func (cs *clusterShard) close() error {
	var errs []error
	if cs.emitter != nil {
		cs.emitter.Close()
	}
	if cs.retained != nil {
		errs = append(errs, cs.retained.Save())
	}
	if cs.db != nil {
		errs = append(errs, cs.db.Close())
	}
	return errors.Join(errs...)
}

// serving reports whether queries may read the replica: one catching up
// in a hand-over does not hold every window yet.
func (cs *clusterShard) serving() bool { return *cs.state.Load() != placement.Initializing }
