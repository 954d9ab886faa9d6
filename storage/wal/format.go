package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The on-disk format; FORMAT.md describes it.
const (
	segmentMagic      = "TWAL"
	formatVersion     = 1
	segmentHeaderSize = 8 // magic, version, 3 zero bytes

	frameHeaderSize  = 9 // length u32, type u8, header CRC u32
	frameTrailerSize = 4 // payload CRC u32
	frameOverhead    = frameHeaderSize + frameTrailerSize

	frameBatch    byte = 1 // a batch: position and records
	framePosition byte = 2 // a position carried over into a new segment

	// MaxBatchSize bounds the encoded size of a batch (a frame's payload).
	// A longer batch is refused by Log; a frame header that claims more is
	// corruption, never an allocation.
	MaxBatchSize = 256 << 20

	// DefaultSegmentSize is the segment size of a zero Options.
	DefaultSegmentSize = 128 << 20
	// MinSegmentSize is the smallest SegmentSize Open accepts.
	MinSegmentSize = 1 << 10
)

func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

func segmentName(seg int) string { return fmt.Sprintf("%08d", seg) }

func segmentPath(dir string, seg int) string { return filepath.Join(dir, segmentName(seg)) }

func segmentHeader() [segmentHeaderSize]byte {
	var h [segmentHeaderSize]byte
	copy(h[:], segmentMagic)
	h[len(segmentMagic)] = formatVersion
	return h
}

// listSegments returns the numbers of the segment files of dir, sorted. A
// segment file's name is its number in decimal digits only; other files
// (temporary, quarantined) are not segments.
func listSegments(dir string) ([]int, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list WAL segments: %w", err)
	}
	var segs []int
	for _, de := range des {
		n, ok := parseSegmentName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

func parseSegmentName(name string) (int, bool) {
	if name == "" || strings.TrimLeft(name, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(name)
	return n, err == nil
}

// putFrameHeader writes a frame header for a payload of n bytes of type typ.
func putFrameHeader(h []byte, typ byte, n int) {
	binary.LittleEndian.PutUint32(h[0:4], uint32(n))
	h[4] = typ
	binary.LittleEndian.PutUint32(h[5:9], crc32.Checksum(h[:5], castagnoli()))
}

// parseFrameHeader checks a frame header and returns its type and payload
// length. The cheap checks come first: the scan for valid frames after a bad
// one calls it at every byte offset.
func parseFrameHeader(h []byte) (typ byte, n int64, err error) {
	typ = h[4]
	n = int64(binary.LittleEndian.Uint32(h[0:4]))
	if crc32.Checksum(h[:5], castagnoli()) != binary.LittleEndian.Uint32(h[5:9]) {
		return 0, 0, ErrHeaderChecksum
	}
	if typ != frameBatch && typ != framePosition {
		return 0, 0, fmt.Errorf("%w %d", ErrFrameType, typ)
	}
	if n > MaxBatchSize {
		return 0, 0, fmt.Errorf("%w: %d bytes, at most %d", ErrFrameLength, n, MaxBatchSize)
	}
	return typ, n, nil
}

// appendFrame appends a whole frame holding payload to dst.
func appendFrame(dst []byte, typ byte, payload []byte) []byte {
	var h [frameHeaderSize]byte
	putFrameHeader(h[:], typ, len(payload))
	dst = append(dst, h[:]...)
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli()))
}

func uvarintSize(x uint64) int64 {
	n := int64(1)
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// batchSize is the length of b's encoding: the position and the records,
// each preceded by its length, the records by their count.
func batchSize(b Batch) int64 {
	n := uvarintSize(uint64(len(b.Position))) + int64(len(b.Position)) + uvarintSize(uint64(len(b.Records)))
	for _, r := range b.Records {
		n += uvarintSize(uint64(len(r))) + int64(len(r))
	}
	return n
}

// appendBatch appends the encoding of b to dst.
func appendBatch(dst []byte, b Batch) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b.Position)))
	dst = append(dst, b.Position...)
	dst = binary.AppendUvarint(dst, uint64(len(b.Records)))
	for _, r := range b.Records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		dst = append(dst, r...)
	}
	return dst
}

// decodeBatch decodes a batch payload. The position and records alias p
// (each record capped at its length, so that appending to one never
// overwrites the next); recs is reused for the record slice.
func decodeBatch(p []byte, recs [][]byte) (Batch, error) {
	pos, p, err := decodeBytes(p)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: position: %w", ErrBatchEncoding, err)
	}
	count, k := binary.Uvarint(p)
	// Every record takes one byte at least, for its length.
	if k <= 0 || count > uint64(len(p)-k) {
		return Batch{}, fmt.Errorf("%w: bad record count", ErrBatchEncoding)
	}
	p = p[k:]
	recs = recs[:0]
	for i := range count {
		var r []byte
		if r, p, err = decodeBytes(p); err != nil {
			return Batch{}, fmt.Errorf("%w: record %d: %w", ErrBatchEncoding, i, err)
		}
		recs = append(recs, r)
	}
	if len(p) != 0 {
		return Batch{}, fmt.Errorf("%w: %d bytes after the last record", ErrBatchEncoding, len(p))
	}
	return Batch{Records: recs, Position: pos}, nil
}

type encodingError string

func (e encodingError) Error() string { return string(e) }

// decodeBytes decodes a length-prefixed byte string from the front of p.
func decodeBytes(p []byte) (b, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, nil, encodingError("bad length")
	}
	if n > uint64(len(p)-k) {
		return nil, nil, encodingError("length beyond the frame")
	}
	end := k + int(n)
	return p[k:end:end], p[end:], nil
}
