package block

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The chunk file format is described in FORMAT.md.
const (
	chunksMagic   = "TMCK"
	chunksVersion = 1
	headerSize    = len(chunksMagic) + 1
	// MaxChunkSize bounds one chunk: a length above it is corruption.
	MaxChunkSize = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ChunkWriter appends chunks to a chunk file. It buffers: call Flush (and
// sync the file) before recording the refs anywhere durable.
type ChunkWriter struct {
	w   *bufio.Writer
	off uint64
	err error
	tmp [binary.MaxVarintLen64]byte
}

// NewChunkWriter starts a chunk file on w.
func NewChunkWriter(w io.Writer) *ChunkWriter {
	cw := &ChunkWriter{w: bufio.NewWriterSize(w, 1<<16)}
	_, cw.err = cw.w.WriteString(chunksMagic)
	if cw.err == nil {
		cw.err = cw.w.WriteByte(chunksVersion)
	}
	cw.off = uint64(headerSize)
	return cw
}

// Write appends chunk and returns its ref, the offset of its entry.
func (cw *ChunkWriter) Write(chunk []byte) (uint64, error) {
	if cw.err != nil {
		return 0, cw.err
	}
	if len(chunk) > MaxChunkSize {
		return 0, fmt.Errorf("write chunk: %d bytes exceed the %d-byte limit", len(chunk), MaxChunkSize)
	}
	ref := cw.off
	n := binary.PutUvarint(cw.tmp[:], uint64(len(chunk)))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(chunk, castagnoli))
	for _, b := range [][]byte{cw.tmp[:n], chunk, crc[:]} {
		if _, err := cw.w.Write(b); err != nil {
			cw.err = fmt.Errorf("write chunk: %w", err)
			return 0, cw.err
		}
	}
	cw.off += uint64(n + len(chunk) + 4)
	return ref, nil
}

// Size returns the bytes written so far, header included.
func (cw *ChunkWriter) Size() uint64 { return cw.off }

// Flush writes out what is buffered.
func (cw *ChunkWriter) Flush() error {
	if cw.err != nil {
		return cw.err
	}
	if err := cw.w.Flush(); err != nil {
		cw.err = fmt.Errorf("flush chunk file: %w", err)
	}
	return cw.err
}

// CorruptionError is a chunk file, or a chunk in it, that fails a check.
type CorruptionError struct {
	File   string
	Offset uint64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corrupt chunk file %s at byte %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// ErrChecksum is the error of a chunk whose bytes do not match their CRC.
var ErrChecksum = errors.New("checksum mismatch")

// ChunkReader reads chunks from a chunk file held in memory. It is
// immutable and safe for concurrent use.
type ChunkReader struct {
	file string
	b    []byte
}

// OpenChunks checks the header of the chunk file b; file names it in errors.
func OpenChunks(file string, b []byte) (*ChunkReader, error) {
	if len(b) < headerSize || string(b[:len(chunksMagic)]) != chunksMagic {
		return nil, &CorruptionError{File: file, Err: errors.New("not a chunk file: bad magic or too short")}
	}
	if b[len(chunksMagic)] != chunksVersion {
		return nil, &CorruptionError{File: file, Offset: uint64(len(chunksMagic)), Err: fmt.Errorf("unknown version %d", b[len(chunksMagic)])}
	}
	return &ChunkReader{file: file, b: b}, nil
}

// Chunk returns the chunk at ref, after checking its bounds and CRC. The
// slice aliases the file's bytes: do not modify it.
func (r *ChunkReader) Chunk(ref uint64) ([]byte, error) {
	corrupt := func(off uint64, err error) error {
		return &CorruptionError{File: r.file, Offset: off, Err: err}
	}
	if ref < uint64(headerSize) || ref >= uint64(len(r.b)) {
		return nil, corrupt(ref, fmt.Errorf("chunk ref %d outside the file of %d bytes", ref, len(r.b)))
	}
	n, k := binary.Uvarint(r.b[ref:])
	if k <= 0 {
		return nil, corrupt(ref, errors.New("truncated chunk length"))
	}
	if n > MaxChunkSize || n+4 > uint64(len(r.b))-ref-uint64(k) {
		return nil, corrupt(ref, fmt.Errorf("chunk length %d runs past the end of the file", n))
	}
	start := ref + uint64(k)
	chunk := r.b[start : start+n]
	if crc32.Checksum(chunk, castagnoli) != binary.BigEndian.Uint32(r.b[start+n:]) {
		return nil, corrupt(ref, ErrChecksum)
	}
	return chunk, nil
}

// Verify reads every chunk of the file in order and returns their number, or
// the first corruption met.
func (r *ChunkReader) Verify() (int, error) {
	n := 0
	for ref := uint64(headerSize); ref < uint64(len(r.b)); n++ {
		c, err := r.Chunk(ref)
		if err != nil {
			return n, err
		}
		ref += uint64(uvarintLen(uint64(len(c))) + len(c) + 4)
	}
	return n, nil
}

func uvarintLen(v uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], v)
}
