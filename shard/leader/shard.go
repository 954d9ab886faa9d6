package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// ShardOptions configures the leadership of one replica of one shard.
type ShardOptions struct {
	Client *clientv3.Client
	// Prefix is the cluster's key prefix in etcd, e.g. "/tumble".
	Prefix string
	Shard  int32
	// Node names this replica's node in the election and the output.
	Node string
	// Emitter writes the shard's window log; the leadership owns it.
	Emitter *windowlog.Emitter
	// Windows is fed by the replica (replica.Options.OnWindows).
	Windows *Retained
	// Replica returns whether the placement lets the replica lead and
	// how many records of the partition it has not read. Any goroutine
	// may call it.
	Replica func() (eligible bool, lag int64)
	// MaxLag is the most records a replica may be behind to campaign;
	// 0 means 100000.
	MaxLag int64
	// MarkEvery is the least time between two writes of the watermark
	// when no window closed in between; 0 means 1s.
	MarkEvery time.Duration
	// Poll is how often a replica that cannot lead looks again; 0 means
	// 200ms.
	Poll   time.Duration
	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger
	// OnLead, if set, is told each time this replica starts leading, with
	// its term and where its output resumes.
	OnLead func(term, from int64)
}

// Status is a replica's view of its shard's leadership; any goroutine may
// read it through Shard.Status.
type Status struct {
	Shard   int32  `json:"shard"`
	Leading bool   `json:"leading"`
	Term    int64  `json:"term,omitempty"`
	Mark    int64  `json:"watermark"` // the flush watermark as last seen
	Emitted int64  `json:"emitted"`   // the replica's own
	CanLead string `json:"canLead"`   // "yes", or why not
	// Retained counts the windows kept for a takeover.
	Retained int `json:"retained"`
}

// Shard is the leadership of one replica of one shard: it campaigns when
// the replica can lead, and while it leads, emits the windows the replica
// closes to the window log, in order, once, and advances the shard's flush
// watermark, all fenced by its election term and its lease.
type Shard struct {
	opts   ShardOptions
	mark   atomic.Int64
	status atomic.Pointer[Status]
}

// NewShard returns the leadership of opts.Shard; Run runs it.
func NewShard(opts ShardOptions) (*Shard, error) {
	if opts.Client == nil || opts.Emitter == nil || opts.Windows == nil || opts.Replica == nil || opts.Node == "" {
		return nil, fmt.Errorf("leader of shard %d: Client, Emitter, Windows, Replica and Node are required", opts.Shard)
	}
	if opts.MaxLag == 0 {
		opts.MaxLag = 100_000
	}
	if opts.MarkEvery == 0 {
		opts.MarkEvery = time.Second
	}
	if opts.Poll == 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shard{opts: opts}
	s.mark.Store(minMark)
	s.setStatus(false, 0, "not started")
	return s, nil
}

const minMark = -1 << 63

// Status returns the leadership's last published status.
func (s *Shard) Status() Status {
	st := *s.status.Load()
	_, emitted := s.opts.Windows.State()
	st.Emitted, st.Mark, st.Retained = emitted, s.mark.Load(), s.opts.Windows.Len()
	return st
}

// Leading reports whether the replica leads the shard now.
func (s *Shard) Leading() bool { return s.status.Load().Leading }

func (s *Shard) setStatus(leading bool, term int64, canLead string) {
	s.status.Store(&Status{Shard: s.opts.Shard, Leading: leading, Term: term, CanLead: canLead})
}

// replica returns what CanLead needs.
func (s *Shard) replica() Replica {
	from, emitted := s.opts.Windows.State()
	eligible, lag := s.opts.Replica()
	return Replica{Eligible: eligible, Emitted: emitted, RetainedFrom: from, Lag: lag}
}

// Run campaigns and leads until ctx ends; session returns the node's live
// session, waiting for one if need be. Run owns a goroutine that follows
// the shard's watermark, and waits for it.
func (s *Shard) Run(ctx context.Context, session func(context.Context) (*Session, error)) error {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.followMark(wctx)
	}()
	defer func() { stop(); <-done }()
	log := s.opts.Logger.With("shard", s.opts.Shard)
	for ctx.Err() == nil {
		sess, err := session(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !s.waitCanLead(ctx, sess) {
			continue
		}
		// Campaign and lead for as long as the session lives.
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
			case <-cctx.Done():
			}
			cancel()
		}()
		el := concurrency.NewElection(sess.cs, ElectionKey(s.opts.Prefix, s.opts.Shard))
		err = el.Campaign(cctx, s.opts.Node)
		if err == nil {
			err = s.lead(cctx, sess, el)
			s.setStatus(false, 0, "stepped down")
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
			if rerr := el.Resign(rctx); rerr != nil && sess.Lease().Valid() {
				log.Warn("resign the shard's leadership", "err", rerr)
			}
			rcancel()
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("shard leadership ended", "err", err)
	}
	return nil
}

