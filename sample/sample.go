package sample

import (
	"encoding/hex"
	"fmt"
)

// Type says how a sample's value is to be read.
type Type uint8

// The sample types of the contract. The zero value is not a valid type.
const (
	// Counter: the value is an increment since the previous sample.
	Counter Type = iota + 1
	// Cumulative: a Prometheus-style monotonic counter; a drop is a reset.
	Cumulative
	// Gauge: the value is a level at the timestamp.
	Gauge
	// Timer: the value is one observation (a latency, a size).
	Timer
)

var typeNames = [...]string{Counter: "counter", Cumulative: "cumulative", Gauge: "gauge", Timer: "timer"}

// String returns the contract's name of t ("counter", "timer", ...).
func (t Type) String() string {
	if t >= Counter && t <= Timer {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType returns the Type named s, as the JSON form spells it.
func ParseType(s string) (Type, error) {
	for t := Counter; t <= Timer; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown sample type %q (want counter, cumulative, gauge or timer)", s)
}

// HasDistribution reports whether the values of a series of type t form a
// distribution that percentiles describe: gauges and timers do, counter
// increments and cumulative totals do not.
func (t Type) HasDistribution() bool { return t == Gauge || t == Timer }

// TraceID is a W3C trace ID; the zero value means "no trace".
type TraceID [16]byte

// IsZero reports whether t carries no trace.
func (t TraceID) IsZero() bool { return t == TraceID{} }

// String returns t as 32 lower-case hex digits, or "" for the zero ID.
func (t TraceID) String() string {
	if t.IsZero() {
		return ""
	}
	return hex.EncodeToString(t[:])
}

// ParseTraceID parses 32 hex digits. The all-zero ID is refused: W3C trace
// context reserves it as invalid.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	if len(s) != 32 {
		return t, fmt.Errorf("trace ID %q has %d characters, want 32 hex digits", s, len(s))
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return TraceID{}, fmt.Errorf("trace ID %q is not hex", s)
	}
	if t.IsZero() {
		return t, fmt.Errorf("trace ID %q is all zeros, which marks an invalid trace", s)
	}
	return t, nil
}

// Sample is one raw value of one input series.
//
// Labels are sorted by name and have unique names; DecodeJSON guarantees it,
// and code that builds a Sample by hand must keep it so.
type Sample struct {
	Name        string
	Labels      Labels
	Type        Type
	Value       float64
	TimestampMs int64
	TraceID     TraceID
	// Key, when not zero, identifies the series as Labels.Hashes does, under
	// the seed of what decoded the sample (a Decoder, a gateway), which
	// computes it once per series: whoever changes Name or Labels must zero
	// it.
	Key SeriesKey
}

// SeriesKey is a series' ID (its SeriesID) and a second hash of its name and
// labels under a seed (see Labels.Hashes): two series with one nonzero key
// are one series, short of a 2^-128 chance.
type SeriesKey struct{ ID, Check uint64 }

// SeriesID identifies the input series of s: the xxhash of its name and labels.
func (s *Sample) SeriesID() uint64 {
	if s.Key.ID != 0 {
		return s.Key.ID
	}
	return s.Labels.Hash(s.Name)
}
