package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// Options configures a DB. The zero value is the production setting.
type Options struct {
	// BlockDuration is the span of data time the head is cut into blocks
	// by, aligned to multiples of it since the epoch; 0 means 2h. The head
	// is cut once it holds 1.5 times that span, so points as old as half a
	// block behind the newest are still accepted.
	BlockDuration time.Duration

	// MaxBlockDuration caps the span of the blocks compaction makes; 0
	// means a tenth of each policy's retention, at most 31 days. Blocks
	// are merged three at a time: 2h, 6h, 18h, 54h, …
	MaxBlockDuration time.Duration

	// ChunkPoints is the number of points after which a head chunk is
	// closed and a new one started; 0 means 120.
	ChunkPoints int

	// WALSegmentSize is passed to the WAL (wal.Options.SegmentSize).
	WALSegmentSize int64

	// NoSync skips the fsync after each appended batch (wal.Options.NoSync):
	// a process crash loses nothing, a machine crash may. For tests and
	// benchmarks only.
	NoSync bool

	// NoBackground disables the goroutine that cuts, compacts and expires
	// blocks as data arrives; the caller then calls Compact itself. Tests
	// use it to decide when blocks are made.
	NoBackground bool

	// Logger receives what Open repaired and what the background work did;
	// nil discards.
	Logger *slog.Logger
}

const (
	defaultBlockDuration = 2 * time.Hour
	maxCompactedDuration = 31 * 24 * time.Hour
	defaultChunkPoints   = 120
)

func (o *Options) validate() error {
	var errs []error
	if o.BlockDuration < 0 || o.BlockDuration%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("BlockDuration %s: want a positive whole number of milliseconds", o.BlockDuration))
	}
	if o.MaxBlockDuration < 0 {
		errs = append(errs, fmt.Errorf("MaxBlockDuration %s: want a positive duration", o.MaxBlockDuration))
	}
	if o.ChunkPoints < 0 || o.ChunkPoints > chunkenc.MaxPoints {
		errs = append(errs, fmt.Errorf("ChunkPoints %d: want 1 to %d", o.ChunkPoints, chunkenc.MaxPoints))
	}
	if o.WALSegmentSize < 0 {
		errs = append(errs, fmt.Errorf("WALSegmentSize %d: want a positive size", o.WALSegmentSize))
	}
	return errors.Join(errs...)
}

func (o *Options) withDefaults() Options {
	r := *o
	if r.BlockDuration == 0 {
		r.BlockDuration = defaultBlockDuration
	}
	if r.ChunkPoints == 0 {
		r.ChunkPoints = defaultChunkPoints
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}
