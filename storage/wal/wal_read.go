package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Replay calls fn, in order, for every batch of the log, from the oldest
// segment to the active one. It delivers only complete batches that match
// their checksum, and stops at a corruption (which Open has normally cut off
// already; see ReplayStats.Corruption). It never writes.
//
// The slices of b alias a buffer that the next batch reuses: fn must copy
// what it keeps. fn must not call the WAL's methods. An error from fn stops
// Replay, which returns it wrapped. fn may be nil, to read the stats only.
func (w *WAL) Replay(fn func(segment int, b Batch) error) (st ReplayStats, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ReplayStats{}, fmt.Errorf("replay WAL: %w", ErrClosed)
	}
	st = ReplayStats{DiscardedBytes: w.opened.DiscardedBytes, Corruption: w.opened.Corruption}
	s := scanner{dir: w.dir}
	var last []byte
	defer func() {
		if len(last) > 0 {
			st.LastPosition = bytes.Clone(last)
		}
	}()
	for seg := w.first; seg <= w.active; seg++ {
		sc, err := s.scan(seg, seg == w.active, func(fr *frame) error {
			if fr.typ == frameBatch && fn != nil {
				if err := fn(seg, Batch{Records: fr.records, Position: fr.position}); err != nil {
					return fmt.Errorf("replay WAL segment %d at offset %d: %w", seg, fr.offset, err)
				}
			}
			if fr.typ == frameBatch {
				st.Batches++
				st.Records += len(fr.records)
			}
			last = append(last[:0], fr.position...)
			return nil
		})
		st.Segments++
		if err != nil {
			return st, err
		}
		if sc.corruption != nil {
			if st.Corruption == nil {
				st.Corruption = sc.corruption
			}
			break
		}
		if sc.torn {
			st.DiscardedBytes += sc.size - sc.end
		}
	}
	return st, nil
}

// segmentScan is the outcome of reading a segment.
type segmentScan struct {
	size int64 // bytes in the file
	end  int64 // offset just past the last valid frame, or 0 if the header is bad
	// torn: the bytes from end on are a torn final write, to be cut off.
	torn bool
	// corruption: the bytes from end on fail a check and are not a torn
	// final write.
	corruption *CorruptionError
}

// frame is a decoded frame, aliasing the scanner's buffer.
type frame struct {
	offset   int64
	typ      byte
	position []byte   // a batch's position, or a position frame's
	records  [][]byte // a batch's records
}

// scanner reads segments frame by frame, reusing its buffers.
type scanner struct {
	dir string
	buf []byte
	fr  frame
}

// scan reads segment seg, calling visit for every valid frame until the
// first that fails a check. In the last segment, bad bytes with no valid
// frame header after them are a torn final write; anywhere else they are a
// corruption. An error is an I/O error or visit's.
func (s *scanner) scan(seg int, last bool, visit func(*frame) error) (sc segmentScan, err error) {
	f, err := os.Open(segmentPath(s.dir, seg))
	if err != nil {
		return sc, fmt.Errorf("open WAL segment %d: %w", seg, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sc, fmt.Errorf("open WAL segment %d: %w", seg, err)
	}
	sc.size = fi.Size()
	readErr := func(off int64, err error) error {
		return fmt.Errorf("read WAL segment %d at offset %d: %w", seg, off, err)
	}
	bad := func(off int64, cause error) (segmentScan, error) {
		sc.end = off
		if last {
			found, err := headerAfter(f, off+1, sc.size)
			if err != nil {
				return sc, readErr(off, err)
			}
			if !found {
				sc.torn = true
				return sc, nil
			}
		}
		sc.corruption = &CorruptionError{Dir: s.dir, Segment: seg, Offset: off, Err: cause}
		return sc, nil
	}

	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, sc.size), readBufferSize)
	var h [frameHeaderSize]byte
	if sc.size < segmentHeaderSize {
		return bad(0, fmt.Errorf("%w: file of %d bytes", ErrSegmentHeader, sc.size))
	}
	if _, err := io.ReadFull(r, h[:segmentHeaderSize]); err != nil {
		return sc, readErr(0, err)
	}
	if [segmentHeaderSize]byte(h[:segmentHeaderSize]) != segmentHeader() {
		return bad(0, fmt.Errorf("%w: % x", ErrSegmentHeader, h[:segmentHeaderSize]))
	}
	off := int64(segmentHeaderSize)
	sc.end = off
	for off < sc.size {
		if sc.size-off < frameHeaderSize {
			return bad(off, fmt.Errorf("%w: %d bytes left, a frame header takes %d", ErrTruncated, sc.size-off, frameHeaderSize))
		}
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return sc, readErr(off, err)
		}
		typ, n, err := parseFrameHeader(h[:])
		if err != nil {
			return bad(off, err)
		}
		end := off + frameOverhead + n
		if end > sc.size {
			if last {
				// A header that passes its checksum and a frame cut short:
				// the write of this frame was interrupted.
				sc.torn = true
				return sc, nil
			}
			return bad(off, fmt.Errorf("%w: frame of %d bytes, %d left", ErrTruncated, frameOverhead+n, sc.size-off))
		}
		p := s.grow(n + frameTrailerSize)
		if _, err := io.ReadFull(r, p); err != nil {
			return sc, readErr(off, err)
		}
		payload := p[:n]
		if got, want := crc32.Checksum(payload, castagnoli()), binary.LittleEndian.Uint32(p[n:]); got != want {
			return bad(off, fmt.Errorf("%w: computed %08x, stored %08x", ErrChecksum, got, want))
		}
		fr := &s.fr
		fr.offset, fr.typ = off, typ
		switch typ {
		case frameBatch:
			b, err := decodeBatch(payload, fr.records)
			if err != nil {
				return bad(off, err)
			}
			fr.position, fr.records = b.Position, b.Records
		case framePosition:
			fr.position, fr.records = payload, fr.records[:0]
		}
		if visit != nil {
			if err := visit(fr); err != nil {
				return sc, err
			}
		}
		off = end
		sc.end = off
	}
	return sc, nil
}

// grow returns s.buf resized to n bytes.
func (s *scanner) grow(n int64) []byte {
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	return s.buf[:n]
}

// headerAfter reports whether a valid frame header (checksum, type and
// length) starts anywhere at or after offset from in f, a file of size
// bytes. It tells a torn final write, which nothing follows, from a
// corruption, which the frames written after it follow, even if the very
// last of them is torn.
func headerAfter(f io.ReaderAt, from, size int64) (bool, error) {
	const window = 64 << 10
	buf := make([]byte, window+frameHeaderSize-1)
	for base := from; size-base >= frameHeaderSize; base += window {
		n := min(int64(len(buf)), size-base)
		if _, err := f.ReadAt(buf[:n], base); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		for i := int64(0); i < window && i+frameHeaderSize <= n; i++ {
			h := buf[i : i+frameHeaderSize]
			if h[4] != frameBatch && h[4] != framePosition {
				continue
			}
			if _, _, err := parseFrameHeader(h); err == nil {
				return true, nil
			}
		}
	}
	return false, nil
}
