package aggregator

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/sample"
)

// Policy is a storage policy: windows of Resolution, kept for Retention.
type Policy = policy.Policy

// Transform is one of M3's pipeline transforms.
type Transform uint8

// The transforms. Before the rollup (Target.Pre) they act on each input series
// of a target; after it (Target.Post), on each aggregated series across its
// windows.
const (
	NoTransform Transform = iota
	// TransformIncrease reads values as a cumulative counter and yields the
	// increase since the previous value; a drop is a reset, whose increase is
	// the new value. The first value of a series only sets the baseline.
	TransformIncrease
	// TransformPerSecond yields that increase divided by the seconds since
	// the previous value.
	TransformPerSecond
	// TransformAdd yields the running total of the values.
	TransformAdd
)

var transformNames = [...]string{NoTransform: "", TransformIncrease: "Increase", TransformPerSecond: "PerSecond", TransformAdd: "Add"}

// ParseTransform returns the transform M3 calls s.
func ParseTransform(s string) (Transform, error) {
	for t := TransformIncrease; t <= TransformAdd; t++ {
		if transformNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown transform %q (want Increase, PerSecond or Add)", s)
}

// Valid reports whether t is a known transform.
func (t Transform) Valid() bool { return t <= TransformAdd }

// String returns M3's name of t, "" for NoTransform.
func (t Transform) String() string {
	if int(t) < len(transformNames) {
		return transformNames[t]
	}
	return "Transform(" + strconv.Itoa(int(t)) + ")"
}

// Effective returns the type that values of type st have after t: Increase
// makes counter increments, PerSecond a gauge of rates, Add a cumulative.
func (t Transform) Effective(st sample.Type) sample.Type {
	switch t {
	case TransformIncrease:
		return sample.Counter
	case TransformPerSecond:
		return sample.Gauge
	case TransformAdd:
		return sample.Cumulative
	}
	return st
}

// Target is one output series that a rule derives from an input series: its
// name and labels, the aggregations it keeps per storage policy, and the
// transforms around them. Targets are built by NewTarget and are immutable:
// the matcher caches them and the aggregator keeps a pointer to them.
type Target struct {
	// ID identifies the output series (its name and labels); it picks the
	// shard. Targets of one series that differ in pipeline share the ID.
	ID uint64
	// Key identifies the target with its pipeline; the aggregator keeps one
	// state per Key.
	Key    uint64
	Name   string
	Labels sample.Labels
	// Aggregations is empty when the rule named none: Defaults of the type
	// of the first sample that reaches the target apply.
	Aggregations Set
	Policies     []Policy // sorted by resolution, then retention; no duplicates
	Pre, Post    Transform
	// Selects, if set, says which of the target's points name a trace for
	// tail-based sampling. It is not part of the pipeline: targets that
	// differ only in it are the same series (Same), and the aggregator
	// follows the latest one it is given.
	Selects *SelectionSpec
	// Rule names the rule that made the target, for the counters kept
	// per rule (see Options.OnLate); "" when it is not known (a target
	// of a shard record written before records named rules). Like
	// Selects, it is not part of the series: targets that differ only in
	// it are the Same and share a Key.
	Rule string
}

// NewTarget returns the target for series name{labels} with the given
// pipeline; it computes ID and Key. labels must be sorted and are kept, not
// copied; policies are sorted and deduplicated into a copy.
func NewTarget(name string, labels sample.Labels, aggs Set, policies []Policy, pre, post Transform) *Target {
	ps := sortedPolicies(policies)
	t := &Target{
		ID: labels.Hash(name), Name: name, Labels: labels,
		Aggregations: aggs, Policies: ps, Pre: pre, Post: post,
	}
	var b [8]byte
	d := xxhash.New()
	binary.LittleEndian.PutUint64(b[:], t.ID)
	_, _ = d.Write(b[:])
	binary.LittleEndian.PutUint32(b[:4], uint32(aggs))
	b[4], b[5] = byte(pre), byte(post)
	_, _ = d.Write(b[:6])
	for _, p := range ps {
		binary.LittleEndian.PutUint64(b[:], uint64(p.Resolution))
		_, _ = d.Write(b[:])
		binary.LittleEndian.PutUint64(b[:], uint64(p.Retention))
		_, _ = d.Write(b[:])
	}
	t.Key = d.Sum64()
	return t
}

// sortedPolicies returns a sorted copy of ps without duplicates.
func sortedPolicies(policies []Policy) []Policy {
	ps := append([]Policy(nil), policies...)
	slices.SortFunc(ps, func(a, b Policy) int {
		if c := cmp.Compare(a.Resolution, b.Resolution); c != 0 {
			return c
		}
		return cmp.Compare(a.Retention, b.Retention)
	})
	return slices.Compact(ps)
}

// Same reports whether t and o are the same target: the same series and
// pipeline, compared in full rather than by Key.
func (t *Target) Same(o *Target) bool {
	return t.Name == o.Name && t.Labels.Equal(o.Labels) && t.Aggregations == o.Aggregations &&
		slices.Equal(t.Policies, o.Policies) && t.Pre == o.Pre && t.Post == o.Post
}
