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
	// Seed is the seed of the cache's second hash of a series; the zero
	// value means a seed of its own. Given a sample.Decoder's seed, the
	// Matcher takes the Keys of the samples it decodes as they are, without
	// hashing their labels again.
	Seed maphash.Seed
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

// slot is the cache's record of one series: its ID, a second hash of its
// name, labels and type, independent of the ID (together 128 bits, see
// sample.Labels.Hashes), and what it matched. Series that feed the same
// targets share one Result, which keeps the hot set small for rollups.
type slot struct {
	id, check uint64
	res       *Result // nil: the slot is empty
}

// generation is one of the cache's two generations: an open-addressing
// table with linear probing, so that a lookup is a few instructions and one
// cache line, and a batch of them can have many misses in flight. It grows
// by doubling, keeping at most half its slots full.
type generation struct {
	slots []slot
	n     int
	// results interns the Results built in this generation, by the rules
	// and targets they hold.
	results map[string]*Result
}

func newGeneration() *generation {
	return &generation{slots: make([]slot, 1024), results: map[string]*Result{}}
}

func (g *generation) len() int { return g.n }

// get returns the Result of the series (id, check), or nil; collided tells
// whether another series with the same ID was met on the way.
func (g *generation) get(id, check uint64) (res *Result, collided bool) {
	mask := uint64(len(g.slots) - 1)
	for i := id & mask; ; i = (i + 1) & mask {
		sl := &g.slots[i]
		switch {
		case sl.res == nil:
			return nil, collided
		case sl.id != id:
		case sl.check == check:
			return sl.res, collided
		default:
			collided = true
		}
	}
}

func (g *generation) put(id, check uint64, r *Result) {
	if 2*(g.n+1) > len(g.slots) {
		old := g.slots
		g.slots, g.n = make([]slot, 2*len(old)), 0
		for _, sl := range old {
			if sl.res != nil {
				g.put(sl.id, sl.check, sl.res)
			}
		}
	}
	mask := uint64(len(g.slots) - 1)
	for i := id & mask; ; i = (i + 1) & mask {
		sl := &g.slots[i]
		if sl.res == nil {
			*sl = slot{id: id, check: check, res: r}
			g.n++
			return
		}
		if sl.id == id && sl.check == check {
			sl.res = r
			return
		}
	}
}

// clear empties g, keeping its table.
func (g *generation) clear() {
	clear(g.slots)
	g.n = 0
	clear(g.results)
}

// Matcher finds the targets of samples under a RuleSet and caches them per
// series. A Matcher is used by one goroutine; Stats, RuleCounts and
// RuleCount may be called from any goroutine. Use one Matcher per goroutine
// over a shared RuleSet.
type Matcher struct {
	rs      *RuleSet
	partial bool
	size    int
	seed    maphash.Seed
	cur     *generation // nil when the cache is off
	prev    *generation
	scratch []int32
	key     []byte
	batch   [64]struct{ id, check uint64 } // MatchBatch's keys
	found   [64]*Result                    // and what it found in the current generation
	hash    func(*sample.Sample) uint64    // if set, replaces the cache key's ID: tests force collisions

	counts                           []atomic.Uint64 // samples per rule, by Rule.ID
	hits, misses, collisions, evicts atomic.Uint64
}

// NewMatcher returns a Matcher over rs.
func NewMatcher(rs *RuleSet, opts MatcherOptions) *Matcher {
	m := &Matcher{
		rs:      rs,
		partial: opts.PartialGroupBy,
		size:    opts.CacheSize,
		seed:    opts.Seed,
		counts:  make([]atomic.Uint64, len(rs.rules)),
	}
	if m.size == 0 {
		m.size = DefaultCacheSize
	}
	if m.seed == (maphash.Seed{}) {
		m.seed = maphash.MakeSeed()
	}
	if m.size > 0 {
		m.cur, m.prev = newGeneration(), newGeneration()
	}
	return m
}

// Match returns what the series of s feeds. A series seen recently is
// answered from the cache without allocating; otherwise the rules are
// evaluated and their targets built once. The series is identified by two
// independent 64-bit hashes of its name and labels, and by its type, so
// that colliding IDs never mix two series.
func (m *Matcher) Match(s *sample.Sample) Result {
	id, check := m.keys(s)
	var res *Result
	if m.cur == nil {
		m.misses.Add(1)
		res = m.build(s, nil)
	} else {
		key := id
		if m.hash != nil {
			key = m.hash(s)
		}
		res = m.lookup(s, key, check)
	}
	for _, r := range res.Rules {
		m.counts[r.ID].Add(1)
	}
	out := *res
	out.SeriesID = id
	return out
}

// keys returns the series ID of s and the check hash of its series and type.
// A sample's Key is taken as it is: under the Matcher's seed, it is what
// hashing the labels would give; under another, the series gets a second
// entry in the cache, never another series' Result.
func (m *Matcher) keys(s *sample.Sample) (id, check uint64) {
	if s.Key != (sample.SeriesKey{}) {
		id, check = s.Key.ID, s.Key.Check
	} else {
		id, check = s.Labels.Hashes(s.Name, m.seed)
	}
	return id, check ^ uint64(s.Type)*0x9e3779b97f4a7c15
}

// lookup answers from the cache, or builds and caches the Result.
func (m *Matcher) lookup(s *sample.Sample, id, check uint64) *Result {
	r, c1 := m.cur.get(id, check)
	if r != nil {
		m.hits.Add(1)
		return r
	}
	r, c2 := m.prev.get(id, check)
	if r != nil {
		// Promote: the copy left in the previous generation goes with it.
		m.hits.Add(1)
		m.insert(id, check, r)
		return r
	}
	m.misses.Add(1)
	if c1 || c2 {
		m.collisions.Add(1)
	}
	m.turnover()
	r = m.build(s, m.cur)
	m.cur.put(id, check, r)
	return r
}

// insert puts r in the current generation, turning generations over first
// when it is full.
func (m *Matcher) insert(id, check uint64, r *Result) {
	m.turnover()
	m.cur.put(id, check, r)
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
	var hits uint64
	for len(ss) > 0 {
		n := min(len(ss), len(m.batch))
		keys, found := m.batch[:n], m.found[:n]
		for i := range keys {
			if i > 0 && sample.SameSeries(&ss[i], &ss[i-1]) {
				keys[i] = keys[i-1]
				continue
			}
			keys[i].id, keys[i].check = m.keys(&ss[i])
		}
		// Probing the whole batch first lets the processor have several
		// cache misses in flight at once.
		for i := range keys {
			if i > 0 && keys[i] == keys[i-1] {
				found[i] = found[i-1]
				continue
			}
			found[i], _ = m.cur.get(keys[i].id, keys[i].check)
		}
		// A run of samples of one series shares its first's Result, found
		// or built just now, and is counted once.
		var run *Result
		runLen := 0
		for i := range keys {
			if i > 0 && keys[i] == keys[i-1] {
				out[i] = out[i-1]
				hits++
				runLen++
				continue
			}
			m.count(run, runLen)
			r := found[i]
			if r != nil {
				hits++
			} else {
				r = m.lookup(&ss[i], keys[i].id, keys[i].check)
			}
			run, runLen = r, 1
			out[i] = *r
			out[i].SeriesID = keys[i].id
		}
		m.count(run, runLen)
		ss, out = ss[n:], out[n:]
	}
	m.hits.Add(hits)
}

// count adds n samples to the rules r matched.
func (m *Matcher) count(r *Result, n int) {
	if r == nil {
		return
	}
	for _, rule := range r.Rules {
		m.counts[rule.ID].Add(uint64(n))
	}
}
