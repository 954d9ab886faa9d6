package chunkenc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the format version written in the first byte of every chunk.
const Version = 1

// MaxPoints is the largest number of points a chunk holds: the header keeps
// the count in 16 bits.
const MaxPoints = math.MaxUint16

const (
	headerSize   = 3 // version byte, point count (uint16, big endian)
	minPointBits = 2 // the fewest bits a point takes; see FORMAT.md
)

var (
	// ErrOutOfOrder is returned by Append for a timestamp that is not after
	// the last one.
	ErrOutOfOrder = errors.New("chunkenc: timestamp not after the last one")
	// ErrFull is returned by Append once a chunk holds MaxPoints points.
	ErrFull = errors.New("chunkenc: chunk full")
	// ErrCorrupt is matched (errors.Is) by every error about a chunk that
	// cannot have been written by an Appender.
	ErrCorrupt = errors.New("chunkenc: corrupt chunk")
)

// CorruptError describes where a chunk was found to be invalid.
type CorruptError struct {
	Offset int    // byte offset in the chunk where the problem was detected
	Point  int    // index of the point being decoded, -1 for the header
	Reason string // what is wrong
}

func (e *CorruptError) Error() string {
	if e.Point < 0 {
		return fmt.Sprintf("corrupt chunk header at byte %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("corrupt chunk at byte %d, point %d: %s", e.Offset, e.Point, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Exemplar is a sample that a point was computed from, kept so that a reader
// can jump from the point to the trace behind it.
type Exemplar struct {
	TraceID     [16]byte
	Value       float64
	TimestampMs int64
}

// Chunk is a decoded view of an encoded chunk. It does not copy the bytes it
// was decoded from, which must not change while the Chunk or its iterators are
// in use. A Chunk is immutable and safe for concurrent use; each goroutine
// uses its own Iterator.
type Chunk struct {
	b   []byte
	n   int
	t0  int64
	off int // start of the bit stream
}

// Decode checks the header of an encoded chunk and returns a view of it. It
// does not decode the points: an error in the bit stream is reported by the
// Iterator (Err), never by a panic.
func Decode(b []byte) (*Chunk, error) {
	// Small enough to be inlined, so that the Chunk can live on the
	// caller's stack.
	c := new(Chunk)
	if err := c.init(b); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Chunk) init(b []byte) error {
	if len(b) < headerSize {
		return &CorruptError{Offset: 0, Point: -1, Reason: fmt.Sprintf("%d bytes, shorter than the %d-byte header", len(b), headerSize)}
	}
	if b[0] != Version {
		return &CorruptError{Offset: 0, Point: -1, Reason: fmt.Sprintf("version %d, want %d", b[0], Version)}
	}
	*c = Chunk{b: b, n: int(binary.BigEndian.Uint16(b[1:])), off: headerSize}
	if c.n == 0 {
		if len(b) != headerSize {
			return &CorruptError{Offset: headerSize, Point: -1, Reason: fmt.Sprintf("empty chunk followed by %d bytes", len(b)-headerSize)}
		}
		return nil
	}
	t0, k := binary.Varint(b[headerSize:])
	if k <= 0 {
		return &CorruptError{Offset: headerSize, Point: -1, Reason: "invalid first timestamp"}
	}
	c.t0 = t0
	c.off += k
	if bits := (len(b) - c.off) * 8; bits < c.n*minPointBits {
		return &CorruptError{Offset: len(b), Point: -1, Reason: fmt.Sprintf("%d bits of stream cannot hold %d points", bits, c.n)}
	}
	return nil
}

// NumPoints returns the number of points in the chunk.
func (c *Chunk) NumPoints() int { return c.n }

// MinTime returns the timestamp of the first point, or 0 for an empty chunk.
func (c *Chunk) MinTime() int64 { return c.t0 }

// Bytes returns the encoded chunk the Chunk was decoded from.
func (c *Chunk) Bytes() []byte { return c.b }

// Iterator returns an iterator over the points of the chunk, positioned
// before the first one. It reuses it when it is not nil.
func (c *Chunk) Iterator(it *Iterator) *Iterator {
	if it == nil {
		it = new(Iterator)
	}
	it.reset(c)
	return it
}
