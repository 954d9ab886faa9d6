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
package shard
