package rules

import (
	"encoding/binary"
	"hash/maphash"
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

// slot is the cache's record of one series: a second hash of its name and
// labels, independent of the map key (together 128 bits, see
// sample.Labels.Hashes), and its type, kept inline so that a hit reads the
// map and the Result only. Series that feed the same targets share one
// Result, which keeps the hot set small for rollups.
type slot struct {
	check uint64
	typ   sample.Type
	res   *Result
}

// slotKey identifies a series in generation.more.
type slotKey struct {
	id, check uint64
	typ       sample.Type
}

// generation is one of the cache's two generations.
type generation struct {
	slots map[uint64]slot
	// more holds the series whose ID is taken in slots by another series:
	// a 64-bit collision, rare but never ignored.
	more map[slotKey]*Result
	// results interns the Results built in this generation, by the rules
	// and targets they hold.
	results map[string]*Result
}

func newGeneration(size int) *generation {
	return &generation{slots: make(map[uint64]slot, size), more: map[slotKey]*Result{}, results: map[string]*Result{}}
}

func (g *generation) len() int { return len(g.slots) + len(g.more) }

func (g *generation) get(k slotKey) (*Result, bool) {
	sl, ok := g.slots[k.id]
	if !ok {
		return nil, false
	}
	if sl.check == k.check && sl.typ == k.typ {
		return sl.res, true
	}
	r := g.more[k]
	return r, r != nil
}

// taken reports whether another series holds k's ID.
func (g *generation) taken(k slotKey) bool {
	_, ok := g.slots[k.id]
	return ok
}

func (g *generation) put(k slotKey, r *Result) {
	if sl, ok := g.slots[k.id]; ok && (sl.check != k.check || sl.typ != k.typ) {
		g.more[k] = r
		return
	}
	g.slots[k.id] = slot{check: k.check, typ: k.typ, res: r}
}

func (g *generation) remove(k slotKey) {
	if sl, ok := g.slots[k.id]; ok && sl.check == k.check && sl.typ == k.typ {
		delete(g.slots, k.id)
		return
	}
	delete(g.more, k)
}

func (g *generation) clear() {
	clear(g.slots)
	clear(g.more)
	clear(g.results)
}

// Matcher finds the targets of samples under a RuleSet and caches them per
// series. A Matcher is used by one goroutine; Stats, RuleCounts and
// RuleCount may be called from any goroutine. Use one Matcher per goroutine
// over a shared RuleSet.
type Matcher struct {
	rs        *RuleSet
	partial   bool
	size      int
	seed      maphash.Seed
	cur       *generation // nil when the cache is off
	prev      *generation
	scratch   []int32
	key       []byte
	batch     [64]slotKey // MatchBatch's keys
	found     [64]bool    // and which it found in the current generation
	hitsLocal uint64
	hash      func(*sample.Sample) uint64 // if set, replaces the cache key's ID: tests force collisions

	counts                           []atomic.Uint64 // samples per rule, by Rule.ID
	hits, misses, collisions, evicts atomic.Uint64
}

// NewMatcher returns a Matcher over rs.
func NewMatcher(rs *RuleSet, opts MatcherOptions) *Matcher {
	m := &Matcher{
		rs:      rs,
		partial: opts.PartialGroupBy,
		size:    opts.CacheSize,
		seed:    maphash.MakeSeed(),
		counts:  make([]atomic.Uint64, len(rs.rules)),
	}
	if m.size == 0 {
		m.size = DefaultCacheSize
	}
	if m.size > 0 {
		m.cur, m.prev = newGeneration(m.size), newGeneration(m.size)
	}
	return m
}

// Match returns what the series of s feeds. A series seen recently is
// answered from the cache without allocating; otherwise the rules are
// evaluated and their targets built once. The series is identified by two
// independent 64-bit hashes of its name and labels, and by its type, so
// that colliding IDs never mix two series.
func (m *Matcher) Match(s *sample.Sample) Result {
	id, check := s.Labels.Hashes(s.Name, m.seed)
	var res *Result
	if m.cur == nil {
		m.misses.Add(1)
		res = m.build(s, nil)
	} else {
		k := slotKey{id: id, check: check, typ: s.Type}
		if m.hash != nil {
			k.id = m.hash(s)
		}
		res = m.lookup(s, k)
	}
	for _, r := range res.Rules {
		m.counts[r.ID].Add(1)
	}
	out := *res
	out.SeriesID = id
	return out
}

func (m *Matcher) lookup(s *sample.Sample, k slotKey) *Result {
	if r, ok := m.cur.get(k); ok {
		m.hits.Add(1)
		return r
	}
	if r, ok := m.prev.get(k); ok {
		m.hits.Add(1)
		m.prev.remove(k)
		m.insert(k, r)
		return r
	}
	m.misses.Add(1)
	if m.cur.taken(k) || m.prev.taken(k) {
		m.collisions.Add(1)
	}
	m.turnover()
	r := m.build(s, m.cur)
	m.cur.put(k, r)
	return r
}

// insert puts r in the current generation, turning generations over first
// when it is full.
func (m *Matcher) insert(k slotKey, r *Result) {
	m.turnover()
	m.cur.put(k, r)
}

func (m *Matcher) turnover() {
	if m.cur.len() >= m.size {
		m.prev.clear()
		m.prev, m.cur = m.cur, m.prev
		m.evicts.Add(1)
	}
}

// build evaluates the rules for the series of s. With g, the Result is
// interned in g: a series that feeds the same targets as one built before
// in g gets the same Result.
func (m *Matcher) build(s *sample.Sample, g *generation) *Result {
	res := &Result{}
	labels := slices.Clone(s.Labels) // targets keep them: s's may be reused
	m.scratch = m.rs.index.candidates(s.Name, m.scratch[:0])
	for _, id := range m.scratch {
		r := m.rs.rules[id]
		if !r.Filter.Match(s.Name, s.Type, s.Labels) {
			continue
		}
		if r.Op == Drop {
			res.Dropped = true
			res.Rules = append(res.Rules, r)
			continue
		}
		t := r.target(s.Name, labels, m.partial)
		if t == nil {
			continue
		}
		res.Rules = append(res.Rules, r)
		if !slices.ContainsFunc(res.Targets, func(x *aggregator.Target) bool { return x.Key == t.Key }) {
			res.Targets = append(res.Targets, t)
		}
	}
	// A caller's append must not write into the cached arrays.
	res.Targets, res.Rules = slices.Clip(res.Targets), slices.Clip(res.Rules)
	if g == nil {
		return res
	}
	m.key = res.appendKey(m.key[:0])
	if have, ok := g.results[string(m.key)]; ok && have.same(res) {
		return have
	}
	g.results[string(m.key)] = res
	return res
}

// appendKey appends what identifies r for interning: its rules and the
// keys of its targets.
func (r *Result) appendKey(dst []byte) []byte {
	if r.Dropped {
		dst = append(dst, 1)
	}
	for _, rule := range r.Rules {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(rule.ID))
	}
	dst = append(dst, 0xff)
	for _, t := range r.Targets {
		dst = binary.LittleEndian.AppendUint64(dst, t.Key)
	}
	return dst
}

