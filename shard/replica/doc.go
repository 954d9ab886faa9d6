// Package replica is one replica of one shard: it reads the shard's
// partition of the shard topic, aggregates its samples into windows, and
// stores the windows the watermark closes in the shard's own storage,
// together with the position to resume from.
//
// The core is deterministic (no clock, no I/O but the storage): every
// replica of a shard reads the same records in the same order and stores
// the same points. Run is the thin shell that feeds it from Kafka:
//
//	db, err := storage.Open(filepath.Join(dataDir, "shard-3", "tsdb"), storage.Options{})
//	r, err := replica.New(replica.Options{Shard: 3, DB: db, Dir: filepath.Join(dataDir, "shard-3", "checkpoints")})
//	err = r.Run(ctx, "tumble-shards", kgo.SeedBrokers(brokers...))
//
// # Exactly once across restarts
//
// Open windows are rebuilt after a restart by reading their records again;
// what a replica saves is the state that spans windows (the baseline of a
// cumulative input series, running totals, the type of each series), in a
// checkpoint file in Options.Dir. A checkpoint is taken in two steps: the
// input state as of an offset S (with the router watermarks), and, once
// every window then open has been stored, the output state (the stored
// watermark, post-rollup transforms); then the file is written and synced,
// and the position stored with the next points names it. A restarted
// replica restores the checkpoint its position names and reads again from
// S: samples of windows stored before only move the state on, as they did
// the first time, and every later window comes out as it would have without
// the restart; windows stored again with the same points are no-ops in the
// storage. With the watermark moving at real time, a checkpoint is taken
// every Options.CheckpointInterval and completes one window span later, so
// a restart reads again between one and two intervals plus the longest
// window and its lateness.
//
// The shard topic must keep records for that long (the default retention of
// days is ample).
//
// # Watermarks
//
// Routers write watermark records into every partition; the shard's
// watermark is the smallest among the routers whose watermark is within
// Options.RouterTimeout of the newest, so that a router that stopped does
// not hold the shard back for ever.
package replica
