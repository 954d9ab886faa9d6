package aggregator

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tumblemetrics/tumble/sample"
)

// Options configures an Aggregator. The zero value asks for the defaults.
type Options struct {
	// Lateness is how long after a window's end its samples are still
	// accepted. Zero means one resolution of the window's policy, capped at
	// MaxLateness.
	Lateness time.Duration
	// MaxLateness caps the default lateness. Zero means 2m.
	MaxLateness time.Duration
	// SignificantFigures is the precision of percentiles taken from the
	// histogram, 1 to 5; zero means 2, a relative error below 1%.
	SignificantFigures int
	// ExactLimit is how many samples a window keeps as they are before it
	// moves them into a histogram; up to it, percentiles are exact. Zero
	// means 2048: at 32 bytes a sample, that many cost about what the
	// histogram does (some 60 KB), so exactness up to there is free. A
	// negative value means never exact (for tests).
	ExactLimit int
	// Candidates makes the series that select traces offer candidates
	// while their windows are open (see Candidate); the owner takes them
	// with Aggregator.Candidates after each Add.
	Candidates bool
	// OnLate, if set, is told of every (sample, policy) pair that Add
	// drops as late, as Stats.Late counts it: the target the sample came
	// for, the sample, the policy and why. It is called by the goroutine
	// that calls Add, during the call, in the order of the samples; it
	// must not modify t nor call the Aggregator.
	OnLate func(t *Target, s sample.Sample, p Policy, why LateReason)
}

// LateReason says why Add dropped a sample as late.
type LateReason uint8

// The reasons for which Add drops a sample as late. A series forgotten
// after SeriesIdle adds none: it has no open window left, so a sample of
// it either opens a window again or falls in a closed one.
const (
	// WindowClosed: the sample's window had closed when it came, its end
	// plus the lateness at or before the watermark.
	WindowClosed LateReason = iota
	numLateReasons
)

var lateReasonNames = [...]string{WindowClosed: "window_closed"}

// String returns the reason's name as metrics label it: window_closed.
func (r LateReason) String() string {
	if r < numLateReasons {
		return lateReasonNames[r]
	}
	return "LateReason(" + strconv.Itoa(int(r)) + ")"
}

// DefaultExactLimit is the default Options.ExactLimit.
const DefaultExactLimit = 2048

// DefaultMaxLateness caps the default lateness of a window.
const DefaultMaxLateness = 2 * time.Minute

func (o Options) withDefaults() Options {
	if o.MaxLateness == 0 {
		o.MaxLateness = DefaultMaxLateness
	}
	if o.SignificantFigures == 0 {
		o.SignificantFigures = 2
	}
	if o.ExactLimit == 0 {
		o.ExactLimit = DefaultExactLimit
	}
	if o.ExactLimit < 0 {
		o.ExactLimit = 0
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Lateness < 0:
		return fmt.Errorf("aggregator options: Lateness %s is negative", o.Lateness)
	case o.MaxLateness < 0:
		return fmt.Errorf("aggregator options: MaxLateness %s is negative", o.MaxLateness)
	case o.Lateness >= SeriesIdle:
		return fmt.Errorf("aggregator options: Lateness %s is not below the series idle time %s", o.Lateness, SeriesIdle)
	case o.MaxLateness >= SeriesIdle:
		return fmt.Errorf("aggregator options: MaxLateness %s is not below the series idle time %s", o.MaxLateness, SeriesIdle)
	case o.Lateness%time.Millisecond != 0:
		return fmt.Errorf("aggregator options: Lateness %s is not a whole number of milliseconds", o.Lateness)
	case o.SignificantFigures < 1 || o.SignificantFigures > 5:
		return fmt.Errorf("aggregator options: SignificantFigures %d is outside 1..5", o.SignificantFigures)
	case o.ExactLimit > 1<<20:
		return fmt.Errorf("aggregator options: ExactLimit %d is above 1048576", o.ExactLimit)
	}
	return nil
}

// lateness returns the allowed lateness of windows of policy p, in ms.
func (o *Options) lateness(p Policy) int64 {
	if o.Lateness > 0 {
		return o.Lateness.Milliseconds()
	}
	return min(p.Resolution, o.MaxLateness).Milliseconds()
}

// Stats counts what the aggregator did with its input. Nothing it refuses
// goes uncounted.
type Stats struct {
	Samples uint64 // samples added to at least one window
	// Late counts (sample, policy) pairs dropped because the window had
	// already closed: the window's end plus the lateness had passed the
	// watermark. Options.OnLate is told of each.
	Late uint64
	// TypeMismatch counts samples dropped because their type differed from
	// the type of the first sample of their output series.
	TypeMismatch uint64
	// Unsupported counts aggregations left out of a new output series
	// because they are not defined on its type (a percentile of counter
	// increments).
	Unsupported uint64
	// OutOfOrder counts cumulative samples no newer than the previous sample
	// of their input series: they add no increase.
	OutOfOrder uint64
	// Baselines counts the first samples of cumulative input series, which
	// only set the value later increases are measured from.
	Baselines uint64
	// Clamped counts values beyond the histogram's range (about 12 decades
	// above the smallest value of the window before it left exact mode),
	// recorded at the range's edge.
	Clamped       uint64
	WindowsOpened uint64
	WindowsClosed uint64
	Points        uint64 // points emitted
	// Replayed counts (sample, policy) pairs whose window was emitted
	// before the state was restored (see Restore): read again, they only
	// update the state carried across windows.
	Replayed uint64
	// Candidates counts the candidates offered (see Candidate);
	// CandidatesBounded those not offered as their window had offered
	// its bound.
	Candidates, CandidatesBounded uint64
}
