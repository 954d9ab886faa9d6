package selection

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// The reasons of a selection.
const (
	// Final: the trace of a closed window's point.
	Final = "final"
	// Candidate: a sample of an open window above its series' threshold.
	Candidate = "candidate"
)

// Selection is one selected trace.
type Selection struct {
	TraceID string `json:"trace_id"` // 32 lowercase hex digits
	Reason  string `json:"reason"`   // Final or Candidate
	// The output series the trace was selected by, as in the query API:
	// its name (with the aggregation's suffix, if any) and its labels.
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Aggregation string            `json:"aggregation"`
	Policy      string            `json:"policy"`
	StartMs     int64             `json:"window_start_ms"`
	EndMs       int64             `json:"window_end_ms"`
	// Value is the window's point (for a candidate, the threshold it
	// exceeded); SampleValue and SampleMs are the trace's sample.
	Value       float64 `json:"value"`
	SampleValue float64 `json:"sample_value"`
	SampleMs    int64   `json:"sample_timestamp_ms"`
	Rule        string  `json:"rule"`
	Tenant      string  `json:"tenant,omitempty"`
	Shard       int32   `json:"shard"`
	// Leader and Term name the replica that wrote the selection, as in
	// the window log.
	Leader string `json:"leader,omitempty"`
	Term   int64  `json:"term,omitempty"`
}

// Key is the record key of s: its trace ID.
func (s *Selection) Key() []byte { return []byte(s.TraceID) }

// Encode returns s as a record value. Selections are made of finite values
// only (see Valid).
func (s *Selection) Encode() []byte {
	b, _ := json.Marshal(s) // strings, finite numbers, a string map
	return b
}

// Decode parses a record value and checks it (Valid).
func Decode(b []byte) (Selection, error) {
	var s Selection
	if err := json.Unmarshal(b, &s); err != nil {
		return Selection{}, fmt.Errorf("selection record: %w", err)
	}
	if err := s.Valid(); err != nil {
		return Selection{}, err
	}
	return s, nil
}

// Valid checks that s is a selection tumble writes.
func (s *Selection) Valid() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("selection record: "+format, args...)
	}
	switch {
	case !ValidTraceID(s.TraceID):
		return fail("trace ID %q: want 32 lowercase hex digits, not all zero", s.TraceID)
	case s.Reason != Final && s.Reason != Candidate:
		return fail("reason %q: want %s or %s", s.Reason, Final, Candidate)
	case s.Name == "" || !utf8.ValidString(s.Name):
		return fail("series name %q", s.Name)
	case s.Aggregation == "" || s.Policy == "":
		return fail("no aggregation or policy")
	case s.StartMs >= s.EndMs:
		return fail("window [%d, %d) is empty", s.StartMs, s.EndMs)
	case !finite(s.Value) || !finite(s.SampleValue):
		return fail("value %v, sample value %v", s.Value, s.SampleValue)
	case s.Shard < 0:
		return fail("shard %d", s.Shard)
	}
	for k, v := range s.Labels {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fail("label %q=%q", k, v)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

// ValidTraceID reports whether id is a trace ID as selections write it.
func ValidTraceID(id string) bool {
	if len(id) != 32 || strings.Trim(id, "0") == "" {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// TraceID returns the text of a 16-byte trace ID.
func TraceID(id [16]byte) string { return hex.EncodeToString(id[:]) }
