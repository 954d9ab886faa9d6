package leader

import (
	"context"
	"time"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// emitter writes a batch of windows to a shard's window log in one
// transaction, which commits only if valid still says yes.
type emitter interface {
	Emit(ctx context.Context, ws []windowlog.Window, valid func() bool) error
}

var _ emitter = (*windowlog.Emitter)(nil)

// boundFunc runs one write of the output, write, bounded as its writer
// must bound it; it may refuse to run it and return why.
type boundFunc func(ctx context.Context, write func(context.Context) error) error

// unbounded runs the write as it is: a lone node has no lease.
func unbounded(ctx context.Context, write func(context.Context) error) error { return write(ctx) }

// leaseBound returns the bound of a leader's writes: a write starts only
// while the lease is valid (else errLeaseLost) and its context ends when
// the lease may end.
func leaseBound(lease *Lease) boundFunc {
	return func(ctx context.Context, write func(context.Context) error) error {
		if !lease.Valid() {
			return errLeaseLost
		}
		return untilLeaseEnds(ctx, lease, write)
	}
}

// emitLoop is the output loop of a writer that holds a shard's window log:
// Solo.Run after it resumes, Shard.lead after it takes over. Each time
// the replica's emitted watermark passes from, it takes the retained
// windows in (from, emitted], stamps them, emits them in one transaction,
// calls emitted, moves from up and advances; then it waits for the next
// window, the wake-up timer or the end of ctx.
//
// The funcs are the parts in which a lone node and a cluster leader
// differ. run calls them from its own goroutine only, one at a time; an
// emitLoop is run by one goroutine at a time.
type emitLoop struct {
	windows *Retained
	emitter emitter
	// stamp marks a batch as the writer's before it is written.
	stamp func(ws []windowlog.Window)
	// bound runs the write of each batch.
	bound boundFunc
	// valid is asked by each transaction before it commits.
	valid func() bool
	// emitted, if set, is told that the batch ws is in the log and the
	// output stands at upto, before run moves past it: a leader records
	// its mark here. An error ends run.
	emitted func(ctx context.Context, ws []windowlog.Window, upto int64) error
	// advance is told that the output stands at upto: the windows up to
	// it may be forgotten.
	advance func(upto int64)
	// wake, if set, returns how long to wait for a window before looking
	// again; an error ends run. Without it run waits for a window or the
	// end of ctx.
	wake func() (time.Duration, error)
}

// run emits the windows closing after from until ctx ends, when it
// returns ctx.Err(), or until a write, emitted or wake fails, when it
// returns that error.
func (l *emitLoop) run(ctx context.Context, from int64) error {
	for {
		if _, emitted := l.windows.State(); emitted > from {
			ws := l.windows.Between(from, emitted)
			l.stamp(ws)
			err := l.bound(ctx, func(ctx context.Context) error {
				return l.emitter.Emit(ctx, ws, l.valid)
			})
			if err != nil {
				return err
			}
			if l.emitted != nil {
				if err := l.emitted(ctx, ws, emitted); err != nil {
					return err
				}
			}
			from = emitted
			l.advance(from)
		}
		if err := l.wait(ctx); err != nil {
			return err
		}
	}
}

// wait returns when a window may have closed or the wake-up timer fires,
// with ctx.Err() when ctx ends.
func (l *emitLoop) wait(ctx context.Context) error {
	var timeout <-chan time.Time
	if l.wake != nil {
		d, err := l.wake()
		if err != nil {
			return err
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.windows.Notify():
	case <-timeout:
	}
	return nil
}

// markDue reports whether a leader writes the shard's mark after a batch
// of n windows at now, having written it last at lastMark: after every
// batch with windows, and otherwise at most once every every.
func markDue(n int, now, lastMark time.Time, every time.Duration) bool {
	return n > 0 || now.Sub(lastMark) >= every
}

// recordEnds raises ends, the end of the last window emitted per storage
// policy, to the windows in ws.
func recordEnds(ends map[string]int64, ws []windowlog.Window) {
	for i := range ws {
		ends[ws[i].Policy] = max(ends[ws[i].Policy], ws[i].EndMs)
	}
}

// leaseWait returns how long a leader waits at now for a window before it
// looks again: until its lease may end (until) or every, whichever comes
// first. ok is false when the lease may have ended already.
func leaseWait(until, now time.Time, every time.Duration) (wait time.Duration, ok bool) {
	wait = until.Sub(now)
	if wait <= 0 {
		return 0, false
	}
	return min(wait, every), true
}
