package rules

import (
	"slices"
	"sync/atomic"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// DefaultCacheSize is the number of series a Matcher's cache generation
// holds when MatcherOptions.CacheSize is zero.
const DefaultCacheSize = 1 << 18

// MatcherOptions configure a Matcher. The zero value is usable.
type MatcherOptions struct {
	// CacheSize bounds the cache of match results: it keeps two
	// generations of at most CacheSize series each, the current one and
	// the one before; a hit in the older one moves the series to the
	// current one, and when the current one is full the older one is
	// dropped. Zero means DefaultCacheSize; a negative size turns the
	// cache off (every Match then evaluates the rules and builds new
	// targets).
	CacheSize int
	// PartialGroupBy feeds a groupBy rollup with series that lack some of
	// its groupBy labels, the output then carrying only the labels the
	// series has. By default such series are not rolled up, as M3 documents
	// ("only metrics that contain all of the group_by tags will be rolled
	// up").
	PartialGroupBy bool
}

// Result is what a sample's series feeds. Its slices are shared with the
// Matcher's cache and with other Results: read them, never modify them.
// They stay valid after later calls to Match.
type Result struct {
	// Targets are the output series of the matched rules, deduplicated by
	// Target.Key, in rule order (mapping rules first).
	Targets []*aggregator.Target
	// Dropped is set when a drop rule (a mapping rule with drop: true)
	// matched: the series itself must not be kept, neither raw nor by any
	// default rule of the caller. Targets still hold the outputs of the
	// other mapping rules that matched and of the rollup rules, as in M3,
	// where drop: true is the drop_if_only_match policy: a drop rule never
	// removes what another rule asks for.
	Dropped bool
	// Rules are the rules that matched, in rule order. A groupBy rollup
	// whose labels the series lacks does not match (see
	// MatcherOptions.PartialGroupBy).
	Rules []*Rule
	// SeriesID is the sample's input series ID (sample.SeriesID), which
	// the matcher computes anyway: the aggregator keys input state by it.
	SeriesID uint64
}

// entry is the cached Result of one series. Entries are immutable once
// built, but for next, which chains series whose IDs collide.
type entry struct {
	name   string
	labels sample.Labels
	typ    sample.Type
	res    Result
	next   *entry
}

func (e *entry) is(s *sample.Sample) bool {
	return e.typ == s.Type && e.name == s.Name && e.labels.Equal(s.Labels)
}

// Matcher finds the targets of samples under a RuleSet and caches them per
// series. A Matcher is used by one goroutine; Stats, RuleCounts and
// RuleCount may be called from any goroutine. Use one Matcher per goroutine
// over a shared RuleSet.
type Matcher struct {
	rs      *RuleSet
	partial bool
	size    int
	cur     map[uint64]*entry // nil when the cache is off
	prev    map[uint64]*entry
	scratch []int32
	hash    func(*sample.Sample) uint64 // sample.SeriesID; tests force collisions

	counts                           []atomic.Uint64 // samples per rule, by Rule.ID
	hits, misses, collisions, evicts atomic.Uint64
}

// NewMatcher returns a Matcher over rs.
func NewMatcher(rs *RuleSet, opts MatcherOptions) *Matcher {
	m := &Matcher{
		rs:      rs,
		partial: opts.PartialGroupBy,
		size:    opts.CacheSize,
		counts:  make([]atomic.Uint64, len(rs.rules)),
		hash:    (*sample.Sample).SeriesID,
	}
	if m.size == 0 {
		m.size = DefaultCacheSize
	}
	if m.size > 0 {
		m.cur = make(map[uint64]*entry, m.size)
		m.prev = make(map[uint64]*entry, m.size)
	}
	return m
}

// Match returns what the series of s feeds. A series seen recently is
// answered from the cache without allocating; otherwise the rules are
// evaluated and their targets built once for the series. The series is
// identified by s.SeriesID and verified by name, labels and type, so
// colliding IDs never mix two series.
func (m *Matcher) Match(s *sample.Sample) Result {
	var e *entry
	if m.cur == nil {
		m.misses.Add(1)
		e = m.build(s)
	} else {
		e = m.lookup(s)
	}
	for _, r := range e.res.Rules {
		m.counts[r.ID].Add(1)
	}
	return e.res
}

func (m *Matcher) lookup(s *sample.Sample) *entry {
	id := m.hash(s)
	head := m.cur[id]
	for e := head; e != nil; e = e.next {
		if e.is(s) {
			m.hits.Add(1)
			return e
		}
	}
	// Promote from the previous generation: unlink, then push on the
	// current chain.
	var before *entry
	for e := m.prev[id]; e != nil; before, e = e, e.next {
		if !e.is(s) {
			continue
		}
		if before == nil {
			if e.next == nil {
				delete(m.prev, id)
			} else {
				m.prev[id] = e.next
			}
		} else {
			before.next = e.next
		}
		m.hits.Add(1)
		return m.insert(id, head, e)
	}
	m.misses.Add(1)
	if head != nil || m.prev[id] != nil {
		m.collisions.Add(1)
	}
	return m.insert(id, head, m.build(s))
}

// insert pushes e on the chain of id in the current generation, whose head
// was head, turning generations over first when the current one is full.
func (m *Matcher) insert(id uint64, head, e *entry) *entry {
	if head == nil && len(m.cur) >= m.size {
		clear(m.prev)
		m.prev, m.cur = m.cur, m.prev
		m.evicts.Add(1)
	}
	e.next = m.cur[id]
	m.cur[id] = e
	return e
}

// build evaluates the rules for the series of s.
func (m *Matcher) build(s *sample.Sample) *entry {
	e := &entry{name: s.Name, labels: slices.Clone(s.Labels), typ: s.Type}
	e.res.SeriesID = s.SeriesID()
	m.scratch = m.rs.index.candidates(s.Name, m.scratch[:0])
	for _, id := range m.scratch {
		r := m.rs.rules[id]
		if !r.Filter.Match(s.Name, s.Type, s.Labels) {
			continue
		}
		if r.Op == Drop {
			e.res.Dropped = true
			e.res.Rules = append(e.res.Rules, r)
			continue
		}
		t := r.target(e.name, e.labels, m.partial)
		if t == nil {
			continue
		}
		e.res.Rules = append(e.res.Rules, r)
		if !slices.ContainsFunc(e.res.Targets, func(x *aggregator.Target) bool { return x.Key == t.Key }) {
			e.res.Targets = append(e.res.Targets, t)
		}
	}
	// A caller's append must not write into the cached arrays.
	e.res.Targets, e.res.Rules = slices.Clip(e.res.Targets), slices.Clip(e.res.Rules)
	return e
}

// RuleCount is the number of samples that matched one rule.
type RuleCount struct {
	Rule    *Rule
	Samples uint64
}

// RuleCounts appends to dst the number of samples each rule matched so far,
// in Rule.ID order. It is safe to call from any goroutine.
func (m *Matcher) RuleCounts(dst []RuleCount) []RuleCount {
	for i, r := range m.rs.rules {
		dst = append(dst, RuleCount{Rule: r, Samples: m.counts[i].Load()})
	}
	return dst
}

// RuleCount returns the number of samples r matched so far; r must belong
// to the Matcher's RuleSet. It is safe to call from any goroutine.
func (m *Matcher) RuleCount(r *Rule) uint64 {
	if r.ID >= len(m.rs.rules) || m.rs.rules[r.ID] != r {
		return 0
	}
	return m.counts[r.ID].Load()
}

// MatcherStats count a Matcher's work since it was made.
type MatcherStats struct {
	Hits       uint64 // samples answered from the cache
	Misses     uint64 // samples whose series was evaluated
	Collisions uint64 // misses whose series ID was cached for another series
	Turnovers  uint64 // times the current cache generation was full
}

// Stats returns the Matcher's counters. It is safe to call from any
// goroutine.
func (m *Matcher) Stats() MatcherStats {
	return MatcherStats{
		Hits:       m.hits.Load(),
		Misses:     m.misses.Load(),
		Collisions: m.collisions.Load(),
		Turnovers:  m.evicts.Load(),
	}
}

// RuleSet returns the rules the Matcher applies.
func (m *Matcher) RuleSet() *RuleSet { return m.rs }
