package fanout

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// localBatch is how many series of a local replica are passed on at a time.
const localBatch = 256

// selectCall is one Select over every shard: what each shard is asked, and
// the bound on how many are read at once.
type selectCall struct {
	q     *querier
	req   *fanoutpb.SelectRequest // without Shard and After, which each attempt sets
	hints *promstorage.SelectHints
	ms    []*labels.Matcher
	sem   chan struct{}
}

// acquire takes one of the Concurrency slots of the call; a shard
// holds one while it waits for a message of its replica or reads its local
// one, never while it waits for the reader of its series.
func (sc *selectCall) acquire(ctx context.Context) error {
	select {
	case sc.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sc *selectCall) release() { <-sc.sem }

// read passes the series of shard to s, from one replica after the other
// until one has sent them all: a replica that fails part way is followed by
// the next, which sends the series after the last one passed on. If none
// can, the shard ends with an *UnavailableError among its warnings. read
// closes s.ch when it returns.
func (sc *selectCall) read(ctx context.Context, shard int32, s *shardSet) {
	defer close(s.ch)
	qy := sc.q.q
	var (
		last   labels.Labels // the last series passed on
		failed []ReplicaError
	)
	for _, r := range qy.replicas(shard) {
		var (
			ann annotations.Annotations
			err error
		)
		if r.local != nil {
			ann, err = sc.readLocal(ctx, r.local, s, &last)
		} else {
			ann, err = sc.readRemote(ctx, shard, r.ep.Addr, s, &last)
		}
		if err == nil {
			s.warnings = ann
			return
		}
		if ctxErr := ended(ctx); ctxErr != nil {
			s.err = ctxErr
			return
		}
		if final(err) {
			s.err = err
			return
		}
		var resume []any
		if !last.IsEmpty() {
			resume = []any{"resume_after", last.String()}
		}
		failed = append(failed, qy.giveUp(shard, r, err, resume...))
	}
	s.warnings.Add(&UnavailableError{Shard: shard, Partial: !last.IsEmpty(), Replicas: failed})
}

// readRemote reads the series after *last from the replica at addr,
// passing them on to s and moving *last as it does; it returns the
// replica's annotations once it has passed on them all.
func (sc *selectCall) readRemote(ctx context.Context, shard int32, addr string, s *shardSet, last *labels.Labels) (annotations.Annotations, error) {
	qy := sc.q.q
	c, err := qy.client(addr)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(qy.opts.AttemptTimeout, func() { cancel(errNoAnswer) })
	timer.Stop()
	defer timer.Stop()
	attemptErr := func(err error) error {
		if errors.Is(context.Cause(actx), errNoAnswer) && ctx.Err() == nil {
			return qy.timeoutError()
		}
		return err
	}

	req := &fanoutpb.SelectRequest{
		Shard:    shard,
		Mint:     sc.req.Mint,
		Maxt:     sc.req.Maxt,
		Matchers: sc.req.Matchers,
		Hints:    sc.req.Hints,
		NoPoints: sc.req.NoPoints,
	}
	if !last.IsEmpty() {
		req.After = labelsToPB(*last)
	}
	var (
		stream  fanoutpb.Query_SelectClient
		b       labels.ScratchBuilder
		prev    = *last // the last series received, for the order check
		pending *floatSeries
		ann     annotations.Annotations
	)
	for {
		if err := sc.acquire(ctx); err != nil {
			return nil, err
		}
		timer.Reset(qy.opts.AttemptTimeout)
		var msg *fanoutpb.SelectResponse
		err = nil
		if stream == nil {
			stream, err = c.Select(actx, req)
		}
		if err == nil {
			msg, err = stream.Recv()
		}
		timer.Stop()
		sc.release()
		if err == io.EOF {
			if pending != nil {
				return nil, &errProtocol{"stream ended inside series " + pending.lset.String()}
			}
			return ann, nil
		}
		if err != nil {
			return nil, attemptErr(err)
		}
		batch := make([]promstorage.Series, 0, len(msg.GetSeries()))
		n := 0
		for _, ps := range msg.GetSeries() {
			n += len(ps.GetTimestamps())
		}
		arena := make([]fpoint, 0, n) // the points of the message's series
		for _, ps := range msg.GetSeries() {
			if pending == nil {
				if len(ps.GetLabels()) == 0 {
					return nil, &errProtocol{"series without labels"}
				}
				ls := labelsFromPB(&b, ps.GetLabels())
				if !prev.IsEmpty() && labels.Compare(ls, prev) <= 0 {
					return nil, &errProtocol{"series " + ls.String() + " out of order, after " + prev.String()}
				}
				prev = ls
				pending = &floatSeries{lset: ls}
			} else if len(ps.GetLabels()) > 0 {
				return nil, &errProtocol{"labels on the continuation of series " + pending.lset.String()}
			}
			if err := pending.add(ps.GetTimestamps(), ps.GetValues(), &arena); err != nil {
				return nil, err
			}
			if !ps.GetContinues() {
				batch = append(batch, pending)
				pending = nil
			}
		}
		addRemoteAnnotations(&ann, msg.GetWarnings(), msg.GetInfos())
		if len(batch) > 0 {
			if err := s.send(ctx, batch); err != nil {
				return nil, err
			}
			*last = batch[len(batch)-1].Labels()
		}
	}
}

// readLocal reads the series after *last from a replica held by this node,
// as readRemote does. The series are passed on as the local storage returns
// them, their points read when iterated; the local querier stays open until
// the querier of the Select is closed.
func (sc *selectCall) readLocal(ctx context.Context, sh Shard, s *shardSet, last *labels.Labels) (annotations.Annotations, error) {
	lq, err := sh.Querier(sc.req.Mint, sc.req.Maxt)
	if err != nil {
		return nil, err
	}
	if !sc.q.keep(lq) {
		return nil, context.Canceled
	}
	set := lq.Select(ctx, true, sc.hints, sc.ms...)
	for more := true; more; {
		if err := sc.acquire(ctx); err != nil {
			return nil, err
		}
		batch := make([]promstorage.Series, 0, localBatch)
		for len(batch) < localBatch {
			if !set.Next() {
				more = false
				break
			}
			series := set.At()
			if !last.IsEmpty() && labels.Compare(series.Labels(), *last) <= 0 {
				continue
			}
			if sc.req.NoPoints {
				// As a remote replica would: the labels alone.
				series = &floatSeries{lset: series.Labels()}
			}
			batch = append(batch, series)
		}
		sc.release()
		if !more {
			if err := set.Err(); err != nil {
				return nil, err
			}
		}
		if len(batch) > 0 {
			if err := s.send(ctx, batch); err != nil {
				return nil, err
			}
			*last = batch[len(batch)-1].Labels()
		}
	}
	return set.Warnings(), nil
}

// shardSet is the SeriesSet of one shard: the batches of series its
// reading goroutine sends, then the outcome it leaves before closing ch.
type shardSet struct {
	ch chan []promstorage.Series

	// Written by the reading goroutine before it closes ch, read after.
	err      error
	warnings annotations.Annotations

	cur  []promstorage.Series
	i    int
	done bool // ch is closed
}

// send passes a batch on to the reader of s.
func (s *shardSet) send(ctx context.Context, batch []promstorage.Series) error {
	select {
	case s.ch <- batch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *shardSet) Next() bool {
	for s.i+1 >= len(s.cur) {
		if s.done {
			return false
		}
		b, ok := <-s.ch
		if !ok {
			s.done, s.cur, s.i = true, nil, 0
			return false
		}
		s.cur, s.i = b, -1
	}
	s.i++
	return true
}

func (s *shardSet) At() promstorage.Series { return s.cur[s.i] }

// Err is the error that ended the shard's reading: its context's, or a
// request no replica could answer. Nil until Next has returned false.
func (s *shardSet) Err() error {
	if !s.done {
		return nil
	}
	return s.err
}

// Warnings are the annotations of the replica that answered, or the
// shard's *UnavailableError. Nil until Next has returned false.
func (s *shardSet) Warnings() annotations.Annotations {
	if !s.done {
		return nil
	}
	return s.warnings
}

// lazyMerge merges the shards' series sets when it is first read, so that
// Select returns while the shards are still being asked.
type lazyMerge struct {
	sets  []promstorage.SeriesSet
	limit int
	m     promstorage.SeriesSet
}

func (l *lazyMerge) set() promstorage.SeriesSet {
	if l.m == nil {
		l.m = promstorage.NewMergeSeriesSet(l.sets, l.limit, promstorage.ChainedSeriesMerge)
	}
	return l.m
}

func (l *lazyMerge) Next() bool                        { return l.set().Next() }
func (l *lazyMerge) At() promstorage.Series            { return l.set().At() }
func (l *lazyMerge) Err() error                        { return l.set().Err() }
func (l *lazyMerge) Warnings() annotations.Annotations { return l.set().Warnings() }

// floatSeries is a series received from a replica, its points in memory.
// It is its own storage.Samples, so that Prometheus' list iterator walks
// it without a copy.
type floatSeries struct {
	lset labels.Labels
	pts  []fpoint
}

var _ promstorage.Samples = (*floatSeries)(nil)

// add appends the points of a Series message: timestamps as sent, the first
// as it is, then each the difference from the one before. The points of a
// series' first message go to the end of arena, which its slice shares with
// the other series of that message.
func (s *floatSeries) add(ts []int64, vs []float64, arena *[]fpoint) error {
	if len(ts) != len(vs) {
		return &errProtocol{"series " + s.lset.String() + ": timestamps and values differ in number"}
	}
	dst, first := s.pts, len(s.pts) == 0
	if first {
		dst = *arena
	}
	start := len(dst)
	var t int64
	for i, d := range ts {
		if i == 0 {
			t = d
		} else {
			t += d
		}
		dst = append(dst, fpoint{t: t, f: vs[i]})
	}
	if first {
		*arena = dst
		n := len(dst)
		s.pts = dst[start:n:n] // an append to it copies, never writes into arena
	} else {
		s.pts = dst
	}
	return nil
}

func (s *floatSeries) Labels() labels.Labels { return s.lset }

// resetter is the list iterator of Prometheus, reused for another series.
type resetter interface {
	Reset(promstorage.Samples)
}

func (s *floatSeries) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	if r, ok := reuse.(resetter); ok {
		r.Reset(s)
		return reuse
	}
	return promstorage.NewListSeriesIterator(s)
}

func (s *floatSeries) Get(i int) chunks.Sample { return &s.pts[i] }
func (s *floatSeries) Len() int                { return len(s.pts) }

// fpoint is a float point; a pointer to one is a chunks.Sample.
type fpoint struct {
	t int64
	f float64
}

func (p *fpoint) T() int64                      { return p.t }
func (p *fpoint) ST() int64                     { return 0 }
func (p *fpoint) F() float64                    { return p.f }
func (p *fpoint) H() *histogram.Histogram       { return nil }
func (p *fpoint) FH() *histogram.FloatHistogram { return nil }
func (p *fpoint) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p *fpoint) Copy() chunks.Sample           { c := *p; return &c }
