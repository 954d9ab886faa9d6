package replica

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush"
	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// Options configures a Replica.
type Options struct {
	Shard int32
	// Shards is the number of shards of the cluster, which share the caps
	// of trace selection; 0 means 1.
	Shards int32
	// DB is the shard's own storage, opened by the caller; the replica
	// resumes from its position.
	DB         *storage.DB
	Aggregator aggregator.Options
	// RouterTimeout is how far, in event time, a per-router watermark (of
	// the records of earlier versions, shard.KindWatermark) may trail the
	// newest before the replica stops waiting for it; 0 means 5m. The
	// per-partition watermarks of today's routers have no timeout: a
	// partition read behind the others always holds the shard back.
	RouterTimeout time.Duration
	// Dir is the replica's own directory for its checkpoints (created if
	// missing).
	Dir string
	// CheckpointInterval is how much the watermark advances between two
	// checkpoints; a restart reads again the records since the last one
	// (and since the oldest window then open). 0 means 30s.
	CheckpointInterval time.Duration
	Logger             *slog.Logger
	// OnFlush, if set, is told how long each write of closed windows to
	// the storage took and how many points it carried.
	OnFlush func(d time.Duration, points int)
	// OnWindows, if set, is given, after the windows closed by a
	// watermark are stored, the replica's emitted watermark and the
	// records of those windows for the window log (see package
	// windowlog). It is called by the replica's goroutine and must not
	// keep ws.
	OnWindows func(emitted int64, ws []windowlog.Window)
	// OnCandidates, if set, is given the candidates of trace selection
	// that each samples record offered (see aggregator.Candidate), with
	// reason selection.Candidate; it may keep them. Called by the
	// replica's goroutine.
	OnCandidates func([]selection.Selection)
}

// Stats counts what a replica did.
type Stats struct {
	Records    uint64 // records applied
	Samples    uint64 // samples of the samples records
	Watermarks uint64 // watermark records
	Malformed  uint64 // records that did not decode, skipped
	Points     uint64 // points stored
	Refused    uint64 // points the storage refused as older than its head
	Flushes    uint64
	// Checkpoints counts checkpoints written; Checkpoint is the sequence
	// number of the one a restart would resume from.
	Checkpoints uint64
	Checkpoint  uint64
	Watermark   int64 // the shard's watermark
	Offset      int64 // the next offset to read
	Lag         int64 // records of the partition not read yet, as of the last fetch
	// Gaps counts the times the shard partition started past the offset
	// the replica was to read next: retention deleted records it had not
	// read, and their samples are lost to it. GapRecords counts those
	// records. See Run.
	Gaps       uint64
	GapRecords uint64

	Aggregator   aggregator.Stats
	ActiveSeries int
	// Late counts the (sample, policy) pairs the aggregator dropped as
	// late, by the rule of their target and the reason; they add up to
	// Aggregator.Late. Each Stats has its own copy.
	Late map[LateKey]uint64
}

// LateKey says whose late samples a count is of: the rule that made their
// target ("" for samples of records written before records named rules)
// and why the aggregator dropped them.
type LateKey struct {
	Rule   string
	Reason aggregator.LateReason
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

	routers map[string]int64       // watermark of each router (records of earlier versions)
	parts   map[rawPartition]int64 // watermark of each raw partition
	// pending maps the close time of open windows to the first offset of
	// a record that went into them: a checkpoint taken at offset S is
	// complete once no window holds a record from before S.
	pending map[int64]int64
	next    int64 // the offset after the last record applied

	seq    uint64      // the checkpoint the stored position names
	cp     *checkpoint // taken, waiting for the windows open at its offset
	lastCP int64       // the watermark when the last checkpoint was taken

	names map[seriesKey]labels.Labels
	buf   []storage.Point

	summary  *windowlog.Summary // the windows stored since the last report
	cands    []aggregator.Candidate
	wins     []windowlog.Window
	reported int64 // the emitted watermark last given to OnWindows
	stats    Stats
	late     map[LateKey]uint64    // Stats.Late
	snap     atomic.Pointer[Stats] // published by Run for other goroutines
}

