package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
)

// Log appends b as one frame and, unless Options.NoSync, fsyncs the segment
// before returning: once Log returns nil, b survives a crash, whole, and
// Replay delivers it after every batch logged before it. If the active
// segment would grow past Options.SegmentSize, Log first closes it and starts
// the next one.
//
// An error from writing or syncing stops the WAL: this Log and every later
// Log and Cut fail (with ErrFailed), and whether b survives is unknown. Close
// the WAL and open it again to go on; Open cuts off a partial write.
func (w *WAL) Log(b Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return fmt.Errorf("log batch: %w", err)
	}
	n := batchSize(b)
	if n > MaxBatchSize {
		return &BatchTooLargeError{Size: n, Max: MaxBatchSize}
	}
	if w.batches > 0 && w.size+frameOverhead+n > w.opts.SegmentSize {
		if err := w.rotate(); err != nil {
			return w.fail(fmt.Errorf("log batch: %w", err))
		}
	}
	w.writeBatch(b, n)
	if err := w.bw.Flush(); err != nil {
		return w.fail(fmt.Errorf("write WAL segment %d: %w", w.active, err))
	}
	if !w.opts.NoSync {
		if err := w.f.Sync(); err != nil {
			return w.fail(fmt.Errorf("sync WAL segment %d: %w", w.active, err))
		}
	}
	w.size += frameOverhead + n
	w.batches++
	w.lastPos = append(w.lastPos[:0], b.Position...)
	return nil
}

// writeBatch writes b's frame, of payload size n, into w.bw, computing the
// checksum on the way: the batch is never copied whole. The small pieces go
// through w.scratch, which, unlike a local array, costs no allocation.
// bufio.Writer keeps its first error; Flush returns it.
func (w *WAL) writeBatch(b Batch, n int64) {
	putFrameHeader(w.scratch[:frameHeaderSize], frameBatch, int(n))
	w.bw.Write(w.scratch[:frameHeaderSize])
	w.crc = 0
	w.writeUvarint(uint64(len(b.Position)))
	w.writePayload(b.Position)
	w.writeUvarint(uint64(len(b.Records)))
	for _, r := range b.Records {
		w.writeUvarint(uint64(len(r)))
		w.writePayload(r)
	}
	binary.LittleEndian.PutUint32(w.scratch[:frameTrailerSize], w.crc)
	w.bw.Write(w.scratch[:frameTrailerSize])
}

func (w *WAL) writePayload(p []byte) {
	w.crc = crc32.Update(w.crc, castagnoli(), p)
	w.bw.Write(p)
}

func (w *WAL) writeUvarint(x uint64) {
	w.writePayload(w.scratch[:binary.PutUvarint(w.scratch[:], x)])
}

// Cut closes the active segment and starts the next one, which it returns:
// every batch logged before Cut is in segments numbered below it. The engine
// cuts when it starts to persist a block of the data logged so far, and
// calls Truncate with the number once the block is durable.
func (w *WAL) Cut() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return 0, fmt.Errorf("cut WAL segment: %w", err)
	}
	if err := w.rotate(); err != nil {
		return 0, w.fail(fmt.Errorf("cut WAL segment: %w", err))
	}
	return w.active, nil
}

// Truncate deletes the segments numbered below before, oldest first, so that
// an interrupted Truncate leaves the newest segments. The position of the
// last batch logged before a segment was started is carried into it (see
// FORMAT.md), so Replay's LastPosition survives the truncation of every
// segment that held batches. Truncating past the active segment is refused
// with ErrActiveSegment.
func (w *WAL) Truncate(before int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("truncate WAL: %w", ErrClosed)
	}
	if before > w.active {
		return fmt.Errorf("truncate WAL before segment %d, active segment %d: %w", before, w.active, ErrActiveSegment)
	}
	if before <= w.first {
		return nil
	}
	for ; w.first < before; w.first++ {
		if err := os.Remove(segmentPath(w.dir, w.first)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete WAL segment %d: %w", w.first, err)
		}
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("truncate WAL: %w", err)
	}
	return nil
}

// rotate closes the active segment, synced, and makes a new one the active
// segment. On error the WAL may be left without an active segment: the
// caller stops appends.
func (w *WAL) rotate() error {
	if w.opts.NoSync {
		// Only the last segment may hold a torn write.
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync WAL segment %d: %w", w.active, err)
		}
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close WAL segment %d: %w", w.active, err)
	}
	next := w.active + 1
	size, err := createSegment(w.dir, next, w.lastPos)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(segmentPath(w.dir, next), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open WAL segment %d: %w", next, err)
	}
	w.f = f
	w.bw.Reset(f)
	w.active, w.size, w.batches = next, size, 0
	return nil
}

// createSegment creates segment seg, durably, holding its header and, if
// pos is not empty, a position frame carrying pos. The file is written under
// a temporary name and renamed, so a segment never lacks its header. It
// returns the segment's size.
func createSegment(dir string, seg int, pos []byte) (int64, error) {
	h := segmentHeader()
	b := h[:]
	if len(pos) > 0 {
		b = appendFrame(b, framePosition, pos)
	}
	path := segmentPath(dir, seg)
	tmp := path + tmpSuffix
	if err := writeFileSync(tmp, b); err != nil {
		return 0, fmt.Errorf("create WAL segment %d: %w", seg, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("create WAL segment %d: %w", seg, err)
	}
	if err := syncDir(dir); err != nil {
		return 0, fmt.Errorf("create WAL segment %d: %w", seg, err)
	}
	return int64(len(b)), nil
}

const tmpSuffix = ".tmp"

// writeFileSync writes b to a new file at path and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, making the creation, renaming and deletion of
// its files durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
