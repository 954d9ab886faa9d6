package router

import (
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/shard"
)

// TestEventTime steps the event-time tracker through scripts of reads,
// fetches, commits and aborts on an injected clock, and checks the
// watermark each partition announces.
func TestEventTime(t *testing.T) {
	const (
		idle = 10 * time.Second
		skew = 2 * time.Second
	)
	t0 := time.UnixMilli(1_800_000_000_000)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	a, b := TopicPartition{"raw", 0}, TopicPartition{"raw", 1}
	type step struct {
		at   time.Duration // since t0
		do   func(e *eventTime, now time.Time)
		want map[TopicPartition]int64 // announced at that time
	}
	read := func(tp TopicPartition, off int64, ts time.Duration) func(*eventTime, time.Time) {
		return func(e *eventTime, now time.Time) { e.read(tp, off, ms(ts), now) }
	}
	fetched := func(tp TopicPartition, hw, start, committed int64) func(*eventTime, time.Time) {
		return func(e *eventTime, _ time.Time) { e.fetched(tp, hw, start, committed) }
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a backlog: the partition read behind holds its own watermark", []step{
			{0, read(a, 0, -10*time.Minute), map[TopicPartition]int64{a: ms(-10 * time.Minute), b: shard.NoWatermark}},
			{0, read(b, 0, -30*time.Minute), map[TopicPartition]int64{a: ms(-10 * time.Minute), b: ms(-30 * time.Minute)}},
			{time.Second, read(b, 1, -20*time.Minute), map[TopicPartition]int64{a: ms(-10 * time.Minute), b: ms(-20 * time.Minute)}},
		}},
		{"a partition not known to be caught up holds at NoWatermark however long it is quiet", []step{
			{time.Hour, nil, map[TopicPartition]int64{a: shard.NoWatermark, b: shard.NoWatermark}},
		}},
		{"an empty partition goes idle after the timeout", []step{
			{0, fetched(a, 0, 0, -1), map[TopicPartition]int64{a: shard.NoWatermark, b: shard.NoWatermark}},
			{idle - time.Millisecond, nil, map[TopicPartition]int64{a: shard.NoWatermark, b: shard.NoWatermark}},
			{idle, nil, map[TopicPartition]int64{a: ms(idle - skew), b: shard.NoWatermark}},
			{idle + time.Minute, nil, map[TopicPartition]int64{a: ms(idle + time.Minute - skew), b: shard.NoWatermark}},
		}},
		{"a caught-up partition follows the clock once idle; a new record restarts the timeout", []step{
			{0, read(a, 41, -time.Second), nil},
			{0, fetched(a, 42, 0, -1), map[TopicPartition]int64{a: ms(-time.Second), b: shard.NoWatermark}},
			{idle, nil, map[TopicPartition]int64{a: ms(idle - skew), b: shard.NoWatermark}},
			{idle + time.Second, read(a, 42, idle-5*time.Second), map[TopicPartition]int64{a: ms(idle - skew), b: shard.NoWatermark}},
			{idle + 2*time.Second, fetched(a, 43, 0, -1), map[TopicPartition]int64{a: ms(idle - skew), b: shard.NoWatermark}},
			{2*idle + time.Second, nil, map[TopicPartition]int64{a: ms(2*idle + time.Second - skew), b: shard.NoWatermark}},
		}},
		{"a partition with records left to read is never idle", []step{
			{0, read(a, 9, -time.Hour), nil},
			{0, fetched(a, 100, 0, -1), map[TopicPartition]int64{a: ms(-time.Hour), b: shard.NoWatermark}},
			{time.Hour, nil, map[TopicPartition]int64{a: ms(-time.Hour), b: shard.NoWatermark}},
		}},
		{"a partition whose committed offset is its end is caught up", []step{
			{0, fetched(b, 7, 0, 7), nil},
			{idle, nil, map[TopicPartition]int64{a: shard.NoWatermark, b: ms(idle - skew)}},
		}},
		{"no watermark runs ahead of the clock plus the allowance", []step{
			{0, read(a, 0, time.Hour), map[TopicPartition]int64{a: ms(skew), b: shard.NoWatermark}},
			{time.Second, nil, map[TopicPartition]int64{a: ms(time.Second + skew), b: shard.NoWatermark}},
		}},
		{"an abort returns to the committed state; a commit keeps it", []step{
			{0, read(a, 0, -time.Minute), map[TopicPartition]int64{a: ms(-time.Minute), b: shard.NoWatermark}},
			{0, func(e *eventTime, _ time.Time) { e.committed() }, nil},
			{time.Second, read(a, 1, -time.Second), map[TopicPartition]int64{a: ms(-time.Second), b: shard.NoWatermark}},
			{time.Second, func(e *eventTime, _ time.Time) { e.aborted() }, map[TopicPartition]int64{a: ms(-time.Minute), b: shard.NoWatermark}},
		}},
		{"a revoked partition is no longer announced; given back, it starts over", []step{
			{0, read(a, 0, -time.Minute), nil},
			{0, func(e *eventTime, _ time.Time) { e.revoke(a) }, map[TopicPartition]int64{b: shard.NoWatermark}},
			{time.Second, func(e *eventTime, now time.Time) { e.assign(a, now) }, map[TopicPartition]int64{a: shard.NoWatermark, b: shard.NoWatermark}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEventTime(idle, skew)
			e.assign(a, t0)
			e.assign(b, t0)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.do != nil {
					s.do(e, now)
				}
				if s.want == nil {
					continue
				}
				got := map[TopicPartition]int64{}
				wms, _ := e.announce(nil, now)
				for _, w := range wms {
					got[TopicPartition{w.Topic, w.Partition}] = w.Watermark
				}
				if len(got) != len(s.want) {
					t.Fatalf("step %d: got %v, want %v", i, got, s.want)
				}
				for tp, w := range s.want {
					if got[tp] != w {
						t.Errorf("step %d at %s: %v announced %d, want %d", i, s.at, tp, got[tp], w)
					}
				}
			}
		})
	}
}
