package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// Options configures a Replica.
type Options struct {
	Shard int32
	// DB is the shard's own storage, opened by the caller; the replica
	// resumes from its position.
	DB         *storage.DB
	Aggregator aggregator.Options
	// RouterTimeout is how far, in event time, a router's watermark may
	// trail the newest router watermark before the replica stops waiting
	// for it (a router that stopped or lost its partitions); 0 means 5m.
	RouterTimeout time.Duration
	// CheckpointEvery is how many records may pass without a flush before
	// the replica stores its position alone, so that a restart has less to
	// read again; 0 means 100,000.
	CheckpointEvery int
	Logger          *slog.Logger
	// OnFlush, if set, is told how long each write of closed windows to
	// the storage took and how many points it carried.
	OnFlush func(d time.Duration, points int)
}

// Stats counts what a replica did.
type Stats struct {
	Records    uint64 // records applied
	Samples    uint64 // sample records
	Watermarks uint64 // watermark records
	Malformed  uint64 // records that did not decode, skipped
	Replayed   uint64 // sample records of windows already stored (read again after a restart), skipped
	Points     uint64 // points stored
	Refused    uint64 // points the storage refused as older than its head
	Flushes    uint64
	Watermark  int64 // the shard's watermark
	Offset     int64 // the next offset to read
	Lag        int64 // records of the partition not read yet, as of the last fetch

	Aggregator   aggregator.Stats
	ActiveSeries int
}

// Replica is one replica of one shard: it applies the records of the shard
// partition, in log order, to its aggregator and stores the closed windows,
// with the position to resume from, in its storage. It does no I/O but
// through the storage, and reads no clock: the same records give the same
// points on every replica. It is owned by one goroutine (see Run).
type Replica struct {
	opts  Options
	agg   *aggregator.Aggregator
	flush *flush.Flusher
	dec   shard.Decoder
	rec   shard.Record

	routers map[string]int64 // watermark of each router
	// pending maps the close time of open windows to the first offset of
	// a record that went into them: after a restart, the replica reads
	// from the smallest, and windows closed before are stored already.
	pending map[int64]int64
	next    int64 // the offset after the last record applied
	replay  int64 // records before it were applied before a restart
	since   int   // records since the last stored position

	names map[seriesKey]labels.Labels
	buf   []storage.Point
	stats Stats
	snap  atomic.Pointer[Stats] // published by Run for other goroutines
}

type seriesKey struct {
	key uint64
	agg aggregator.Type
}

// Position is what a replica stores with each flush.
type Position struct {
	Resume    int64 // the partition offset to read from after a restart
	Next      int64 // the offset after the last record applied
	Watermark int64 // the shard watermark whose closed windows are stored
}

// AppendBinary appends the position's encoding.
func (p Position) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, p.Resume)
	dst = binary.AppendVarint(dst, p.Next)
	return binary.AppendVarint(dst, p.Watermark), nil
}

// ParsePosition decodes a stored position; nil or empty is the start of the
// partition.
func ParsePosition(b []byte) (Position, error) {
	if len(b) == 0 {
		return Position{Watermark: math.MinInt64}, nil
	}
	if b[0] != 1 {
		return Position{}, fmt.Errorf("replica position: unknown version %d", b[0])
	}
	var p Position
	off := 1
	for _, f := range []*int64{&p.Resume, &p.Next, &p.Watermark} {
		v, n := binary.Varint(b[off:])
		if n <= 0 {
			return Position{}, fmt.Errorf("replica position: bad varint at byte %d", off)
		}
		*f, off = v, off+n
	}
	if off != len(b) || p.Resume > p.Next {
		return Position{}, fmt.Errorf("replica position: malformed %x", b)
	}
	return p, nil
}

