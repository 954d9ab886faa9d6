package storage

import (
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/index"
)

// tier is the data of one storage policy: its head series, its postings and
// its blocks, in a directory of its own. Series of two policies never mix:
// the same labels under 10s:2d and 1m:40d are two series.
type tier struct {
	name string // the policy, "10s:2d"
	pol  policy.Policy
	dir  string

	// Guarded by DB.mu for readers; changed only by a writer that also
	// holds DB.appendMu, so the writer reads them without DB.mu.
	byHash   map[uint64][]*memSeries
	byRef    map[uint64]*memSeries
	postings *index.MemPostings
	blocks   []*block.Block // sorted by MinTime, disjoint

	// Guarded by DB.appendMu.
	boundary  int64 // the head accepts points at or after it
	persisted int64 // every point before it is in a durable block
	headMin   int64 // no head point is older; MaxInt64 when the head is empty
	maxT      int64 // the newest point ever written, blocks included
}

// dirName is the directory of a policy's blocks: "10s:2d" is "10s_2d".
func dirName(policyName string) string { return strings.ReplaceAll(policyName, ":", "_") }

// policyOfDir is the inverse of dirName.
func policyOfDir(name string) (policy.Policy, error) {
	return policy.Parse(strings.ReplaceAll(name, "_", ":"))
}

func newTier(root string, p policy.Policy) *tier {
	name := p.String()
	return &tier{
		name: name, pol: p, dir: filepath.Join(root, dirName(name)),
		byHash: map[uint64][]*memSeries{}, byRef: map[uint64]*memSeries{},
		postings: index.NewMemPostings(),
		boundary: math.MinInt64, persisted: math.MinInt64,
		headMin: math.MaxInt64, maxT: math.MinInt64,
	}
}

// lookup returns the head series with labels ls and hash h, nil if none.
func (t *tier) lookup(ls labels.Labels, h uint64) *memSeries {
	for _, s := range t.byHash[h] {
		if labels.Equal(s.lset, ls) {
			return s
		}
	}
	return nil
}

// add indexes s; the caller holds DB.mu and DB.appendMu. Refs must grow.
func (t *tier) add(s *memSeries, h uint64) {
	t.byHash[h] = append(t.byHash[h], s)
	t.byRef[s.ref] = s
	t.postings.Add(s.ref, s.lset)
}

// removeEmpty drops the series left without chunks and rebuilds the
// postings if any went; the caller holds DB.mu and DB.appendMu.
func (t *tier) removeEmpty(empty []*memSeries) {
	if len(empty) == 0 {
		return
	}
	for _, s := range empty {
		delete(t.byRef, s.ref)
		h := s.lset.Hash()
		t.byHash[h] = slices.DeleteFunc(t.byHash[h], func(o *memSeries) bool { return o == s })
		if len(t.byHash[h]) == 0 {
			delete(t.byHash, h)
		}
	}
	refs := make([]uint64, 0, len(t.byRef))
	for ref := range t.byRef {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	t.postings = index.NewMemPostings()
	for _, ref := range refs {
		t.postings.Add(ref, t.byRef[ref].lset)
	}
}

// series returns the head series, in no order; the caller holds DB.mu or
// DB.appendMu.
func (t *tier) series() []*memSeries {
	out := make([]*memSeries, 0, len(t.byRef))
	for _, s := range t.byRef {
		out = append(out, s)
	}
	return out
}

// blocksEnd is the end of the newest block, MinInt64 if there is none.
func (t *tier) blocksEnd() int64 {
	if len(t.blocks) == 0 {
		return math.MinInt64
	}
	return t.blocks[len(t.blocks)-1].Meta.MaxTime
}