type seriesKey struct {
	key uint64
	agg aggregator.Type
}

// Position is what a replica stores with each flush.
type Position struct {
	// Checkpoint is the sequence number of the checkpoint to restart from;
	// 0 is none: the start of the partition.
	Checkpoint uint64
	Next       int64 // the offset after the last record applied
	Watermark  int64 // the shard watermark whose closed windows are stored
}

const positionVersion = 2

// AppendBinary appends the position's encoding.
func (p Position) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, positionVersion)
	dst = binary.AppendUvarint(dst, p.Checkpoint)
	dst = binary.AppendVarint(dst, p.Next)
	return binary.AppendVarint(dst, p.Watermark), nil
}

// ParsePosition decodes a stored position; nil or empty is the start of the
// partition.
func ParsePosition(b []byte) (Position, error) {
	if len(b) == 0 {
		return Position{Watermark: math.MinInt64}, nil
	}
	if b[0] != positionVersion {
		return Position{}, fmt.Errorf("replica position: unknown version %d (want %d)", b[0], positionVersion)
	}
	var p Position
	cp, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return Position{}, fmt.Errorf("replica position: malformed %x", b)
	}
	p.Checkpoint = cp
	off := 1 + n
	for _, f := range []*int64{&p.Next, &p.Watermark} {
		v, n := binary.Varint(b[off:])
		if n <= 0 {
			return Position{}, fmt.Errorf("replica position: bad varint at byte %d", off)
		}
		*f, off = v, off+n
	}
	if off != len(b) || p.Next < 0 {
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
	if opts.Dir == "" {
		return nil, fmt.Errorf("replica of shard %d: no checkpoint directory", opts.Shard)
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pos, err := ParsePosition(opts.DB.Position())
	if err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	late := map[LateKey]uint64{}
	aggOpts := opts.Aggregator
	aggOpts.Candidates = opts.OnCandidates != nil
	aggOpts.OnLate = func(t *aggregator.Target, s sample.Sample, p aggregator.Policy, why aggregator.LateReason) {
		late[LateKey{t.Rule, why}]++
		if opts.Aggregator.OnLate != nil {
			opts.Aggregator.OnLate(t, s, p, why)
		}
	}
	agg, err := aggregator.New(aggOpts)
	if err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	r := &Replica{
		opts: opts, agg: agg, late: late,
		routers: map[string]int64{}, parts: map[rawPartition]int64{}, pending: map[int64]int64{},
		names:   map[seriesKey]labels.Labels{},
		summary: windowlog.NewSummary(opts.Shard, opts.Shards),
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	if pos.Checkpoint > 0 {
		cp, err := readCheckpoint(opts.Dir, pos.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
		}
		if err := agg.Restore(cp.input, cp.output); err != nil {
			return nil, fmt.Errorf("replica of shard %d: checkpoint %d: %w", opts.Shard, cp.seq, err)
		}
		r.routers, r.parts, r.next = cp.wms, cp.parts, cp.offset
	}
	// Later checkpoints were never named by a stored position.
	if err := removeCheckpoints(opts.Dir, pos.Checkpoint); err != nil {
		return nil, fmt.Errorf("replica of shard %d: %w", opts.Shard, err)
	}
	r.seq, r.stats.Checkpoint = pos.Checkpoint, pos.Checkpoint
	r.lastCP = agg.Watermark()
	r.cp = r.takeCheckpoint()
	r.stats.Watermark, r.stats.Offset = agg.Emitted(), r.next
	r.reported = agg.Emitted()
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
	st.Late = maps.Clone(r.late)
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
	if err := r.dec.Decode(value, &r.rec); err != nil {
		r.stats.Malformed++
		return &MalformedError{Shard: r.opts.Shard, Offset: offset, Err: err}
	}
	switch r.rec.Kind {
	case shard.KindSamples:
		r.stats.Samples += uint64(len(r.rec.Samples))
		for i := range r.rec.Samples {
			e := &r.rec.Samples[i]
			// Every sample goes to the aggregator: one of a window
			// stored before a restart still moves the state that
			// spans windows.
			if ct := r.agg.CloseTime(e.Target, e.Sample.TimestampMs); ct > r.agg.Emitted() {
				if _, ok := r.pending[ct]; !ok {
					r.pending[ct] = offset
				}
			}
			r.agg.Add(e.Target, e.Input, &e.Sample)
		}
		if r.opts.OnCandidates != nil {
			r.offerCandidates()
		}
		return nil
	case shard.KindWatermark:
		r.stats.Watermarks++
		if r.rec.Watermark == shard.RouterLeft {
			delete(r.routers, r.rec.Router)
		} else if w, ok := r.routers[r.rec.Router]; !ok || r.rec.Watermark > w {
			r.routers[r.rec.Router] = r.rec.Watermark
		}
		return r.advance()
	case shard.KindPartitions:
		r.stats.Watermarks++
		for p := range r.parts {
			if !slices.ContainsFunc(r.rec.Topics, func(t shard.RawTopic) bool { return t.Name == p.topic }) {
				delete(r.parts, p) // a raw topic no longer read
			}
		}
		// A partition that exists but that no router has told of yet
		// holds the shard back until one does.
		for _, t := range r.rec.Topics {
			for i := range t.Partitions {
				if p := (rawPartition{t.Name, i}); !r.hasPart(p) {
					r.parts[p] = shard.NoWatermark
				}
			}
		}
		for _, w := range r.rec.Partitions {
			p := rawPartition{w.Topic, w.Partition}
			if old, ok := r.parts[p]; !ok || w.Watermark > old {
				r.parts[p] = w.Watermark
			}
		}
		return r.advance()
	}
	return nil
}

func (r *Replica) hasPart(p rawPartition) bool {
	_, ok := r.parts[p]
	return ok
}

// rawPartition is a partition of a raw topic.
type rawPartition struct {
	topic     string
	partition int32
}

func (p rawPartition) compare(q rawPartition) int {
	if c := strings.Compare(p.topic, q.topic); c != 0 {
		return c
	}
	return cmp.Compare(p.partition, q.partition)
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

// watermark is the shard's watermark: the smallest watermark of the raw
// partitions, and of the routers of earlier versions not left behind by
// RouterTimeout.
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
	if len(r.parts) == 0 {
		return wm
	}
	if len(r.routers) == 0 {
		wm = math.MaxInt64
	}
	for _, w := range r.parts {
		wm = min(wm, w)
	}
	return wm
}

// advance closes the windows the watermark passed and stores them, and
// moves the checkpoints on.
func (r *Replica) advance() error {
	wm := r.watermark()
	if wm > r.agg.Watermark() || r.flush.Pending() > 0 {
		if err := r.flush.Advance(wm); err != nil {
			return err
		}
		r.stats.Watermark = r.agg.Emitted()
	}
	if r.opts.OnWindows != nil && (r.summary.Len() > 0 || r.agg.Emitted() != r.reported) {
		r.wins = r.summary.Windows(r.wins[:0])
		r.reported = r.agg.Emitted()
		r.opts.OnWindows(r.reported, r.wins)
	}
	if r.cp != nil && r.oldestOpen() >= r.cp.offset {
		// Every window open when the checkpoint was taken is stored:
		// the output state now goes with it.
		cp := r.cp
		cp.seq = r.seq + 1
		cp.output = r.agg.AppendOutputState(nil)
		if err := writeCheckpoint(r.opts.Dir, cp); err != nil {
			return fmt.Errorf("shard %d: %w", r.opts.Shard, err)
		}
		r.seq, r.cp = cp.seq, nil
		r.stats.Checkpoints++
		if err := r.store(nil); err != nil {
			return err
		}
	}
	if r.cp == nil && r.agg.Watermark() >= r.lastCP+r.opts.CheckpointInterval.Milliseconds() {
		r.cp = r.takeCheckpoint()
		r.lastCP = r.agg.Watermark()
	}
	return nil
}

// takeCheckpoint takes the state that samples change as of the next
// offset; its output state is added once the windows open now are stored.
func (r *Replica) takeCheckpoint() *checkpoint {
	return &checkpoint{offset: r.next, wms: maps.Clone(r.routers), parts: maps.Clone(r.parts), input: r.agg.AppendInputState(nil)}
}

// oldestOpen returns the offset of the oldest record in a window not
// emitted yet (the next offset if there is none).
func (r *Replica) oldestOpen() int64 {
	emitted := r.agg.Emitted()
	oldest := r.next
	for ct, off := range r.pending {
		if ct <= emitted {
			delete(r.pending, ct)
			continue
		}
		oldest = min(oldest, off)
	}
	return oldest
}

// position is what a restart resumes from.
func (r *Replica) position() Position {
	return Position{Checkpoint: r.seq, Next: r.next, Watermark: r.agg.Emitted()}
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
	// The windows are stored: their records go to the window log.
	if r.opts.OnWindows != nil {
		for i := range points {
			p, sp := &points[i], &r.buf[i]
			var trace [16]byte
			var ev float64
			if sp.Exemplar != nil {
				trace, ev = sp.Exemplar.TraceID, sp.Exemplar.Value
			}
			pol, closeMs := p.Policy.String(), r.agg.WindowClose(p.Policy, p.EndMs)
			r.summary.Add(pol, p.StartMs, p.EndMs, closeMs, windowlog.PointHash(sp.Labels, sp.V, trace, ev))
			if sel, ok := selectable(p); ok {
				r.summary.Select(pol, p.StartMs, p.EndMs, closeMs, sel)
			}
		}
	}
	if r.stats.Checkpoint != r.seq {
		// The new checkpoint is the one to restart from: the older
		// ones go.
		r.stats.Checkpoint = r.seq
		if err := removeCheckpoints(r.opts.Dir, r.seq); err != nil {
			r.opts.Logger.Warn("remove old checkpoints", "shard", r.opts.Shard, "err", err)
		}
	}
	return nil
}

// selectable returns the selection p offers, if its target selects it:
// a point of one of the aggregations of the target's selection spec at its
// finest policy, whose exemplar names a trace.
func selectable(p *aggregator.Point) (selection.Pending, bool) {
	spec := p.Target.Selects
	if spec == nil || !spec.Aggregations.Has(p.Aggregation) || p.Policy != p.Target.Policies[0] ||
		!p.HasExemplar || p.Exemplar.TraceID.IsZero() || !finite(p.Value) || !finite(p.Exemplar.Value) {
		return selection.Pending{}, false
	}
	return selection.Pending{
		Selection: selection.Selection{
			TraceID: selection.TraceID(p.Exemplar.TraceID), Name: p.SeriesName(), Labels: p.SeriesLabels().Map(),
			Aggregation: p.Aggregation.String(), Value: p.Value,
			SampleValue: p.Exemplar.Value, SampleMs: p.Exemplar.TimestampMs,
			Rule: spec.Rule, Tenant: spec.Tenant,
		},
		PerSecond: spec.PerSecond, TenantPerSecond: spec.TenantPerSecond,
	}, true
}

// offerCandidates gives the aggregator's candidates to OnCandidates.
func (r *Replica) offerCandidates() {
	r.cands = r.agg.Candidates(r.cands[:0])
	if len(r.cands) == 0 {
		return
	}
	out := make([]selection.Selection, 0, len(r.cands))
	for i := range r.cands {
		c := &r.cands[i]
		spec := c.Target.Selects
		if !finite(c.Threshold) || !finite(c.Sample.Value) {
			continue
		}
		out = append(out, selection.Selection{
			TraceID: selection.TraceID(c.Sample.TraceID), Reason: selection.Candidate,
			Name: c.SeriesName(), Labels: aggregator.OutputLabels(c.Target.Labels, c.Aggregation, c.Aggregations.Len()).Map(), Aggregation: c.Aggregation.String(), Policy: c.Policy.String(),
			StartMs: c.StartMs, EndMs: c.EndMs, Value: c.Threshold, SampleValue: c.Sample.Value, SampleMs: c.Sample.TimestampMs,
			Rule: spec.Rule, Tenant: spec.Tenant, Shard: r.opts.Shard,
		})
	}
	clear(r.cands)
	if len(out) > 0 {
		r.opts.OnCandidates(out)
	}
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

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
