package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Run consumes the replica's shard partition of topic from its resume
// offset and applies every record until ctx ends. clientOpts configure the
// Kafka client (seed brokers, TLS…); Run adds the partition to consume.
// A storage error stops Run after retries with back-off: the storage keeps
// the points it did not take, and a restart resumes from its position.
func (r *Replica) Run(ctx context.Context, topic string, clientOpts ...kgo.Opt) error {
	opts := append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {r.opts.Shard: kgo.NewOffset().At(r.next)},
		}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), // routers write in transactions
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("shard %d: kafka client: %w", r.opts.Shard, err)
	}
	defer cl.Close()
	r.opts.Logger.Info("replica started", "shard", r.opts.Shard, "resume_offset", r.next, "watermark", r.agg.Watermark())
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
			r.opts.Logger.Warn("fetch", "shard", r.opts.Shard, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		var storeErr error
		fs.EachRecord(func(rec *kgo.Record) {
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
