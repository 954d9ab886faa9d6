package router

import (
	"maps"

	"github.com/tumblemetrics/tumble/sample"
)

// Stats counts what a Router did.
//
// Route counts Records, Dropped, DeadLetters and SamplesIn as it routes,
// so the records of an aborted transaction count again when they are read
// again; RecordsOut and SamplesOut count what committed transactions
// wrote. Run publishes a copy after every poll (see Router.Published).
type Stats struct {
	Records     uint64            // raw records routed or dead-lettered
	Dropped     uint64            // samples no rule kept
	DeadLetters map[string]uint64 // dead-lettered records by reason code

	// SamplesIn counts the samples of the raw records routed (those of
	// dead-lettered records are not counted) by raw topic and the format
	// they decoded as: sample.FormatJSON or sample.FormatProto.
	SamplesIn map[TopicFormat]uint64
	// RecordsOut counts the records that committed transactions wrote, by
	// topic: shard records and watermark records to the shard topic, dead
	// letters to the dead-letter topic.
	RecordsOut map[string]uint64
	// SamplesOut counts the samples (one per sample and output series)
	// in the shard records that committed transactions wrote, by topic. Only the shard topic carries samples: a dead letter is a raw
	// record as it came, counted in RecordsOut.
	SamplesOut map[string]uint64
	// RawRecreated counts the raw partitions assigned whose committed
	// offset was past their end (the topic was recreated or truncated);
	// RawRecordsLost the records of raw partitions deleted before a router
	// read them (see OffsetGap).
	RawRecreated, RawRecordsLost uint64
	// Lag is, per raw-topic partition the router owns, the records of the
	// partition not consumed yet: its high watermark as of the last fetch
	// that told it, less the next offset to consume. A partition appears
	// once the router has fetched it and committed a position in it, and
	// leaves when it is revoked or lost.
	Lag map[TopicPartition]int64
	// Watermarks is, per raw-topic partition the router owns, the
	// event-time watermark (ms) written by its last committed transaction:
	// what the replicas were told of the partition. It is
	// shard.NoWatermark until the router knows one; a partition appears
	// when it is assigned and leaves when it is revoked or lost.
	Watermarks map[TopicPartition]int64
}

// TopicFormat is a raw topic and a record format.
type TopicFormat struct {
	Topic  string
	Format sample.Format
}

// TopicPartition is a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func newStats() Stats {
	return Stats{
		DeadLetters: map[string]uint64{},
		SamplesIn:   map[TopicFormat]uint64{},
		RecordsOut:  map[string]uint64{},
		SamplesOut:  map[string]uint64{},
		Lag:         map[TopicPartition]int64{},
		Watermarks:  map[TopicPartition]int64{},
	}
}

// clone returns a copy of st that shares no map with it.
func (st Stats) clone() Stats {
	st.DeadLetters = maps.Clone(st.DeadLetters)
	st.SamplesIn = maps.Clone(st.SamplesIn)
	st.RecordsOut = maps.Clone(st.RecordsOut)
	st.SamplesOut = maps.Clone(st.SamplesOut)
	st.Lag = maps.Clone(st.Lag)
	st.Watermarks = maps.Clone(st.Watermarks)
	return st
}

// Stats returns the Router's counters (a copy); only its owner may call it.
func (r *Router) Stats() Stats { return r.stats.clone() }

// Published returns the counters as Run last published them; any goroutine
// may call it. The maps of the result are shared: read them, do not
// modify them.
func (r *Router) Published() Stats {
	if st := r.snap.Load(); st != nil {
		return *st
	}
	return Stats{}
}

// publish makes the counters as they are the ones Published returns; only
// the owner may call it.
func (r *Router) publish() {
	st := r.stats.clone()
	r.snap.Store(&st)
}
