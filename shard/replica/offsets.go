package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// OffsetsError is a shard partition that ends before the offset its replica
// resumes from: the shard topic was deleted and created again, or
// truncated, since the replica stored its position. The records the
// replica would read next are not the ones its storage and checkpoints
// follow on from, so it stops rather than store wrong points.
type OffsetsError struct {
	Shard  int32  // the shard, which is also the partition
	Topic  string // the shard topic
	Resume int64  // the offset the replica was to read next
	Start  int64  // the partition's log start offset
	End    int64  // the partition's end offset (its high watermark)
	Dir    string // the replica's checkpoint directory
}

func (e *OffsetsError) Error() string {
	return fmt.Sprintf("shard %d: partition %d of topic %s ends at offset %d (it holds offsets %d to %d), "+
		"before offset %d where the replica resumes: the topic was deleted and created again, or truncated, "+
		"since the replica stored its position. Restore the topic if it was lost by mistake; "+
		"otherwise stop the node and delete the replica's storage and checkpoints (%s) to rebuild it "+
		"from what the topic holds now",
		e.Shard, e.Shard, e.Topic, e.End, e.Start, e.End, e.Resume, e.Dir)
}

// resumePoint decides where a replica whose next offset is resume reads
// its partition from, given the partition's log start and end offsets. A
// partition that holds resume is read from it. One that starts past it
// (retention deleted records the replica had not read) is read from its
// start: lost records are gone. One that ends before it cannot be read
// on: ok is false.
func resumePoint(resume, start, end int64) (from, lost int64, ok bool) {
	switch {
	case end < resume:
		return 0, 0, false
	case start > resume:
		return start, start - resume, true
	}
	return resume, 0, true
}

// checkOffsets lists the log start and end offsets of the replica's
// partition of topic and returns the offset to read from (see
// resumePoint): an *OffsetsError if the partition ends before the
// replica's next offset; the partition's start, logged, counted in Gaps
// and GapRecords, and made the next offset, if retention deleted records
// before it. A listing that fails is tried again until ctx ends, which
// returns ctx's error.
func (r *Replica) checkOffsets(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	var start, end int64
	for attempt := 1; ; attempt++ {
		var err error
		start, end, err = listBounds(ctx, adm, topic, r.opts.Shard)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		r.opts.Logger.Warn("list the shard partition's offsets", "shard", r.opts.Shard, "topic", topic, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 500 * time.Millisecond):
		}
	}
	from, lost, ok := resumePoint(r.next, start, end)
	if !ok {
		return 0, &OffsetsError{Shard: r.opts.Shard, Topic: topic, Resume: r.next, Start: start, End: end, Dir: r.opts.Dir}
	}
	if lost > 0 {
		r.opts.Logger.Error("shard records deleted before the replica read them: their samples are lost to it; reading on from the partition's start",
			"shard", r.opts.Shard, "topic", topic, "missing_from", r.next, "missing_to", start-1, "records_lost", lost)
		r.stats.Gaps++
		r.stats.GapRecords += uint64(lost)
		r.next = from
	}
	r.stats.Lag = end - from
	r.publish()
	return from, nil
}

// listBounds returns the log start offset and the end offset (the high
// watermark, which no offset a replica read can pass) of partition p of
// topic.
func listBounds(ctx context.Context, adm *kadm.Client, topic string, p int32) (start, end int64, err error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := adm.ListStartOffsets(lctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(lctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("list end offsets: %w", err)
	}
	s, err := listed(starts, topic, p)
	if err != nil {
		return 0, 0, fmt.Errorf("list start offsets: %w", err)
	}
	e, err := listed(ends, topic, p)
	if err != nil {
		return 0, 0, fmt.Errorf("list end offsets: %w", err)
	}
	return s, e, nil
}

// listed returns the offset listed for partition p of topic.
func listed(l kadm.ListedOffsets, topic string, p int32) (int64, error) {
	o, ok := l.Lookup(topic, p)
	if !ok {
		if err := l.Error(); err != nil { // the topic does not exist
			return 0, err
		}
		return 0, fmt.Errorf("topic %s has no partition %d", topic, p)
	}
	if o.Err != nil {
		return 0, o.Err
	}
	return o.Offset, nil
}

// offsetsMoved reports whether a fetch error means the partition no longer
// holds the offset the replica reads next, or lost records it had read.
func offsetsMoved(err error) bool {
	var dl *kgo.ErrDataLoss
	return errors.Is(err, kerr.OffsetOutOfRange) || errors.Is(err, kerr.UnknownTopicID) || errors.As(err, &dl)
}
