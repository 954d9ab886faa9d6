// Package replica is one replica of one shard: it reads the shard's
// partition of the shard topic, aggregates its samples into windows, and
// stores the windows the watermark closes in the shard's own storage,
// together with the position to resume from.
//
// The core is deterministic (no clock, no I/O but the storage): every
// replica of a shard reads the same records in the same order and stores
// the same points. Run is the thin shell that feeds it from Kafka:
//
//	db, err := storage.Open(filepath.Join(dataDir, "shard-3"), storage.Options{})
//	r, err := replica.New(replica.Options{Shard: 3, DB: db})
//	err = r.Run(ctx, "tumble-shards", kgo.SeedBrokers(brokers...))
//
// # Exactly once across restarts
//
// With every flush the replica stores a Position: the shard watermark whose
// closed windows are stored, and the smallest offset of a record that went
// into a window still open. A restarted replica sets its watermark to the
// stored one (so closed windows are never emitted again) and reads from that
// offset (so open windows are rebuilt whole). Windows that close again with
// the same samples give the same points, which the storage takes as no-ops.
//
// Not yet carried across a restart: state that spans windows — the baseline
// of a cumulative input series and the running totals of the Add transform.
// After a restart the first window of such a series starts from a fresh
// baseline.
//
// # Watermarks
//
// Routers write watermark records into every partition; the shard's
// watermark is the smallest among the routers whose watermark is within
// Options.RouterTimeout of the newest, so that a router that stopped does
// not hold the shard back for ever.
package replica