// New returns the replica of opts.Shard, resumed from its storage's
// position: windows that closed before it are not emitted again.
func New(opts Options) (*Replica, error) {
	if opts.DB == nil {
		return nil, errors.New("replica: no storage")
	}
	if opts.RouterTimeout == 0 {
		opts.RouterTimeout = 5 * time.Minute
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = 100_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pos, err := ParsePosition(opts.DB.Position())
	if err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	agg, err := aggregator.New(opts.Aggregator)
	if err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	r := &Replica{
		opts: opts, agg: agg,
		routers: map[string]int64{}, pending: map[int64]int64{},
		next: pos.Resume, replay: pos.Next,
		names: map[seriesKey]labels.Labels{},
	}
	if pos.Watermark != math.MinInt64 {
		agg.Advance(pos.Watermark, nil) // nothing open: closes nothing
	}
	r.stats.Watermark, r.stats.Offset = pos.Watermark, pos.Resume
	r.flush = flush.New(agg, r.store)
	return r, nil
}

// Resume returns the partition offset to read from.
func (r *Replica) Resume() int64 { return r.next }

// Stats returns the replica's counters; only its owner may call it.
func (r *Replica) Stats() Stats {
	st := r.stats
	st.Offset = r.next
	st.Aggregator = r.agg.Stats()
	st.ActiveSeries = r.agg.ActiveSeries()
	return st
}

// Published returns the counters as Run last published them; any goroutine
// may call it.
func (r *Replica) Published() Stats {
	if st := r.snap.Load(); st != nil {
		return *st
	}
	return Stats{}
}

func (r *Replica) publish() {
	st := r.Stats()
	r.snap.Store(&st)
}

// ActiveSeries returns the number of output series with open windows.
func (r *Replica) ActiveSeries() int { return r.agg.ActiveSeries() }

// Apply applies the record at offset of the shard partition. Offsets must
// increase. A malformed record is counted and skipped (its error returned
// wrapped in a *MalformedError); any other error is the storage's, and the
// points it did not take are written again by the next flush.
func (r *Replica) Apply(offset int64, value []byte) error {
	r.next = offset + 1
	r.stats.Records++
	r.since++
	if err := r.dec.Decode(value, &r.rec); err != nil {
		r.stats.Malformed++
		return &MalformedError{Shard: r.opts.Shard, Offset: offset, Err: err}
	}
	switch r.rec.Kind {
	case shard.KindSample:
		r.stats.Samples++
		ct := r.agg.CloseTime(r.rec.Target, r.rec.Sample.TimestampMs)
		if ct <= r.agg.Watermark() {
			if offset < r.replay {
				// Applied before a restart, to windows stored since.
				r.stats.Replayed++
				return nil
			}
			// Late: the aggregator counts it.
		} else if _, ok := r.pending[ct]; !ok {
			r.pending[ct] = offset
		}
		r.agg.Add(r.rec.Target, r.rec.Input, &r.rec.Sample)
		return nil
	case shard.KindWatermark:
		r.stats.Watermarks++
		if r.rec.Watermark > r.routers[r.rec.Router] {
			r.routers[r.rec.Router] = r.rec.Watermark
		}
		return r.advance()
	}
	return nil
}

// MalformedError is a record of the shard partition that did not decode.
type MalformedError struct {
	Shard  int32
	Offset int64
	Err    error
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("shard %d offset %d: %v", e.Shard, e.Offset, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// watermark is the shard's watermark: the smallest router watermark among
// the routers not left behind by RouterTimeout.
func (r *Replica) watermark() int64 {
	newest := int64(math.MinInt64)
	for _, w := range r.routers {
		newest = max(newest, w)
	}
	wm := newest
	for id, w := range r.routers {
		if w < newest-r.opts.RouterTimeout.Milliseconds() {
			delete(r.routers, id)
			continue
		}
		wm = min(wm, w)
	}
	return wm
}

// advance closes the windows the watermark passed and stores them.
func (r *Replica) advance() error {
	wm := r.watermark()
	if wm > r.agg.Watermark() || r.flush.Pending() > 0 {
		if err := r.flush.Advance(wm); err != nil {
			return err
		}
		r.stats.Watermark = r.agg.Watermark()
	}
	if r.since >= r.opts.CheckpointEvery {
		return r.store(nil)
	}
	return nil
}

// position is where a restart resumes, given the windows still open.
func (r *Replica) position() Position {
	wm := r.agg.Watermark()
	resume := r.next
	for ct, off := range r.pending {
		if ct <= wm {
			delete(r.pending, ct)
			continue
		}
		resume = min(resume, off)
	}
	return Position{Resume: resume, Next: r.next, Watermark: wm}
}

// store is the flusher's sink: it writes points, with the position, to the
// storage.
func (r *Replica) store(points []aggregator.Point) error {
	pos, _ := r.position().AppendBinary(nil)
	r.buf = r.buf[:0]
	for i := range points {
		p := &points[i]
		sp := storage.Point{Labels: r.seriesLabels(p), Policy: p.Policy, T: p.EndMs, V: p.Value}
		if p.HasExemplar && !p.Exemplar.TraceID.IsZero() {
			sp.Exemplar = &chunkenc.Exemplar{TraceID: p.Exemplar.TraceID, Value: p.Exemplar.Value, TimestampMs: p.Exemplar.TimestampMs}
		}
		r.buf = append(r.buf, sp)
	}
	start := time.Now()
	st, err := r.opts.DB.Append(r.buf, pos)
	if r.opts.OnFlush != nil {
		r.opts.OnFlush(time.Since(start), len(r.buf))
	}
	if errors.Is(err, storage.ErrTooOld) {
		r.opts.Logger.Warn("points older than the storage head refused", "shard", r.opts.Shard, "err", err)
		r.stats.Refused += uint64(st.Refused)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("shard %d: store: %w", r.opts.Shard, err)
	}
	r.stats.Points += uint64(st.Appended + st.Duplicates + st.Overwritten)
	r.stats.Flushes++
	r.since = 0
	return nil
}

// seriesLabels returns the storage labels of p's series, __name__ included.
func (r *Replica) seriesLabels(p *aggregator.Point) labels.Labels {
	k := seriesKey{p.Target.Key, p.Aggregation}
	if ls, ok := r.names[k]; ok {
		return ls
	}
	var b labels.ScratchBuilder
	b.Add(labels.MetricName, p.SeriesName())
	for _, l := range p.SeriesLabels() {
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	ls := b.Labels()
	if len(r.names) >= 1<<20 {
		clear(r.names)
	}
	r.names[k] = ls
	return ls
}
