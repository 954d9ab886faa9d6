// Package flush closes windows and writes their points.
//
// As a shard's watermark advances, a Flusher closes the aggregator's windows
// whose end plus lateness it has passed and hands their points, in closing
// order, to a sink: the embedded storage engine in the server, a JSON writer
// in replay. A point whose write failed is kept and written again, first, by
// the next call: a closed window is never lost to a failed write.
//
//	f := flush.New(agg, func(ps []aggregator.Point) error { return store.Append(ps) })
//	for each record of the shard partition {
//	    ... agg.Add(...) for its samples, or, for a watermark record:
//	    if err := f.Advance(wm); err != nil { ... retry later; nothing is lost }
//	}
//	err := f.Close() // end of input: close every window
//
// A Flusher belongs to the goroutine that owns its aggregator.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package flush
