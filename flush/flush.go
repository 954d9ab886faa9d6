package flush

import (
	"fmt"

	"github.com/tumblemetrics/tumble/aggregator"
)

// Sink writes points. It must not keep the slice: the Flusher reuses it.
type Sink func(points []aggregator.Point) error

// Flusher closes an aggregator's windows as the watermark advances and
// writes their points to a Sink.
type Flusher struct {
	agg     *aggregator.Aggregator
	sink    Sink
	pending []aggregator.Point // closed, not yet written
	stats   Stats
}

// Stats counts a Flusher's work.
type Stats struct {
	Writes       uint64 // calls to the sink that succeeded
	Points       uint64 // points written
	FailedWrites uint64 // calls to the sink that failed; their points were kept
}

// New returns a Flusher of agg's windows into sink.
func New(agg *aggregator.Aggregator, sink Sink) *Flusher {
	return &Flusher{agg: agg, sink: sink}
}

// Advance moves the watermark to wm and writes the points of the windows it
// closes, after any points an earlier write failed to take. On error the
// points stay pending for the next call.
func (f *Flusher) Advance(wm int64) error {
	f.pending = f.agg.Advance(wm, f.pending)
	return f.write()
}

// Close closes every open window, as at the end of the input, and writes
// their points.
func (f *Flusher) Close() error {
	f.pending = f.agg.Flush(f.pending)
	return f.write()
}

// Pending returns how many closed points wait to be written.
func (f *Flusher) Pending() int { return len(f.pending) }

// Stats returns the Flusher's counters.
func (f *Flusher) Stats() Stats { return f.stats }

func (f *Flusher) write() error {
	if len(f.pending) == 0 {
		return nil
	}
	if err := f.sink(f.pending); err != nil {
		f.stats.FailedWrites++
		return fmt.Errorf("flush %d points: %w", len(f.pending), err)
	}
	f.stats.Writes++
	f.stats.Points += uint64(len(f.pending))
	f.pending = f.pending[:0]
	return nil
}
