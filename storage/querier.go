package storage

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/index"
)

// PolicyLabel is a label name a selector may use to pick the storage policy
// to read, e.g. {__name__="x", __policy__="1m:40d"}. It never appears on the
// series returned.
const PolicyLabel = "__policy__"

var (
	_ promstorage.Queryable         = (*DB)(nil)
	_ promstorage.ExemplarQueryable = (*DB)(nil)
	_ promstorage.Querier           = (*querier)(nil)
)

// Querier returns a Prometheus querier of the points in [mint, maxt]. It
// implements storage.Queryable, so that the PromQL engine evaluates queries
// over the DB.
//
// A series stored under several policies is read from one: the finest whose
// retention reaches back to mint, or else the one kept longest, among those
// with points in the range. A PolicyLabel matcher narrows the choice.
//
// Each Select reads a consistent view of the head and the blocks: a block
// cut or compaction in between is seen whole or not at all.
func (db *DB) Querier(mint, maxt int64) (promstorage.Querier, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	return &querier{db: db, mint: mint, maxt: maxt}, nil
}

type querier struct {
	db         *DB
	mint, maxt int64
}

func (q *querier) Close() error { return nil }

// chunkSource is one chunk of a selected series: head bytes, or a block and
// the chunk's ref, read (and checked) when iterated.
type chunkSource struct {
	minT, maxT int64
	n          int
	b          []byte
	blk        *block.Block
	ref        uint64
}

func (c *chunkSource) bytes() ([]byte, error) {
	if c.blk == nil {
		return c.b, nil
	}
	return c.blk.Chunk(c.ref)
}

// selected is one series that find returns, in one tier.
type selected struct {
	lset   labels.Labels
	tier   *tier
	chunks []chunkSource
}

// find gathers the series matching ms with chunks in [mint, maxt], one
// per label set (see Querier for which policy wins).
func (db *DB) find(mint, maxt int64, withChunks bool, ms []*labels.Matcher) ([]*selected, error) {
	var pms, rest []*labels.Matcher
	for _, m := range ms {
		if m.Name == PolicyLabel {
			pms = append(pms, m)
		} else {
			rest = append(rest, m)
		}
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	byHash := map[uint64][]*selected{}
	var out []*selected
	pick := func(t *tier, ls labels.Labels, h uint64) *selected {
		cands := byHash[h]
		for _, c := range cands {
			if labels.Equal(c.lset, ls) {
				if c.tier == t {
					return c
				}
				if !db.prefer(t, c.tier, mint) {
					return nil
				}
				c.tier, c.chunks = t, c.chunks[:0]
				return c
			}
		}
		c := &selected{lset: ls, tier: t}
		byHash[h] = append(cands, c)
		out = append(out, c)
		return c
	}
	for _, t := range db.tiers {
		if !matchesAll(pms, t.name) {
			continue
		}
		for _, b := range t.blocks {
			if b.Meta.MaxTime <= mint || b.Meta.MinTime > maxt {
				continue
			}
			refs, err := index.Select(b.Index, rest...)
			if err != nil {
				return nil, fmt.Errorf("select in block %s: %w", b.Dir, err)
			}
			for _, ref := range refs {
				ls, metas, err := b.Series(ref)
				if err != nil {
					return nil, fmt.Errorf("select in block %s: %w", b.Dir, err)
				}
				var cs []chunkSource
				for _, m := range metas {
					if m.MaxTime >= mint && m.MinTime <= maxt {
						cs = append(cs, chunkSource{minT: m.MinTime, maxT: m.MaxTime, n: m.NumPoints, blk: b, ref: m.Ref})
					}
				}
				if len(cs) == 0 {
					continue
				}
				if c := pick(t, ls, ls.Hash()); c != nil && withChunks {
					c.chunks = append(c.chunks, cs...)
				}
			}
		}
		refs, err := index.Select(t.postings, rest...)
		if err != nil {
			return nil, fmt.Errorf("select in the head: %w", err)
		}
		var crs []chunkRef
		for _, ref := range refs {
			s := t.byRef[ref]
			crs = s.read(mint, maxt, crs[:0])
			if len(crs) == 0 {
				continue
			}
			c := pick(t, s.lset, s.lset.Hash())
			if c == nil || !withChunks {
				continue
			}
			for _, cr := range crs {
				c.chunks = append(c.chunks, chunkSource{minT: cr.minT, maxT: cr.maxT, n: cr.n, b: cr.b})
			}
		}
	}
	slices.SortFunc(out, func(a, b *selected) int { return labels.Compare(a.lset, b.lset) })
	return out, nil
}

// prefer reports whether tier a is to be read rather than b for a query
// starting at mint; the caller holds mu.
func (db *DB) prefer(a, b *tier, mint int64) bool {
	covers := func(t *tier) bool {
		return t.maxT == math.MinInt64 || t.maxT-t.pol.Retention.Milliseconds() <= mint
	}
	ca, cb := covers(a), covers(b)
	switch {
	case ca && cb:
		return a.pol.Resolution < b.pol.Resolution
	case ca != cb:
		return ca
	}
	return a.pol.Retention > b.pol.Retention
}

func matchesAll(ms []*labels.Matcher, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// Select implements storage.Querier. Series come sorted by labels whether
// asked or not.
func (q *querier) Select(ctx context.Context, _ bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	if err := ctx.Err(); err != nil {
		return promstorage.ErrSeriesSet(err)
	}
	sel, err := q.db.find(mint, maxt, true, ms)
	if err != nil {
		return promstorage.ErrSeriesSet(err)
	}
	return &seriesSet{sel: sel, mint: mint, maxt: maxt, i: -1}
}

// LabelValues implements storage.LabelQuerier: the values of name on the
// series with points in the range that match ms.
func (q *querier) LabelValues(ctx context.Context, name string, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	sel, err := q.db.find(q.mint, q.maxt, false, ms)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]struct{}{}
	for _, s := range sel {
		if v := s.lset.Get(name); v != "" {
			seen[v] = struct{}{}
		}
	}
	return sortedKeys(seen, hints), nil, nil
}

// LabelNames implements storage.LabelQuerier.
func (q *querier) LabelNames(ctx context.Context, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	sel, err := q.db.find(q.mint, q.maxt, false, ms)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]struct{}{}
	for _, s := range sel {
		s.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	}
	return sortedKeys(seen, hints), nil, nil
}

func sortedKeys(m map[string]struct{}, hints *promstorage.LabelHints) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}
