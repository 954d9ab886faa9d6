package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Options configures a WAL. The zero value is the production setting.
type Options struct {
	// SegmentSize is the size past which Log starts a new segment rather
	// than grow the current one; 0 means DefaultSegmentSize. A batch never
	// spans segments: one larger than SegmentSize gets a segment of its own.
	SegmentSize int64

	// NoSync makes Log return without fsync. A process crash loses nothing
	// (the batches are in the kernel's page cache), but a machine crash or
	// power loss may lose any number of acknowledged batches at the end of
	// the active segment, or leave holes in it that Open reports as
	// corruption. Segments are still synced when they are closed (on Cut,
	// rotation and Close). For benchmarks and tests only.
	NoSync bool
}

func (o Options) validate() error {
	if o.SegmentSize != 0 && o.SegmentSize < MinSegmentSize {
		return fmt.Errorf("wal: Options.SegmentSize %d: must be 0 (for %d) or at least %d", o.SegmentSize, DefaultSegmentSize, MinSegmentSize)
	}
	return nil
}

// Batch is the unit of the log: the records of one flush and the source
// position they bring the storage to. Log writes a batch whole or not at all.
type Batch struct {
	Records  [][]byte // opaque; may be empty, and so may each record
	Position []byte   // opaque; tumble stores its Kafka partition offsets here
}

// OpenStats is what Open found and repaired.
type OpenStats struct {
	// DiscardedBytes counts the bytes cut off the log: a torn tail (a batch
	// whose write a crash interrupted, never acknowledged), or everything
	// from a corruption on, the later segments included.
	DiscardedBytes int64
	// Corruption is the first corruption found, nil if none. Nothing after
	// it is replayed; the bytes from it on were moved to Quarantined.
	Corruption *CorruptionError
	// Quarantined are the paths of the files, beside the segments, holding
	// what was cut off at a corruption: a copy of the corrupt segment as it
	// was, and the later segments renamed. Nothing reads or deletes them;
	// they are kept for inspection.
	Quarantined []string
}

// ReplayStats is what Replay delivered and what it could not.
type ReplayStats struct {
	Segments int // segments read
	Batches  int // batches delivered to fn
	Records  int // records in those batches

	// DiscardedBytes is OpenStats.DiscardedBytes plus any torn tail Replay
	// met itself (left by a Log that failed since Open).
	DiscardedBytes int64
	// LastPosition is a copy of the position of the last batch replayed, or
	// of the position carried into the first segment when every batch
	// before it was truncated away; nil if there is none (or it is empty).
	// The data of every batch up to and including that position has been
	// delivered: a consumer resumes right after it.
	LastPosition []byte
	// Corruption is OpenStats.Corruption, or the corruption Replay met if
	// Open found none.
	Corruption *CorruptionError
}

// WAL is a write-ahead log of batches in a directory of numbered segment
// files (see FORMAT.md). Its methods are safe for concurrent use; they are
// serialized, so a Log waits for a Replay in progress and every Log pays its
// own fsync. The storage engine calls Log from its one flush goroutine.
//
// Only one WAL may be open on a directory at a time, in one process.
type WAL struct {
	dir  string
	opts Options

	mu      sync.Mutex
	f       *os.File      // the active segment, opened for append; nil after a failed rotation
	bw      *bufio.Writer // over f; empty between calls
	first   int           // the oldest segment
	active  int           // the segment Log appends to, the newest
	size    int64         // bytes in the active segment
	batches int           // batches in the active segment
	lastPos []byte        // position of the last batch logged, carried into new segments
	crc     uint32        // running payload checksum of the batch being written
	scratch [max(binary.MaxVarintLen64, frameHeaderSize)]byte
	err     error // the write or sync failure that stopped appends
	closed  bool
	opened  OpenStats
}

const (
	writeBufferSize = 64 << 10
	readBufferSize  = 64 << 10
)

// Open opens the WAL in dir, creating dir and a first segment if needed.
//
// It reads every segment and checks every frame. A torn tail (the final
// batch of the last segment, cut short by a crash) is cut off. At a
// corruption, the corrupt segment is copied aside and cut at the corrupt
// frame, the later segments are renamed aside (OpenStats.Quarantined), and
// appends continue from there: the log stays sound, and the engine, which
// resumes consuming after Replay's LastPosition, consumes again what was cut
// off. OpenStats reports what was cut; Replay reports it as well.
func Open(dir string, opts Options) (*WAL, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("create WAL directory: %w", err)
	}
	w := &WAL{dir: dir, opts: opts}
	if err := w.recover(); err != nil {
		return nil, fmt.Errorf("open WAL %s: %w", dir, err)
	}
	f, err := os.OpenFile(segmentPath(dir, w.active), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open WAL segment %d: %w", w.active, err)
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, writeBufferSize)
	return w, nil
}

// OpenStats returns what Open found and repaired.
func (w *WAL) OpenStats() OpenStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.opened
	st.Quarantined = append([]string(nil), st.Quarantined...)
	return st
}

// Dir returns the WAL's directory.
func (w *WAL) Dir() string { return w.dir }

// Segments returns the numbers of the oldest and the newest (active)
// segment.
func (w *WAL) Segments() (first, last int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, 0, ErrClosed
	}
	return w.first, w.active, nil
}

// Close syncs and closes the active segment. It is safe to call twice; the
// second call does nothing.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.f == nil {
		return nil
	}
	var errs []error
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("write WAL segment %d: %w", w.active, err))
		} else if err := w.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync WAL segment %d: %w", w.active, err))
		}
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close WAL segment %d: %w", w.active, err))
	}
	w.f = nil
	return errors.Join(errs...)
}

// writable reports why appends are refused, if they are.
func (w *WAL) writable() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return fmt.Errorf("%w: %w", ErrFailed, w.err)
	}
	return nil
}

// fail records err as the failure that stops appends and returns it.
func (w *WAL) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}
