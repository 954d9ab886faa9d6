package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// OffsetGap is a raw partition whose offset committed in the routers' group
// lies outside its log. Either the partition ends before it (Recreated: the
// raw topic was deleted and created again, or truncated) or it starts after
// it (Lost records: retention, or a deletion by hand, took records before
// any router read them). In both cases the router reads the partition from
// its log start.
type OffsetGap struct {
	TopicPartition
	Committed int64 // the committed offset: the next record to route
	Start     int64 // the partition's log start offset
	End       int64 // the partition's end offset (its high watermark)
}

// Recreated reports whether the partition ends before the committed offset.
// For a topic created again, reading it from its start is right; for a
// truncated one, the records it still holds were routed before and are
// routed again.
func (g OffsetGap) Recreated() bool { return g.Committed > g.End }

// Lost returns the number of records deleted before a router read them;
// their samples are lost. It is 0 for a recreated partition.
func (g OffsetGap) Lost() int64 {
	if g.Recreated() {
		return 0
	}
	return g.Start - g.Committed
}

// String says what happened, for a person.
func (g OffsetGap) String() string {
	if g.Recreated() {
		return fmt.Sprintf("raw partition %s/%d ends at offset %d, before the routers' committed offset %d: "+
			"the topic was deleted and created again, or truncated; it is read again from offset %d",
			g.Topic, g.Partition, g.End, g.Committed, g.Start)
	}
	return fmt.Sprintf("raw partition %s/%d starts at offset %d, after the routers' committed offset %d: "+
		"%d records were deleted before a router read them and their samples are lost",
		g.Topic, g.Partition, g.Start, g.Committed, g.Lost())
}

// logArgs are the attributes to log a gap with.
func (g OffsetGap) logArgs() []any {
	return []any{"topic", g.Topic, "partition", g.Partition, "committed", g.Committed,
		"start", g.Start, "end", g.End, "recreated", g.Recreated(), "records_lost", g.Lost()}
}

// listTimeout bounds a listing of raw partitions' offsets.
const listTimeout = 5 * time.Second

// bounds is a partition's log start offset and end offset (its high
// watermark).
type bounds struct{ start, end int64 }

// listBounds lists the log start and end offsets of tps, in at most
// listTimeout. Its error names the partitions it could not list; the
// bounds of the others come with it.
func listBounds(ctx context.Context, adm *kadm.Client, tps []TopicPartition) (map[TopicPartition]bounds, error) {
	var topics []string
	for _, tp := range tps {
		if !slices.Contains(topics, tp.Topic) {
			topics = append(topics, tp.Topic)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	// A partial answer still serves: what is missing fails below.
	starts, startErr := adm.ListStartOffsets(ctx, topics...)
	ends, endErr := adm.ListEndOffsets(ctx, topics...)
	bs := make(map[TopicPartition]bounds, len(tps))
	var errs []error
	for _, tp := range tps {
		start, err := listedOffset(starts, startErr, tp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: list start offset: %w", tp.Topic, tp.Partition, err))
			continue
		}
		end, err := listedOffset(ends, endErr, tp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: list end offset: %w", tp.Topic, tp.Partition, err))
			continue
		}
		bs[tp] = bounds{start, end}
	}
	if len(errs) > 0 {
		return bs, fmt.Errorf("list the offsets of raw partitions: %w", errors.Join(errs...))
	}
	return bs, nil
}

// offsetGaps returns, in the order of assigned, the partitions whose
// committed offset lies outside the log that bs gives (see OffsetGap).
// committed is the group's offsets as they were when the partitions were
// assigned, before the router commits in them. A partition that committed
// does not name, or names with an offset below 0 (nothing committed: the
// router reads it from its start), or that bs does not hold, is not
// checked.
//
// The caller logs each gap at Error level, with g.String() as the message
// and g.logArgs() as the attributes (topic, partition, committed, start,
// end, recreated, records_lost), and counts them: recreated partitions in
// one counter, g.Lost() records in another.
func offsetGaps(committed map[string]map[int32]kgo.EpochOffset, assigned []TopicPartition, bs map[TopicPartition]bounds) []OffsetGap {
	var gaps []OffsetGap
	for _, tp := range assigned {
		o, ok := committed[tp.Topic][tp.Partition]
		b, listed := bs[tp]
		if !ok || o.Offset < 0 || !listed {
			continue
		}
		if c := o.Offset; c < b.start || c > b.end {
			gaps = append(gaps, OffsetGap{TopicPartition: tp, Committed: c, Start: b.start, End: b.end})
		}
	}
	return gaps
}

// checkCommitted lists the offsets of the assigned partitions that
// committed names and returns their gaps (see offsetGaps and listBounds).
func checkCommitted(ctx context.Context, adm *kadm.Client, committed map[string]map[int32]kgo.EpochOffset, assigned []TopicPartition) ([]OffsetGap, error) {
	var check []TopicPartition
	for _, tp := range assigned {
		if o, ok := committed[tp.Topic][tp.Partition]; ok && o.Offset >= 0 {
			check = append(check, tp)
		}
	}
	if len(check) == 0 {
		return nil, nil
	}
	bs, err := listBounds(ctx, adm, check)
	if err != nil {
		err = fmt.Errorf("check committed offsets: %w", err)
	}
	return offsetGaps(committed, assigned, bs), err
}

// listedOffset returns the offset of tp in l, a listing that returned
// listErr.
func listedOffset(l kadm.ListedOffsets, listErr error, tp TopicPartition) (int64, error) {
	o, ok := l.Lookup(tp.Topic, tp.Partition)
	switch {
	case ok && o.Err != nil:
		return 0, o.Err
	case ok:
		return o.Offset, nil
	case listErr != nil:
		return 0, listErr
	}
	if o, ok := l.Lookup(tp.Topic, -1); ok && o.Err != nil { // the topic does not exist
		return 0, o.Err
	}
	return 0, errors.New("not listed")
}
