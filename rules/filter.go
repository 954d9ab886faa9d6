package rules

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tumblemetrics/tumble/sample"
)

// The tags a filter may name besides the labels of a series.
const (
	// NameTag matches the metric name.
	NameTag = "__name__"
	// TypeTag matches the sample type: counter, cumulative, gauge or timer.
	// M3 spells its types counter, gauge and timer; tumble adds cumulative
	// for Prometheus-style monotonic counters, which M3 does not tell apart
	// from increments.
	TypeTag = "__m3_type__"
)

// FilterError is a malformed filter. Column is the 1-based byte position of
// the fault in the filter string.
type FilterError struct {
	Column int
	Reason string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("column %d: %s", e.Column, e.Reason)
}

// Filter selects series, as an M3 rule filter does: space-separated
// tag:pattern terms that must all hold. A series matches a term when it has
// the tag and the tag's value matches the pattern (see the package doc for
// the glob syntax). A term on a tag the series lacks never holds, also when
// its pattern is negated: "env:!prod" matches env="dev" but not a series
// without env, which is what M3 does.
//
// A Filter is immutable and safe for concurrent use.
type Filter struct {
	src   string
	name  *pattern // nil when the filter does not name __name__
	typed bool     // the filter names __m3_type__
	types typeMask // the sample types __m3_type__ admits
	tags  []tagFilter
}

type tagFilter struct {
	name string
	pat  *pattern
}

// ParseFilter compiles an M3 filter such as
// "__name__:http_* service:{api,web} env:!dev". Errors are of type
// *FilterError.
func ParseFilter(s string) (*Filter, error) {
	if i := invalidUTF8(s); i >= 0 {
		return nil, &FilterError{Column: i + 1, Reason: "not valid UTF-8"}
	}
	f := &Filter{src: strings.TrimSpace(s)}
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		if err := f.addTerm(s[start:i], start, seen); err != nil {
			return nil, err
		}
	}
	if f.name == nil && !f.typed && len(f.tags) == 0 {
		return nil, &FilterError{Column: 1, Reason: "empty filter: want tag:pattern terms, e.g. __name__:http_*"}
	}
	sort.Slice(f.tags, func(i, j int) bool { return f.tags[i].name < f.tags[j].name })
	return f, nil
}

// addTerm compiles one tag:pattern term found at byte offset off.
func (f *Filter) addTerm(term string, off int, seen map[string]bool) error {
	col := func(i int) int { return off + i + 1 }
	name, pat, ok := strings.Cut(term, ":")
	switch {
	case !ok:
		return &FilterError{Column: col(0), Reason: fmt.Sprintf("term %q has no colon: want tag:pattern", term)}
	case name == "":
		return &FilterError{Column: col(0), Reason: fmt.Sprintf("term %q has an empty tag name", term)}
	case pat == "":
		return &FilterError{Column: col(len(name) + 1), Reason: fmt.Sprintf("tag %q has an empty pattern (use * to require the tag with any value)", name)}
	case seen[name]:
		return &FilterError{Column: col(0), Reason: fmt.Sprintf("tag %q appears twice", name)}
	case strings.HasPrefix(name, "__") && name != NameTag && name != TypeTag && !sample.IsGraphiteLabel(name):
		return &FilterError{Column: col(0), Reason: fmt.Sprintf("tag %q is internal: series carry no labels starting with __ (only %s, %s and Graphite's __g0__, __g1__, … can be filtered on)", name, NameTag, TypeTag)}
	}
	seen[name] = true
	p, gerr := compilePattern(pat)
	if gerr != nil {
		return &FilterError{Column: col(len(name) + 1 + gerr.off), Reason: fmt.Sprintf("pattern %q: %s", pat, gerr.reason)}
	}
	switch name {
	case NameTag:
		f.name = p
	case TypeTag:
		f.typed = true
		for t := sample.Counter; t <= sample.Timer; t++ {
			if p.match(t.String()) {
				f.types |= 1 << t
			}
		}
		if f.types == 0 {
			return &FilterError{Column: col(len(name) + 1), Reason: fmt.Sprintf("pattern %q matches no sample type (want counter, cumulative, gauge or timer)", pat)}
		}
	default:
		f.tags = append(f.tags, tagFilter{name: name, pat: p})
	}
	return nil
}

func invalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			return i
		}
		i += w
	}
	return -1
}

// Match reports whether the series name{ls} with samples of type typ passes
// the filter. ls must be sorted by name, as sample.Labels are.
func (f *Filter) Match(name string, typ sample.Type, ls sample.Labels) bool {
	if f.name != nil && !f.name.match(name) {
		return false
	}
	if f.typed && !f.types.has(typ) {
		return false
	}
	j := 0
	for i := range f.tags {
		tf := &f.tags[i]
		for j < len(ls) && ls[j].Name < tf.name {
			j++
		}
		if j == len(ls) || ls[j].Name != tf.name || !tf.pat.match(ls[j].Value) {
			return false
		}
		j++
	}
	return true
}

// MatchSample reports whether the series of s passes the filter.
func (f *Filter) MatchSample(s *sample.Sample) bool { return f.Match(s.Name, s.Type, s.Labels) }

// String returns the filter as written, without surrounding spaces.
func (f *Filter) String() string { return f.src }

// Types returns the sample types the filter admits through __m3_type__, in
// order, and false when it does not name __m3_type__ (any type passes).
func (f *Filter) Types() ([]sample.Type, bool) {
	if !f.typed {
		return nil, false
	}
	return f.types.list(), true
}

// requires reports whether the filter makes label name present on every
// series it passes.
func (f *Filter) requires(name string) bool {
	for _, tf := range f.tags {
		if tf.name == name {
			return true
		}
	}
	return false
}

// typeMask is a set of sample types, bit t for type t.
type typeMask uint8

const allTypes = typeMask(1<<sample.Counter | 1<<sample.Cumulative | 1<<sample.Gauge | 1<<sample.Timer)

func maskOf(t sample.Type) typeMask { return 1 << t }

func (m typeMask) has(t sample.Type) bool { return t <= sample.Timer && m&(1<<t) != 0 }

func (m typeMask) list() []sample.Type {
	var ts []sample.Type
	for t := sample.Counter; t <= sample.Timer; t++ {
		if m.has(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

func (m typeMask) String() string {
	var names []string
	for _, t := range m.list() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}
