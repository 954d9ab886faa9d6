package shard

import "fmt"

// Of returns the shard, in [0, shards), of the output series whose ID is
// seriesID (aggregator.Target.ID, the xxhash of its name and labels). The
// ID is already a uniform hash, so its remainder is a uniform shard.
func Of(seriesID uint64, shards int) int {
	return int(seriesID % uint64(shards))
}

// Validate checks a shard count: at least one, and no more than Kafka's
// partitions of one topic can reasonably carry.
func Validate(shards int) error {
	if shards < 1 || shards > MaxShards {
		return fmt.Errorf("shard count %d is outside 1..%d", shards, MaxShards)
	}
	return nil
}

// MaxShards bounds the shard count.
const MaxShards = 1 << 16
