package storage

import (
	"math"
	"slices"
	"strings"
)

// PolicyStats describes the data of one storage policy.
type PolicyStats struct {
	Policy string

	HeadSeries int
	HeadChunks int
	HeadPoints int
	HeadBytes  int64 // encoded chunk bytes

	Blocks      int
	BlockSeries int // summed over blocks: a series in two blocks counts twice
	BlockPoints int
	BlockBytes  int64 // chunk files
	IndexBytes  int64

	MinTime, MaxTime int64 // of the data, blocks and head; 0 when empty
}

// Stats returns the size of each policy's head and blocks, by policy.
func (db *DB) Stats() []PolicyStats {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]PolicyStats, 0, len(db.tiers))
	for _, t := range db.tiers {
		ps := PolicyStats{Policy: t.name, HeadSeries: len(t.byRef), Blocks: len(t.blocks)}
		mint, maxt := int64(math.MaxInt64), int64(math.MinInt64)
		for _, s := range t.byRef {
			s.mu.Lock()
			for _, c := range s.chunks {
				ps.HeadChunks++
				ps.HeadPoints += c.n
				ps.HeadBytes += int64(len(c.bytes()))
				mint, maxt = min(mint, c.minT), max(maxt, c.maxT)
			}
			s.mu.Unlock()
		}
		for _, b := range t.blocks {
			ps.BlockSeries += b.Meta.NumSeries
			ps.BlockPoints += b.Meta.NumPoints
			ps.BlockBytes += b.Meta.ChunkBytes
			ps.IndexBytes += b.Meta.IndexBytes
			mint, maxt = min(mint, b.Meta.MinTime), max(maxt, b.Meta.MaxTime-1)
		}
		if mint <= maxt {
			ps.MinTime, ps.MaxTime = mint, maxt
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b PolicyStats) int { return strings.Compare(a.Policy, b.Policy) })
	return out
}

// Counts returns what Append did since Open.
func (db *DB) Counts() AppendStats {
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	return db.counts
}
