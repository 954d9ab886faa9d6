package sample

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Limits bound what a decoded sample may carry. A zero field sets no limit of
// its kind; Limits{} accepts every sample with a finite value.
type Limits struct {
	// MaxLabels is the most labels a sample may have, its name not counted.
	MaxLabels int
	// MaxNameLength is the longest metric name or label name, in bytes.
	MaxNameLength int
	// MaxLabelValueLength is the longest label value, in bytes.
	MaxLabelValueLength int
	// MaxFuture is how far past now a timestamp may be: the allowance for
	// producers' clocks that run ahead of the router's. A sample further
	// in the future would move event time ahead for every producer, and
	// make their on-time samples late.
	MaxFuture time.Duration
	// MaxPast is how far before now a timestamp may be. Windows already
	// drop the samples later than their allowed lateness, and count them;
	// this limit refuses them earlier, as invalid records.
	MaxPast time.Duration
}

// DefaultLimits returns the limits of a router that was given none: 64 labels,
// names of 256 bytes, label values of 1024 bytes, timestamps at most 5
// seconds ahead of now and no bound on age.
func DefaultLimits() Limits {
	return Limits{
		MaxLabels:           64,
		MaxNameLength:       256,
		MaxLabelValueLength: 1024,
		MaxFuture:           5 * time.Second,
	}
}

// Validate reports the first field of l that is negative, naming it.
func (l Limits) Validate() error {
	const want = "want 0 (no limit) or more"
	switch {
	case l.MaxLabels < 0:
		return fmt.Errorf("sample limits: MaxLabels is %d, %s", l.MaxLabels, want)
	case l.MaxNameLength < 0:
		return fmt.Errorf("sample limits: MaxNameLength is %d, %s", l.MaxNameLength, want)
	case l.MaxLabelValueLength < 0:
		return fmt.Errorf("sample limits: MaxLabelValueLength is %d, %s", l.MaxLabelValueLength, want)
	case l.MaxFuture < 0:
		return fmt.Errorf("sample limits: MaxFuture is %s, %s", l.MaxFuture, want)
	case l.MaxPast < 0:
		return fmt.Errorf("sample limits: MaxPast is %s, %s", l.MaxPast, want)
	}
	return nil
}

// Check reports whether s keeps within l at the time nowMs, in milliseconds
// since the epoch, and that its value is finite. The error is a *DecodeError
// with Index -1 and the code of the first limit broken: CodeValueNotFinite,
// CodeTooManyLabels, CodeNameTooLong, CodeLabelTooLong, CodeTimestampInFuture
// or CodeTimestampTooOld. Check is safe for concurrent use.
func (l Limits) Check(s *Sample, nowMs int64) error {
	fail := func(code, field, format string, args ...any) error {
		e := newError(code, field, fmt.Sprintf(format, args...))
		e.op = "check sample"
		return e
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return fail(CodeValueNotFinite, "value", "%v is not a finite number", s.Value)
	}
	if l.MaxLabels > 0 && len(s.Labels) > l.MaxLabels {
		return fail(CodeTooManyLabels, "labels", "%d labels, more than the limit of %d", len(s.Labels), l.MaxLabels)
	}
	if l.MaxNameLength > 0 && len(s.Name) > l.MaxNameLength {
		return fail(CodeNameTooLong, "name", "%s is %d bytes long, more than the limit of %d", abbrev(s.Name), len(s.Name), l.MaxNameLength)
	}
	for _, lb := range s.Labels {
		if l.MaxNameLength > 0 && len(lb.Name) > l.MaxNameLength {
			return fail(CodeNameTooLong, "labels", "label name %s is %d bytes long, more than the limit of %d", abbrev(lb.Name), len(lb.Name), l.MaxNameLength)
		}
		if l.MaxLabelValueLength > 0 && len(lb.Value) > l.MaxLabelValueLength {
			return fail(CodeLabelTooLong, "labels", "the value of label %s is %d bytes long, more than the limit of %d", abbrev(lb.Name), len(lb.Value), l.MaxLabelValueLength)
		}
	}
	// The differences are taken in uint64, where they cannot overflow.
	if ts := s.TimestampMs; l.MaxFuture > 0 && ts > nowMs {
		if ahead := uint64(ts) - uint64(nowMs); ahead > uint64(l.MaxFuture.Milliseconds()) {
			return fail(CodeTimestampInFuture, "timestamp_ms", "%d is %s ahead of now (%d), more than the limit of %s", ts, msString(ahead), nowMs, l.MaxFuture)
		}
	}
	if ts := s.TimestampMs; l.MaxPast > 0 && ts < nowMs {
		if age := uint64(nowMs) - uint64(ts); age > uint64(l.MaxPast.Milliseconds()) {
			return fail(CodeTimestampTooOld, "timestamp_ms", "%d is %s before now (%d), more than the limit of %s", ts, msString(age), nowMs, l.MaxPast)
		}
	}
	return nil
}

// CheckAll checks every sample of a record, as Check does, and returns the
// first error with its Index set to the sample's position in samples: a
// record is accepted or refused whole. Filter refuses the samples alone.
func (l Limits) CheckAll(samples []Sample, nowMs int64) error {
	for i := range samples {
		if err := l.Check(&samples[i], nowMs); err != nil {
			return atIndex(err, i)
		}
	}
	return nil
}

// Filter checks each sample of one record at the time nowMs, as Check does,
// and sets apart those that break l: it returns the samples that keep
// within l, in order, and bad with a BadSample for each of the others, whose
// Index is its position in the record and whose Raw are its bytes in value.
//
// value and format are the record's, and samples and bad what
// DecodeRecordSamples returned for it, both of that record only (each
// given empty, or re-sliced to its own): the invalid samples in bad tell
// the valid ones' positions in the record. The samples kept are moved to the
// front of samples, which the result shares; the BadSamples of bad stay
// sorted by Index. Finding the bytes of a refused sample splits value
// again; a record whose samples all keep within l costs nothing more than
// Check does for each.
func (l Limits) Filter(value []byte, format Format, nowMs int64, samples []Sample, bad []BadSample) ([]Sample, []BadSample) {
	decoded := len(bad)
	kept := samples[:0]
	for i, at, next := 0, 0, 0; i < len(samples); i, at = i+1, at+1 {
		for next < decoded && bad[next].Index == at { // skip the invalid samples
			next, at = next+1, at+1
		}
		if err := l.Check(&samples[i], nowMs); err != nil {
			bad = append(bad, badSample(at, err, nil))
			continue
		}
		kept = append(kept, samples[i])
	}
	if len(bad) == decoded {
		return kept, bad
	}
	clear(samples[len(kept):]) // let the refused samples' strings go
	refused := bad[decoded:]
	rawSamples(value, format, func(n int, raw []byte) bool {
		for len(refused) > 0 && refused[0].Index < n {
			refused = refused[1:] // not in value: left without bytes
		}
		if len(refused) > 0 && refused[0].Index == n {
			refused[0].Raw = raw
			refused = refused[1:]
		}
		return len(refused) > 0
	})
	if decoded > 0 {
		slices.SortFunc(bad, func(a, b BadSample) int { return cmp.Compare(a.Index, b.Index) })
	}
	return kept, bad
}

// msString formats a number of milliseconds as a duration.
func msString(ms uint64) string {
	if ms > math.MaxInt64/uint64(time.Millisecond) {
		return fmt.Sprintf("%dms", ms)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}
