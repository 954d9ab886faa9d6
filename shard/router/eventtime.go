package router

import (
	"slices"
	"strings"
	"time"

	"github.com/tumblemetrics/tumble/shard"
)

// DefaultIdleTimeout is Config.IdleTimeout's default.
const DefaultIdleTimeout = 15 * time.Second

// DefaultSkewAllowance is how far ahead of the router's clock a watermark
// may run when the router's limits set no MaxFuture (see
// sample.DefaultLimits, whose MaxFuture it is).
const DefaultSkewAllowance = 5 * time.Second

// eventTime tracks the event-time progress of each raw partition a router
// owns, from what it reads and what Kafka tells of the partitions' ends.
// It takes the time as an argument and is owned by Run's goroutine.
//
// A partition's watermark is the largest timestamp read from it. A
// partition that is caught up (its position at its high watermark) and has
// had no new record for IdleTimeout is quiet, not behind: its watermark
// then also follows the wall clock, less SkewAllowance. A partition not
// caught up always holds event time at what was read of it, and one that
// nothing was read of and that is not known to be caught up holds it at
// shard.NoWatermark.
type eventTime struct {
	idle, skew time.Duration
	parts      map[TopicPartition]*partitionTime
}

type partitionTime struct {
	cur, done progress  // as read, and as of the last committed transaction
	end       int64     // the high watermark as of the last fetch; -1: not known
	empty     bool      // the last fetch found the partition empty
	lastNew   time.Time // when a record was last read, or the partition assigned
}

// progress is what a transaction moves on.
type progress struct {
	maxTs     int64 // the largest timestamp read; shard.NoWatermark: none
	next      int64 // the next offset to read; -1: not known
	announced int64 // the watermark last announced
}

// newEventTime returns the tracker of a router whose partitions go idle
// after idle and whose samples may be up to skew ahead of its clock.
func newEventTime(idle, skew time.Duration) *eventTime {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	if skew <= 0 {
		skew = DefaultSkewAllowance
	}
	return &eventTime{idle: idle, skew: skew, parts: map[TopicPartition]*partitionTime{}}
}

// assign makes the router the owner of tp from now; a partition it owns
// already is left as it is.
func (e *eventTime) assign(tp TopicPartition, now time.Time) {
	if _, ok := e.parts[tp]; !ok {
		none := progress{maxTs: shard.NoWatermark, next: -1, announced: shard.NoWatermark}
		e.parts[tp] = &partitionTime{cur: none, done: none, end: -1, lastNew: now}
	}
}

// revoke forgets tp: its new owner reads it from the committed offset.
func (e *eventTime) revoke(tp TopicPartition) { delete(e.parts, tp) }

// owned reports whether the router owns tp.
func (e *eventTime) owned(tp TopicPartition) bool { return e.parts[tp] != nil }

// read records that the record at offset of tp was read at now, with
// samples whose largest accepted timestamp is maxTs (shard.NoWatermark if
// it had none).
func (e *eventTime) read(tp TopicPartition, offset, maxTs int64, now time.Time) {
	p := e.parts[tp]
	if p == nil {
		return // not owned: a fetch buffered before a revocation
	}
	p.cur.maxTs = max(p.cur.maxTs, maxTs)
	p.cur.next = max(p.cur.next, offset+1)
	p.lastNew = now
}

// fetched records what a fetch of tp told: its high watermark and log
// start offset (-1 when not told), and the committed offset of tp as the
// client knows it (-1 when it does not), from which it reads on.
func (e *eventTime) fetched(tp TopicPartition, highWatermark, logStart, next int64) {
	p := e.parts[tp]
	if p == nil {
		return
	}
	if highWatermark >= 0 {
		p.end = highWatermark
		p.empty = logStart >= 0 && logStart >= highWatermark
	}
	p.cur.next = max(p.cur.next, next)
	p.done.next = max(p.done.next, next)
}

// caughtUp reports whether every record of p that Kafka has is read: its
// position is at its high watermark, or it holds no record.
func (p *partitionTime) caughtUp() bool {
	return p.end >= 0 && (p.cur.next >= p.end || p.empty && p.cur.next < 0)
}

// watermark returns p's watermark at now.
func (e *eventTime) watermark(p *partitionTime, now time.Time) int64 {
	wm := p.cur.maxTs
	if p.caughtUp() && now.Sub(p.lastNew) >= e.idle {
		wm = max(wm, now.Add(-e.skew).UnixMilli())
	}
	if wm != shard.NoWatermark {
		wm = min(wm, now.Add(e.skew).UnixMilli())
	}
	return max(wm, p.cur.announced)
}

// announce returns the watermarks of every owned partition at now, sorted
// by topic and partition, appended to dst, and whether any of them moved
// since the last announce. The caller writes them if it commits; if it
// does not, forget undoes the announce.
func (e *eventTime) announce(dst []shard.PartitionWatermark, now time.Time) ([]shard.PartitionWatermark, bool) {
	moved := false
	start := len(dst)
	for tp, p := range e.parts {
		wm := e.watermark(p, now)
		if wm != p.cur.announced {
			moved = true
			p.cur.announced = wm
		}
		dst = append(dst, shard.PartitionWatermark{Topic: tp.Topic, Partition: tp.Partition, Watermark: wm})
	}
	slices.SortFunc(dst[start:], func(a, b shard.PartitionWatermark) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return dst, moved
}

// unknownEnds appends to dst the owned partitions whose end no fetch has
// told yet (a fetch that finds nothing new may not say).
func (e *eventTime) unknownEnds(dst []TopicPartition) []TopicPartition {
	for tp, p := range e.parts {
		if p.end < 0 {
			dst = append(dst, tp)
		}
	}
	return dst
}

// committed makes what was read and announced since the last call the
// state an abort returns to.
func (e *eventTime) committed() {
	for _, p := range e.parts {
		p.done = p.cur
	}
}

// aborted returns every partition to its state at the last commit: the
// client reads again from the committed offsets.
func (e *eventTime) aborted() {
	for _, p := range e.parts {
		p.cur = p.done
	}
}

// committedWatermarks sets dst to the watermark of every owned partition
// as of the last committed transaction (Stats.Watermarks) and returns it.
func (e *eventTime) committedWatermarks(dst map[TopicPartition]int64) map[TopicPartition]int64 {
	clear(dst)
	for tp, p := range e.parts {
		dst[tp] = p.done.announced
	}
	return dst
}
