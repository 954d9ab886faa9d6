package sample

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The rules of names, Prometheus' own, that both record formats hold a
// sample to: a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*, a label name
// [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__", which is kept for
// internal labels; every name and label value is valid UTF-8.

// isMetricName reports whether s is a valid metric name:
// [a-zA-Z_:][a-zA-Z0-9_:]*.
func isMetricName(s string) bool {
	if s == "" || nameBytes[s[0]]&metricFirst == 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if nameBytes[s[i]]&metricByte == 0 {
			return false
		}
	}
	return true
}

// isLabelName reports whether s is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*,
// not starting with "__" unless it is a Graphite path label.
func isLabelName(s string) bool {
	if s == "" || nameBytes[s[0]]&labelFirst == 0 || strings.HasPrefix(s, "__") && !IsGraphiteLabel(s) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if nameBytes[s[i]]&labelByte == 0 {
			return false
		}
	}
	return true
}

// nameBytes tells, for each byte, where in a name it may be.
var nameBytes = func() (t [256]uint8) {
	for c := range t {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		digit := c >= '0' && c <= '9'
		switch {
		case letter:
			t[c] = metricFirst | metricByte | labelFirst | labelByte
		case digit:
			t[c] = metricByte | labelByte
		case c == ':':
			t[c] = metricFirst | metricByte
		}
	}
	return t
}()

const (
	metricFirst = 1 << iota // may start a metric name
	metricByte              // may be in a metric name after the first byte
	labelFirst              // may start a label name
	labelByte               // may be in a label name after the first byte
)

// checkName holds a sample's metric name to the rules.
func checkName(name string) *DecodeError {
	switch {
	case isMetricName(name): // ASCII, so valid UTF-8
		return nil
	case name == "":
		return newError(CodeBadField, "name", "missing or empty")
	case !utf8.ValidString(name):
		return newError(CodeBadField, "name", "not valid UTF-8")
	}
	return newError(CodeBadField, "name", fmt.Sprintf("%s is not a metric name: want [a-zA-Z_:][a-zA-Z0-9_:]*", abbrev(name)))
}

// checkLabels holds the labels of a sample, in the order they came, to the
// rules, and sorts them: the first label that breaks one is the error, and
// then a name that appears twice.
func checkLabels(ls Labels) *DecodeError {
	for _, l := range ls {
		if isLabelName(l.Name) && utf8.ValidString(l.Value) {
			continue
		}
		switch {
		case l.Name == "":
			return newError(CodeBadField, "labels", "a label name is empty")
		case !utf8.ValidString(l.Name):
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s is not valid UTF-8", abbrev(l.Name)))
		case strings.HasPrefix(l.Name, "__"):
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s is reserved (names starting with __ are internal)", abbrev(l.Name)))
		case !isLabelName(l.Name):
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s is not a label name: want [a-zA-Z_][a-zA-Z0-9_]*", abbrev(l.Name)))
		case !utf8.ValidString(l.Value):
			return newError(CodeBadField, "labels", fmt.Sprintf("the value of label %s is not valid UTF-8", abbrev(l.Name)))
		}
	}
	if !slices.IsSortedFunc(ls, compareLabels) { // producers often send them sorted
		slices.SortFunc(ls, compareLabels)
	}
	for i := 1; i < len(ls); i++ {
		if ls[i].Name == ls[i-1].Name {
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s appears twice", abbrev(ls[i].Name)))
		}
	}
	return nil
}

func compareLabels(a, b Label) int { return strings.Compare(a.Name, b.Name) }

// Validate holds a sample built by hand (by a gateway from another
// protocol) to the rules the decoders hold theirs to: a metric name, label
// names and valid UTF-8 values, a known type, a timestamp not before the
// Unix epoch. It sorts s's labels if need be; a name that appears twice is
// an error. The error is a *DecodeError with Index -1. (Limits.Check holds
// the value and the timestamp to the limits.)
func Validate(s *Sample) error {
	if err := checkName(s.Name); err != nil {
		return err
	}
	if err := checkLabels(s.Labels); err != nil {
		return err
	}
	if s.Type < Counter || s.Type > Timer {
		return newError(CodeBadField, "type", fmt.Sprintf("%s is not a sample type", s.Type))
	}
	if s.TimestampMs < 0 {
		return beforeEpoch(s.TimestampMs)
	}
	return nil
}

// IsGraphiteLabel reports whether name is one of the labels that hold the
// components of a Graphite path, as M3 names them: __g0__, __g1__, … The
// one kind of label starting with __ that a sample may carry.
func IsGraphiteLabel(name string) bool {
	n, ok := strings.CutPrefix(name, "__g")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, "__")
	if !ok || n == "" || len(n) > 3 || n[0] == '0' && len(n) > 1 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}
