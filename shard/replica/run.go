package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Run consumes the replica's shard partition of topic from its resume
// offset and applies every record until ctx ends. clientOpts configure the
// Kafka client (seed brokers, TLS…); Run adds the partition to consume.
// A storage error stops Run after retries with back-off: the storage keeps
// the points it did not take, and a restart resumes from its position.
//
// Before it reads, and again whenever the partition's offsets move under
// it (a fetch out of range, records lost, a record before the replica's
// position), Run compares the offset it reads next with the partition's
// log start and end. A partition that ends before it (the shard topic
// deleted and created again, or truncated) stops Run with an
// *OffsetsError that tells the operator what to do. One that starts after
// it (retention deleted records the replica had not read) is logged at
// Error level, counted in Stats.Gaps and Stats.GapRecords, and read on
// from its start.
func (r *Replica) Run(ctx context.Context, topic string, clientOpts ...kgo.Opt) error {
	admCl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return fmt.Errorf("shard %d: kafka client: %w", r.opts.Shard, err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	r.opts.Logger.Info("replica started", "shard", r.opts.Shard, "resume_offset", r.next, "watermark", r.agg.Watermark())
	for {
		from, err := r.checkOffsets(ctx, adm, topic)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.consume(ctx, topic, from, clientOpts); !errors.Is(err, errOffsetsMoved) {
			return err
		}
	}
}

// errOffsetsMoved is a shard partition that no longer holds the offset the
// replica reads next, or that went back before it: Run checks its offsets
// again.
var errOffsetsMoved = errors.New("shard partition offsets moved")

// consume reads the partition from offset from and applies its records
// until ctx ends (nil), the partition's offsets move (errOffsetsMoved), or
// the storage fails for good.
func (r *Replica) consume(ctx context.Context, topic string, from int64, clientOpts []kgo.Opt) error {
	opts := append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {r.opts.Shard: kgo.NewOffset().At(from)},
		}),
		// An offset out of range comes back as a fetch error, for Run to
		// check the partition, instead of the client moving the replica
		// to another offset without a word.
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), // routers write in transactions
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("shard %d: kafka client: %w", r.opts.Shard, err)
	}
	defer cl.Close()
	failures := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				return nil
			}
			if offsetsMoved(fe.Err) {
				r.opts.Logger.Warn("shard partition offsets moved; checking them", "shard", r.opts.Shard, "topic", fe.Topic, "offset", r.next, "err", fe.Err)
				return errOffsetsMoved
			}
			r.opts.Logger.Warn("fetch", "shard", r.opts.Shard, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		var storeErr error
		back := int64(-1) // the offset of a record before the replica's position
		fs.EachRecord(func(rec *kgo.Record) {
			if back >= 0 {
				return
			}
			if rec.Offset < r.next {
				// Offsets only go forward in a partition: the
				// log was replaced under the replica.
				back = rec.Offset
				return
			}
			if rec.Attrs.IsControl() {
				// A transaction marker: kept only so that the
				// lag reaches 0 at the end of the partition.
				r.next = rec.Offset + 1
				return
			}
			// Every fetched record is applied, whatever the storage
			// says: points it did not take wait in the flusher.
			err := r.Apply(rec.Offset, rec.Value)
			var me *MalformedError
			switch {
			case errors.As(err, &me):
				r.opts.Logger.Warn("malformed shard record skipped", "err", err)
			case err != nil:
				storeErr = err
			}
		})
		if back >= 0 {
			r.opts.Logger.Error("shard partition went back: a record came before the replica's position; checking its offsets",
				"shard", r.opts.Shard, "topic", topic, "record_offset", back, "offset", r.next)
			r.publish()
			return errOffsetsMoved
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark > 0 {
				r.stats.Lag = max(0, p.HighWatermark-r.next)
			}
		})
		r.publish()
		if storeErr == nil {
			failures = 0
			continue
		}
		// Retry the write before reading on.
		for storeErr != nil {
			failures++
			if failures > 10 {
				return storeErr
			}
			r.opts.Logger.Error("store points", "shard", r.opts.Shard, "err", storeErr, "attempt", failures)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Duration(failures) * 200 * time.Millisecond):
			}
			storeErr = r.advance()
		}
	}
}
