package shard

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// KindPartitions is the kind of a partition-watermarks record.
const KindPartitions byte = 3

// NoWatermark is the watermark of a raw partition whose event time is not
// known yet (assigned, not read, not known to be caught up): it holds the
// shard's event time back until its owner tells more.
const NoWatermark = math.MinInt64

// PartitionWatermark is the event-time progress of one partition of a raw
// topic: every sample of the partition up to the owner's position has been
// routed, and its owner will route no sample with an event time at or
// before Watermark that it has not routed already, except late ones.
type PartitionWatermark struct {
	Topic     string
	Partition int32
	Watermark int64 // ms; NoWatermark: not known yet
}

// RawTopic is a raw topic a router reads and its number of partitions (0:
// not known yet).
type RawTopic struct {
	Name       string
	Partitions int32
}

// MaxRawPartitions bounds the partitions of a raw topic a record may name.
const MaxRawPartitions = 1 << 16

// AppendPartitions appends a partition-watermarks record of router: the
// raw topics it reads (every one, even those of which it owns no
// partition), with their partition counts, and the watermark of each raw
// partition it owns. Every topic of wms must be in topics; wms are written
// grouped by topic, in the order of topics, and by partition within a
// topic.
//
// A replica keeps the largest watermark it was told of every raw partition
// and takes the smallest over the partitions as the shard's watermark, so
// that a partition that is read behind the others (a backlog, a restart, a
// router that took it over) holds the shard's windows open; a partition
// that a topic's count says exists, but that no router has told of yet,
// holds them at NoWatermark. A record also retires the partitions of
// topics it does not name: a raw topic that every router stopped reading
// no longer holds event time.
func AppendPartitions(dst []byte, router string, topics []RawTopic, wms []PartitionWatermark) []byte {
	dst = append(dst, KindPartitions)
	dst = appendString(dst, router)
	dst = binary.AppendUvarint(dst, uint64(len(topics)))
	for _, rt := range topics {
		t := rt.Name
		dst = appendString(dst, t)
		dst = binary.AppendUvarint(dst, uint64(rt.Partitions))
		var of []PartitionWatermark
		for _, w := range wms {
			if w.Topic == t {
				of = append(of, w)
			}
		}
		slices.SortFunc(of, func(a, b PartitionWatermark) int { return int(a.Partition) - int(b.Partition) })
		dst = binary.AppendUvarint(dst, uint64(len(of)))
		for _, w := range of {
			dst = binary.AppendUvarint(dst, uint64(w.Partition))
			dst = binary.AppendVarint(dst, w.Watermark)
		}
	}
	return dst
}

// decodePartitions decodes the body of a partition-watermarks record.
func decodePartitions(dec *reader, r *Record) {
	r.Router = dec.string("router")
	nt := dec.count("topic count", 2)
	for range nt {
		t := dec.string("topic")
		if dec.err == nil && slices.ContainsFunc(r.Topics, func(rt RawTopic) bool { return rt.Name == t }) {
			dec.fail(fmt.Sprintf("topic %q named twice", t))
		}
		total := dec.uvarint("topic partitions")
		if dec.err == nil && total > MaxRawPartitions {
			dec.fail(fmt.Sprintf("topic %q of %d partitions, more than %d", t, total, MaxRawPartitions))
		}
		r.Topics = append(r.Topics, RawTopic{Name: t, Partitions: int32(total)})
		np := dec.count("partition count", 2)
		last := int64(-1)
		for range np {
			p := dec.uvarint("partition")
			if dec.err == nil && (p >= MaxRawPartitions || int64(p) <= last) {
				dec.fail(fmt.Sprintf("partition %d of %q out of order or range", p, t))
			}
			last = int64(p)
			w := dec.varint("watermark")
			r.Partitions = append(r.Partitions, PartitionWatermark{Topic: t, Partition: int32(p), Watermark: w})
		}
	}
}
