package wal

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by every method of a WAL that has been closed,
// Close excepted.
var ErrClosed = errors.New("wal: closed")

// ErrFailed marks the errors of Log and Cut after an earlier write or sync
// of the WAL failed. After such a failure the end of the active segment is in
// an unknown state (a failed fsync may have dropped dirty pages), so the WAL
// refuses further appends: close it and open it again, which cuts off
// whatever the failed write left behind.
var ErrFailed = errors.New("wal: an earlier write or sync failed")

// ErrActiveSegment is returned by Truncate when asked to delete the segment
// being written to.
var ErrActiveSegment = errors.New("wal: segment is active")

// Causes of a CorruptionError, for errors.Is.
var (
	// ErrSegmentHeader: a segment does not start with the magic and version
	// of FORMAT.md.
	ErrSegmentHeader = errors.New("bad segment header")
	// ErrHeaderChecksum: a frame header does not match its own checksum, so
	// its length cannot be trusted.
	ErrHeaderChecksum = errors.New("frame header checksum mismatch")
	// ErrChecksum: a frame's payload does not match its checksum.
	ErrChecksum = errors.New("frame checksum mismatch")
	// ErrFrameType: a frame header with a valid checksum and an unknown type.
	ErrFrameType = errors.New("unknown frame type")
	// ErrFrameLength: a frame header with a valid checksum and a length
	// above MaxBatchSize.
	ErrFrameLength = errors.New("frame length out of range")
	// ErrTruncated: a segment that is not the last one ends inside a frame.
	ErrTruncated = errors.New("segment ends inside a frame")
	// ErrBatchEncoding: a batch frame whose payload, although it matches its
	// checksum, does not decode.
	ErrBatchEncoding = errors.New("malformed batch")
	// ErrMissingSegment: the segment numbers have a gap.
	ErrMissingSegment = errors.New("segment missing")
)

// CorruptionError reports bytes of a segment that fail a check and are not a
// torn final write: a checksum mismatch, an impossible length or type, a
// missing segment, with valid data after them or in a segment that is not the
// last one. Replay delivers every batch before Offset and none after it.
type CorruptionError struct {
	Dir     string // the WAL's directory
	Segment int    // the segment's number
	Offset  int64  // byte offset in the segment file of the frame that fails
	Err     error  // the cause: one of the Err* causes above, possibly wrapped
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in segment %s at offset %d: %v", segmentPath(e.Dir, e.Segment), e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// BatchTooLargeError is returned by Log for a batch whose encoding exceeds
// MaxBatchSize. Nothing is written.
type BatchTooLargeError struct {
	Size int64 // encoded size of the batch: position, records and their lengths
	Max  int64
}

func (e *BatchTooLargeError) Error() string {
	return fmt.Sprintf("wal: batch of %d bytes exceeds the maximum of %d", e.Size, e.Max)
}
