// Package storage is tumble's embedded storage engine: it keeps the points of
// aggregated series, per storage policy, durably, and answers PromQL over them.
//
// The parts, each a package of its own:
//
//   - storage/chunkenc encodes the points of a series into chunks (Gorilla,
//     plus a bit-exact decimal mode, with exemplars beside the points);
//   - storage/wal is the write-ahead log: one checksummed, fsynced frame per
//     appended batch, with the caller's source position;
//   - storage/index is the inverted label index (postings per label pair);
//   - storage/block writes and reads immutable blocks of chunks and index.
//
// A DB assembles them. Points go to the WAL, then to the head: one series
// per (labels, policy), its recent points in chunks in memory. A head that
// spans 1.5 block durations (2h by default) is cut: its oldest block range
// is written as a block, the head drops it and refuses points older than
// that from then on, and the WAL segments whose points are all in blocks are
// deleted. Blocks are merged three at a time into larger ones (2h, 6h, 18h,
// …, up to a tenth of the policy's retention) and deleted whole once every
// point in them is older than the retention, counted back from the newest
// point of the policy. The layout on disk and the WAL records are in
// FORMAT.md.
//
//	db, err := storage.Open(dir, storage.Options{})
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	log.Print(db.Startup()) // blocks loaded, WAL replayed, what was discarded
//	consumer.ResumeAfter(db.Position())
//	for batch := range flushes {
//		st, err := db.Append(batch.Points, batch.Offsets)
//		if errors.Is(err, storage.ErrTooOld) {
//			// st.Refused points were older than the head; the rest is stored
//		} else if err != nil {
//			return err
//		}
//	}
//
// and to query it with the PromQL engine:
//
//	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute})
//	q, err := engine.NewRangeQuery(ctx, db, nil, `sum by (service)(rate(x[5m]))`, start, end, time.Minute)
//
// # Semantics
//
// Append is durable when it returns: the batch and its position survive a
// crash together, and a batch is never half there. Points of a series may
// come in any order within the head. Writing a point again is a no-op if it
// is the same bit for bit (value and exemplar), which makes re-consuming a
// source after a crash harmless; a different value at the same timestamp
// replaces the old one (the newer write wins) and is counted in
// AppendStats.Overwritten. A point older than the head of its policy is
// refused with a *TooOldError, the rest of its batch stored.
//
// A query reads, for a series stored under several policies, the finest
// policy whose retention reaches back to the query's start (PolicyLabel
// picks one explicitly). Exemplars are returned by ExemplarQuerier with the
// trace ID in the label trace_id.
//
// A block that fails its checks at Open is renamed aside and the DB starts
// with the rest; a chunk that fails its checksum when read fails that read
// with an error naming the file and offset: the DB never returns a value it
// cannot vouch for.
//
// # Concurrency
//
// One goroutine appends at a time (Append is serialized); queries, Stats and
// Blocks run from any goroutine alongside it and alongside the background
// goroutine that cuts, compacts and expires blocks, which Open starts and
// Close stops. Only one process may open a directory (it is locked).
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package storage
