package leader

import (
	"fmt"
	"math"
)

// Replica is what a replica knows of itself when it asks to lead.
type Replica struct {
	// Eligible is false while the placement has the replica catching up
	// (a hand-over's new replica).
	Eligible bool
	// Emitted is the watermark up to which the replica has closed and
	// stored windows.
	Emitted int64
	// RetainedFrom is the watermark after which the replica holds the
	// record of every window it closed: it started (or restarted) there.
	RetainedFrom int64
	// Lag is the number of records of the shard partition not read yet.
	Lag int64
}

// CanLead says whether r can take over the shard whose output stands at
// from (the later of the flush watermark in etcd and the end of the
// window log): it must hold every window after from and have caught up to
// it. A nil error means yes; otherwise the error says why not.
func CanLead(r Replica, from, maxLag int64) error {
	switch {
	case !r.Eligible:
		return fmt.Errorf("cannot lead: the placement has the replica catching up")
	case r.RetainedFrom > from:
		return fmt.Errorf("cannot lead: windows from %s on are known, the shard's output stands at %s",
			fmtMs(r.RetainedFrom), fmtMs(from))
	case r.Emitted < from:
		return fmt.Errorf("cannot lead: windows closed up to %s, the shard's output stands at %s",
			fmtMs(r.Emitted), fmtMs(from))
	case maxLag > 0 && r.Lag > maxLag:
		return fmt.Errorf("cannot lead: %d records behind the partition's end (at most %d)", r.Lag, maxLag)
	}
	return nil
}

// Resume returns where a new leader's output starts: after the flush
// watermark in etcd, or after the last window in the log if the previous
// leader committed windows to the log and died before recording the
// watermark.
func Resume(mark, logLast int64) int64 { return max(mark, logLast) }

func fmtMs(ms int64) string {
	if ms == math.MinInt64 {
		return "the start"
	}
	return fmt.Sprintf("%d", ms)
}
