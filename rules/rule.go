package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// List is one of the two rule lists of a file.
type List uint8

// The rule lists, as M3 names them.
const (
	MappingRules List = iota + 1
	RollupRules
)

func (l List) String() string {
	switch l {
	case MappingRules:
		return "mappingRules"
	case RollupRules:
		return "rollupRules"
	}
	return "List(" + strconv.Itoa(int(l)) + ")"
}

// Op is what a rule makes of the series it matches.
type Op uint8

// The operations.
const (
	// Map keeps the input series, its name and labels plus the rule's
	// tags, under the rule's aggregations: a mapping rule.
	Map Op = iota + 1
	// Drop is a mapping rule with drop: true. See Result.Dropped.
	Drop
	// Rollup merges the input series into a series named MetricName with
	// the labels chosen by GroupLabels and Exclude, plus the rule's tags: a
	// rollup rule whose pipeline holds a rollup.
	Rollup
	// Aggregate keeps the input series under one aggregation: a rollup
	// rule whose pipeline holds an aggregate.
	Aggregate
)

func (o Op) String() string {
	switch o {
	case Map:
		return "map"
	case Drop:
		return "drop"
	case Rollup:
		return "rollup"
	case Aggregate:
		return "aggregate"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// metricNameVar stands for the input metric name in a rollup's metricName,
// as in M3 ("{{ .MetricName }}_by_route"); it may appear once.
const metricNameVar = "{{ .MetricName }}"

// Rule is one parsed rule. Rules belong to a RuleSet and are immutable:
// nothing may modify them.
type Rule struct {
	List  List
	Index int // position in its list
	// ID is the rule's position in RuleSet.Rules (mapping rules first); it
	// indexes per-rule counters.
	ID     int
	Name   string
	Line   int // line of the rule in its file
	Filter *Filter
	Op     Op

	// MetricName is the name of a Rollup's output; it may hold
	// {{ .MetricName }}, which stands for the input name.
	MetricName string
	// A Rollup keeps the input labels named in GroupLabels (M3's groupBy),
	// or, when Exclude is set, every input label but those (M3's excludeBy).
	// GroupLabels is sorted.
	Exclude     bool
	GroupLabels []string

	// Tags are added to every output series, replacing an input label of
	// the same name. Sorted by name.
	Tags sample.Labels
	// Aggregations is empty when the rule names none: the aggregator then
	// applies aggregator.Defaults of the sample type.
	Aggregations aggregator.Set
	// Policies are sorted by resolution, then retention; empty for Drop.
	Policies []aggregator.Policy
	// Pre applies to each input series before the aggregation, Post to the
	// aggregated series (a rollup rule's transforms before and after its
	// rollup or aggregate).
	Pre, Post aggregator.Transform

	// TraceAggregations are the aggregations whose points select their
	// exemplar's trace (the rule's traceSelection); TracesPerSecond caps the
	// rule's selections across the cluster (0: no cap).
	TraceAggregations aggregator.Set
	TracesPerSecond   float64

	selectGiven     bool              // the rule has a traceSelection field
	selectAggsGiven bool              // with an aggregations field
	selectItems     []aggItem         // its aggregations, for errors
	tenants         *SelectionTenants // the file's
}

// String names the rule as errors do: `rollupRules "by route"`.
func (r *Rule) String() string {
	if r.Name == "" {
		return r.List.String() + "[" + strconv.Itoa(r.Index) + "]"
	}
	return r.List.String() + " " + strconv.Quote(r.Name)
}

// valueTypes returns the sample types whose values reach the rule's
// aggregations when the rule pins them, with a relative clause saying why:
// after a transform, the type it yields; else the types the filter's
// __m3_type__ admits. Otherwise it returns allTypes.
func (r *Rule) valueTypes() (typeMask, string) {
	if r.Pre != aggregator.NoTransform {
		return maskOf(r.Pre.Effective(0)), "which the " + r.Pre.String() + " transform before it yields"
	}
	if r.Filter != nil && r.Filter.typed {
		return r.Filter.types, "which the filter admits through " + TypeTag
	}
	return allTypes, ""
}

// outputName returns the name of the rule's output for input series name.
func (r *Rule) outputName(name string) string {
	if r.Op != Rollup {
		return name
	}
	if i := strings.Index(r.MetricName, metricNameVar); i >= 0 {
		return r.MetricName[:i] + name + r.MetricName[i+len(metricNameVar):]
	}
	return r.MetricName
}

// outputLabels returns the labels of the rule's output for an input series
// with labels ls. For a groupBy rollup it reports false when ls lacks a
// label of GroupLabels, unless partial is set. The result may share ls.
func (r *Rule) outputLabels(ls sample.Labels, partial bool) (sample.Labels, bool) {
	out := ls
	if r.Op == Rollup {
		var ok bool
		if out, ok = r.rollupLabels(ls, partial); !ok {
			return nil, false
		}
	}
	return withTags(out, r.Tags), true
}

func (r *Rule) rollupLabels(ls sample.Labels, partial bool) (sample.Labels, bool) {
	if r.Exclude {
		out := make(sample.Labels, 0, len(ls))
		for _, l := range ls {
			if _, excluded := slices.BinarySearch(r.GroupLabels, l.Name); !excluded {
				out = append(out, l)
			}
		}
		return out, true
	}
	out := make(sample.Labels, 0, len(r.GroupLabels))
	j := 0
	for _, name := range r.GroupLabels {
		for j < len(ls) && ls[j].Name < name {
			j++
		}
		if j < len(ls) && ls[j].Name == name {
			out = append(out, ls[j])
			j++
		} else if !partial {
			return nil, false
		}
	}
	return out, true
}

// withTags returns ls with tags added, a tag replacing a label of the same
// name. Both are sorted; ls is returned as it is when tags is empty.
func withTags(ls, tags sample.Labels) sample.Labels {
	if len(tags) == 0 {
		return ls
	}
	out := make(sample.Labels, 0, len(ls)+len(tags))
	i, j := 0, 0
	for i < len(ls) || j < len(tags) {
		switch {
		case j == len(tags) || i < len(ls) && ls[i].Name < tags[j].Name:
			out = append(out, ls[i])
			i++
		case i == len(ls) || tags[j].Name < ls[i].Name:
			out = append(out, tags[j])
			j++
		default: // same name: the tag wins
			out = append(out, tags[j])
			i++
			j++
		}
	}
	return out
}

// target returns the target the rule derives from the series name{ls}, or
// nil when it derives none (a drop rule; a groupBy rollup of a series that
// lacks one of its labels, unless partial). The target names the rule
// (Target.Rule); of equal targets of several rules, the Matcher keeps the
// first rule's.
func (r *Rule) target(name string, ls sample.Labels, partial bool) *aggregator.Target {
	if r.Op == Drop {
		return nil
	}
	out, ok := r.outputLabels(ls, partial)
	if !ok {
		return nil
	}
	t := aggregator.NewTarget(r.outputName(name), out, r.Aggregations, r.Policies, r.Pre, r.Post)
	t.Selects = r.selectionSpec(out, r.tenants)
	t.Rule = r.label()
	return t
}

// label names the rule in what it makes (targets, their trace selections,
// the counters kept per rule): its name, or, if it has none, its place in
// its list as String gives it.
func (r *Rule) label() string {
	if r.Name == "" {
		return r.String()
	}
	return r.Name
}

// RuleSet is the parsed content of a rule file: its rules, and an index of
// them by metric name for the Matcher. A RuleSet is immutable and safe for
// concurrent use; any number of Matchers may share one.
type RuleSet struct {
	file     string
	rules    []*Rule // mapping rules, then rollup rules
	nMapping int
	index    nameIndex
	tenants  SelectionTenants
}

func newRuleSet(file string, mapping, rollup []*Rule, tenants SelectionTenants) *RuleSet {
	rs := &RuleSet{file: file, nMapping: len(mapping), tenants: tenants}
	rs.rules = append(append(rs.rules, mapping...), rollup...)
	for i, r := range rs.rules {
		r.ID = i
		r.tenants = &rs.tenants
	}
	rs.index = buildIndex(rs.rules)
	return rs
}

// SelectionTenants returns the file-wide settings of trace selection.
func (rs *RuleSet) SelectionTenants() SelectionTenants { return rs.tenants }

// File returns the file name the rules were parsed from.
func (rs *RuleSet) File() string { return rs.file }

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Rules returns every rule, mapping rules first, each at index Rule.ID.
func (rs *RuleSet) Rules() []*Rule { return slices.Clone(rs.rules) }

// MappingRules returns the mapping rules in file order.
func (rs *RuleSet) MappingRules() []*Rule { return slices.Clone(rs.rules[:rs.nMapping]) }

// RollupRules returns the rollup rules in file order.
func (rs *RuleSet) RollupRules() []*Rule { return slices.Clone(rs.rules[rs.nMapping:]) }

// Rule returns the rule of list called name, or nil.
func (rs *RuleSet) Rule(list List, name string) *Rule {
	for _, r := range rs.rules {
		if r.List == list && r.Name == name {
			return r
		}
	}
	return nil
}