// same reports whether r and o hold the same rules and equal targets,
// compared in full: equal keys are not enough.
func (r *Result) same(o *Result) bool {
	return r.Dropped == o.Dropped && slices.Equal(r.Rules, o.Rules) &&
		slices.EqualFunc(r.Targets, o.Targets, (*aggregator.Target).Same)
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

// MatchBatch matches every sample of ss, writing the results to out, which
// must be as long. It answers as Match does, only faster: the cache lookups
// of a batch are independent, so their memory accesses overlap.
func (m *Matcher) MatchBatch(ss []sample.Sample, out []Result) {
	if m.cur == nil || m.hash != nil {
		for i := range ss {
			out[i] = m.Match(&ss[i])
		}
		return
	}
	for len(ss) > 0 {
		n := min(len(ss), len(m.batch))
		keys := m.batch[:n]
		for i := range keys {
			s := &ss[i]
			id, check := s.Labels.Hashes(s.Name, m.seed)
			keys[i] = slotKey{id: id, check: check, typ: s.Type}
		}
		// Looking the whole batch up first lets the processor have
		// several cache misses in flight at once.
		found := m.found[:n]
		for i := range keys {
			sl, ok := m.cur.slots[keys[i].id]
			found[i] = ok && sl.check == keys[i].check && sl.typ == keys[i].typ
			if found[i] {
				out[i] = *sl.res
			}
		}
		for i := range keys {
			if found[i] {
				m.hitsLocal++
			} else {
				out[i] = *m.lookup(&ss[i], keys[i])
			}
			for _, r := range out[i].Rules {
				m.counts[r.ID].Add(1)
			}
			out[i].SeriesID = keys[i].id
		}
		ss, out = ss[n:], out[n:]
	}
	m.hits.Add(m.hitsLocal)
	m.hitsLocal = 0
}
