// Package shard maps output series to shards.
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
// replicas of each shard. A sample record carries one sample for one output
// series with that series' whole pipeline (name, labels, aggregations,
// storage policies, transforms), so that a replica aggregates it without
// the rules; its key is the output series ID. A watermark record says up to
// which event time a router has routed; every replica reads the same
// records in the same order and so closes the same windows.
//
//	rec := shard.AppendSample(nil, target, inputSeriesID, &s)
//	wm := shard.AppendWatermark(nil, routerID, maxEventTimeMs)
//
//	var d shard.Decoder
//	var r shard.Record
//	if err := d.Decode(value, &r); err != nil { ... } // errors.Is(err, shard.ErrRecord)
//
// Layout (integers are varints as in encoding/binary unless sized):
//
//	sample:    1, spec length (2 bytes, big endian), spec, input series ID (8 bytes LE),
//	           sample type (1 byte), value (8 bytes LE IEEE 754), timestamp ms (varint), trace ID (16 bytes)
//	spec:      name, label count, (name, value)…, aggregations (uvarint bit set),
//	           policy count, (resolution ms, retention ms)…, pre transform (1 byte), post transform (1 byte)
//	watermark: 2, router ID, watermark ms (varint)
//
// Strings are a uvarint length and the bytes.
package shard