// waitCanLead returns true once the replica can lead the shard at the
// watermark last seen, false when the session ends or ctx does.
func (s *Shard) waitCanLead(ctx context.Context, sess *Session) bool {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		err := CanLead(s.replica(), s.mark.Load(), s.opts.MaxLag)
		if err == nil {
			s.setStatus(false, 0, "yes")
			return true
		}
		s.setStatus(false, 0, err.Error())
		select {
		case <-ctx.Done():
			return false
		case <-sess.Done():
			return false
		case <-t.C:
		}
	}
}

// followMark keeps s.mark at the shard's watermark in etcd and lets the
// replica forget the windows the output holds.
func (s *Shard) followMark(ctx context.Context) {
	key := MarkKey(s.opts.Prefix, s.opts.Shard)
	for ctx.Err() == nil {
		resp, err := s.opts.Client.Get(ctx, key)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(s.opts.Poll):
			}
			continue
		}
		if len(resp.Kvs) > 0 {
			if m, err := parseMark(s.opts.Shard, resp.Kvs[0].Value); err == nil {
				s.seeMark(m.Watermark)
			}
		}
		// Watch from just after the read: no write in between is missed.
		wch := s.opts.Client.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithRev(resp.Header.Revision+1))
		for resp := range wch {
			for _, ev := range resp.Events {
				if m, err := parseMark(s.opts.Shard, ev.Kv.Value); err == nil {
					s.seeMark(m.Watermark)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.opts.Poll):
		}
	}
}

func (s *Shard) seeMark(wm int64) {
	for {
		old := s.mark.Load()
		if wm <= old || s.mark.CompareAndSwap(old, wm) {
			break
		}
	}
	s.opts.Windows.Prune(s.mark.Load())
}

// errLeaseLost ends a leadership whose lease may have run out.
var errLeaseLost = errors.New("leader: the lease may have run out")

// lead emits the replica's windows as the shard's leader until ctx ends
// or a write is fenced.
func (s *Shard) lead(ctx context.Context, sess *Session, el *concurrency.Election) error {
	term, key, lease := el.Rev(), el.Key(), sess.Lease()
	log := s.opts.Logger.With("shard", s.opts.Shard, "term", term)
	// Taking over ends when the lease may end, as every write does.
	var (
		logLast int64
		mark    Mark
	)
	err := untilLeaseEnds(ctx, lease, func(ctx context.Context) error {
		if err := s.opts.Emitter.Fence(ctx); err != nil {
			return err
		}
		var err error
		if logLast, err = s.opts.Emitter.Last(ctx); err != nil {
			return err
		}
		mark, err = ReadMark(ctx, s.opts.Client, s.opts.Prefix, s.opts.Shard)
		return err
	})
	if err != nil {
		return err
	}
	from := Resume(mark.Watermark, logLast)
	// The output stands at from whatever this replica can do: it waits
	// for its own windows to get there before it campaigns again.
	s.seeMark(from)
	if err := CanLead(s.replica(), from, s.opts.MaxLag); err != nil {
		return err
	}
	ends := maps.Clone(mark.Windows)
	if ends == nil {
		ends = map[string]int64{}
	}
	s.setStatus(true, term, "yes")
	log.Info("leading the shard", "from", from, "watermark", mark.Watermark, "log_last", logLast)
	if s.opts.OnLead != nil {
		s.opts.OnLead(term, from)
	}
	bound := leaseBound(lease)
	lastMark := s.opts.Now()
	loop := emitLoop{
		windows: s.opts.Windows,
		emitter: s.opts.Emitter,
		stamp: func(ws []windowlog.Window) {
			for i := range ws {
				ws[i].Leader, ws[i].Term = s.opts.Node, term
			}
			recordEnds(ends, ws)
		},
		bound: bound,
		valid: lease.Valid,
		// The mark follows each batch with windows; a watermark that
		// moved with no window closing is recorded at most every
		// MarkEvery.
		emitted: func(ctx context.Context, ws []windowlog.Window, upto int64) error {
			if !markDue(len(ws), s.opts.Now(), lastMark, s.opts.MarkEvery) {
				return nil
			}
			m := Mark{Watermark: upto, Windows: ends, Leader: s.opts.Node, Term: term}
			err := bound(ctx, func(ctx context.Context) error {
				return writeMark(ctx, s.opts.Client, s.opts.Prefix, s.opts.Shard, key, m)
			})
			if err != nil {
				return err
			}
			lastMark = s.opts.Now()
			return nil
		},
		advance: s.seeMark,
		wake: func() (time.Duration, error) {
			wait, ok := leaseWait(lease.Until(), s.opts.Now(), s.opts.MarkEvery)
			if !ok {
				return 0, errLeaseLost
			}
			return wait, nil
		},
	}
	return loop.run(ctx, from)
}

// untilLeaseEnds runs f with a context that ends when the lease may end: a
// leader cut off from etcd gives up every write before etcd can elect
// another.
func untilLeaseEnds(ctx context.Context, lease *Lease, f func(context.Context) error) error {
	ctx, cancel := context.WithDeadline(ctx, lease.Until())
	defer cancel()
	return f(ctx)
}
