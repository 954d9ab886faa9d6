package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// Solo is the output of a shard that has one replica and no election: a
// node that runs without a cluster. It emits the windows the replica
// closes (and their trace selections) to the window log once, as a leader
// does: at start it claims the log, resumes after the last window its
// predecessor (the node before a restart) committed, and then emits each
// batch of windows in a transaction.
type Solo struct {
	Emitter *windowlog.Emitter
	Windows *Retained
	// Node names the node in the records it writes.
	Node   string
	Logger *slog.Logger
	// Retry is the wait after a failed write; 0 means 1s.
	Retry time.Duration
}

// Run emits until ctx ends. It returns an error only when another writer
// fenced the shard's log: two nodes that each think they are alone. One
// goroutine, the owner of the shard's output, calls it, once at a time.
func (s *Solo) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retry := s.Retry
	if retry == 0 {
		retry = time.Second
	}
	loop := emitLoop{
		windows: s.Windows,
		emitter: s.Emitter,
		stamp: func(ws []windowlog.Window) {
			for i := range ws {
				ws[i].Leader = s.Node
			}
		},
		bound:   unbounded,
		valid:   func() bool { return true },
		advance: s.Windows.Prune,
	}
	for ctx.Err() == nil {
		from, err := s.resume(ctx, log)
		if err == nil {
			err = loop.run(ctx, from)
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, windowlog.ErrFenced) {
			return fmt.Errorf("the window log took another writer's output: is another node running alone on these topics? %w", err)
		}
		log.Warn("emit windows; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
	return nil
}

// resume claims the log and returns the close time after which it emits.
func (s *Solo) resume(ctx context.Context, log *slog.Logger) (int64, error) {
	if err := s.Emitter.Fence(ctx); err != nil {
		return 0, err
	}
	last, err := s.Emitter.Last(ctx)
	if err != nil {
		return 0, err
	}
	if retainedFrom, _ := s.Windows.State(); last < retainedFrom {
		log.Warn("the window log ends before the windows this replica holds: the windows in between are not emitted",
			"log_last", last, "retained_from", retainedFrom)
	}
	from := max(last, minMark)
	s.Windows.Prune(from)
	return from, nil
}
