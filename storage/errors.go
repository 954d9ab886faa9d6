package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

var (
	// ErrClosed is returned by the methods of a closed DB.
	ErrClosed = errors.New("storage: closed")
	// ErrFailed is returned by Append after a write to the WAL failed:
	// whether that batch is durable is unknown, so the DB takes no more
	// writes. Close it and open it again; Open recovers what was logged.
	ErrFailed = errors.New("storage: an earlier WAL write failed")
	// ErrTooOld is what a TooOldError matches with errors.Is.
	ErrTooOld = errors.New("point older than the head")
)

// TooOldError reports the points of an Append that were refused because
// they are older than the head of their policy: their time range is already
// in an immutable block. The other points of the batch were written.
type TooOldError struct {
	Refused int // how many points of the batch were refused

	// The first refused point.
	Labels labels.Labels
	Policy string
	T      int64
	MinT   int64 // the oldest timestamp the head of that policy accepts
}

func (e *TooOldError) Error() string {
	return fmt.Sprintf("append: %d point(s) older than the head refused, the first %s (policy %s) at %s, before %s where the head starts",
		e.Refused, e.Labels, e.Policy, fmtTime(e.T), fmtTime(e.MinT))
}

// Is makes errors.Is(err, ErrTooOld) true.
func (e *TooOldError) Is(target error) bool { return target == ErrTooOld }

func fmtTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
