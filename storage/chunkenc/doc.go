// Package chunkenc encodes the points of one series into compact, immutable
// chunks: the storage engine's unit of encoding, as Prometheus' tsdb/chunkenc
// is for Prometheus.
//
// A point is a timestamp in milliseconds, a float64 value and an optional
// exemplar (the trace behind the value). Timestamps are coded as deltas of
// deltas, as in the Gorilla paper, so a point on a regular grid pays one bit
// for its timestamp. Values are coded per point in one of two modes: a
// decimal mode for values that are exactly an integer times a power of ten
// (counters, sums, percentiles of decimal inputs), where the integer is
// predicted from the previous ones and the error Rice-coded, and Gorilla's
// XOR mode for everything else. Every value comes back with the bits it was
// appended with, NaN payloads and -0 included. FORMAT.md describes the bytes.
//
// Writing a chunk:
//
//	a := chunkenc.NewAppender()
//	for _, p := range points { // timestamps strictly increasing
//	    if err := a.Append(p.T, p.V, p.Exemplar); err != nil {
//	        // chunkenc.ErrOutOfOrder or chunkenc.ErrFull
//	    }
//	}
//	b := a.Bytes() // a complete chunk; appends may go on
//
// Reading it:
//
//	c, err := chunkenc.Decode(b)
//	if err != nil {
//	    // errors.Is(err, chunkenc.ErrCorrupt)
//	}
//	it := c.Iterator(nil)
//	for it.Next() {
//	    t, v := it.At()
//	    if ex, ok := it.Exemplar(); ok {
//	        ...
//	    }
//	}
//	if err := it.Err(); err != nil {
//	    // a corrupt stream: *chunkenc.CorruptError with the byte offset
//	}
//
// An Appender is used by one goroutine at a time. The slices its Bytes method
// returns are never written again, so a head chunk can be read from other
// goroutines while appends go on. A decoded Chunk is immutable; each
// goroutine iterates it with its own Iterator.
//
// The package is a leaf: it imports nothing of tumble.
package chunkenc
