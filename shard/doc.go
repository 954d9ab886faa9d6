// Package shard is the vocabulary of a shard: which shard an output
// series belongs to, and the records of the shard topic. Its
// subpackages move samples to shards and keep replicas of them: router,
// replica, leader, placement, clusterstatus and node.
//
// A tumble cluster has a fixed number N of shards, set when the cluster is
// created; shard i is partition i of the shard topic. Every sample of an
// output series goes to one shard, so that the samples of a rollup meet
// there and its percentiles need no second aggregation stage:
//
//	s := shard.Of(target.ID, n) // target.ID: xxhash of the series' name and labels
//
// The mapping is part of the cluster's data layout: it must never change
// between versions, which a golden test holds it to.
//
// The records of the shard topic are written by routers and read by the
// replicas of each shard. A samples record carries samples of the shard,
// each for one output series with that series' whole pipeline (name,
// labels, aggregations, storage policies, transforms) and the name of the
// rule that made it, so that a replica aggregates it without the rules and
// counts its late samples per rule; a router writes one per shard and raw
// record, so that a record carries some hundred samples and costs Kafka
// little. A target's pipeline is written once per record and referred to
// by number after. A partition-watermarks record says, for each raw
// partition a router owns, up to which event time it has routed that
// partition; a replica's watermark is the smallest over every raw partition
// it was told of, so a partition read behind the others holds the windows
// open. Every replica reads the same records in the same order and so
// closes the same windows.
//
//	var b shard.Batch
//	b.Add(target, inputSeriesID, &s) // …for each sample of the shard
//	rec := b.Bytes()
//	wm := shard.AppendPartitions(nil, routerID, []shard.RawTopic{{Name: "metrics", Partitions: 8}},
//		[]shard.PartitionWatermark{{Topic: "metrics", Partition: 3, Watermark: ms}})
//
//	var d shard.Decoder
//	var r shard.Record
//	if err := d.Decode(value, &r); err != nil { ... } // errors.Is(err, shard.ErrRecord)
//	for _, e := range r.Samples { agg.Add(e.Target, e.Input, &e.Sample) }
//
// Layout (integers are varints as in encoding/binary unless sized):
//
//	samples:   1, then samples to the end of the record, at least one:
//	           target (uvarint: 0 then spec length (2 bytes, big endian) and spec, or the
//	           number of a spec given earlier in the record, from 1), input series ID (8 bytes LE),
//	           sample type (1 byte; bit 7 set if a trace ID follows), value (8 bytes LE
//	           IEEE 754), timestamp ms (varint), [trace ID (16 bytes, not all zero)]
//	spec:      name, label count, (name, value)…, aggregations (uvarint bit set),
//	           policy count, (resolution ms, retention ms)…, pre transform (1 byte), post transform (1 byte),
//	           then, if the target names its rule: 0 (1 byte), rule (not empty),
//	           then, if the target selects traces: trace aggregations (uvarint bit set, not 0), rule,
//	           traces per second (8 bytes LE IEEE 754), tenant, tenant traces per second (8 bytes)
//	           (earlier versions: no rule name; the 0 cannot start a selection spec, whose
//	           trace aggregations are never empty, so both forms decode. Replicas of earlier
//	           versions refuse a spec with a rule name: upgrade them before the routers.)
//	watermark: 2, router ID, watermark ms (varint) (earlier versions: one watermark per router)
//	partition watermarks:
//	           3, router ID, topic count, (topic, the topic's partitions (uvarint; 0: not known), count,
//	           (partition (uvarint, increasing), watermark ms (varint; math.MinInt64: not known yet))…)…
//
// Strings are a uvarint length and the bytes.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package shard
