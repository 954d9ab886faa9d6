// Package wal is the write-ahead log of the storage engine: it makes each
// flush of the aggregator durable before the flush is acknowledged, together
// with the source position (tumble's Kafka offsets) the flush brings the
// storage to.
//
// The unit of the log is a Batch: the records of one flush, opaque bytes,
// and an opaque position. Log writes a batch as one checksummed frame and
// fsyncs it; when Log returns, the batch survives a crash. After a crash,
// Replay delivers every acknowledged batch, whole, in order, and never a
// half-written one, and its LastPosition is the position of the last batch
// delivered: the data and the position come back together.
//
// A storage engine opens the log, replays it into its head, resumes
// consuming after the last position, and logs a batch per flush:
//
//	w, err := wal.Open(filepath.Join(dataDir, "wal"), wal.Options{})
//	if err != nil {
//		return err
//	}
//	defer w.Close()
//	st, err := w.Replay(func(_ int, b wal.Batch) error {
//		return head.Apply(b.Records) // b is reused: Apply copies what it keeps
//	})
//	if err != nil {
//		return err
//	}
//	if st.Corruption != nil || st.DiscardedBytes > 0 {
//		logger.Warn("WAL repaired", "corruption", st.Corruption, "discarded_bytes", st.DiscardedBytes)
//	}
//	consumer.ResumeAfter(st.LastPosition)
//	for f := range flushes {
//		if err := w.Log(wal.Batch{Records: f.Records, Position: f.Offsets}); err != nil {
//			return err
//		}
//		head.Apply(f.Records)
//	}
//
// and, to persist a block of the head:
//
//	seg, err := w.Cut() // batches logged so far are in segments below seg
//	// ... write the block, durably ...
//	err = w.Truncate(seg)
//
// # Torn writes and corruption
//
// A crash in the middle of Log leaves a torn tail: a partial frame at the
// end of the last segment. Open cuts it off and reports its size in
// OpenStats and ReplayStats.DiscardedBytes; that batch had not been
// acknowledged.
//
// Bytes that fail a check anywhere else (a checksum mismatch, an impossible
// length, a missing segment, with valid frames after them or in a segment
// that is not the last) are a corruption, reported as a *CorruptionError
// with the directory, segment and byte offset. Replay delivers every batch
// before it and nothing after it, so it never delivers data past a hole.
// Open repairs the log so that the engine can start: it copies the corrupt
// segment aside ("00000007.corrupt"), cuts it at the corruption, and renames
// the later segments aside as well; appends go on after the last good batch.
// The engine logs the corruption and resumes consuming after LastPosition,
// which is the position of the last batch before the corruption: what the
// log lost, it consumes again (writing a point again is a no-op).
//
// A WAL is safe for concurrent use; its methods are serialized. Only one WAL
// may be open on a directory at a time. The byte format is in FORMAT.md.
package wal
