package storage

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/block"
)

// Compact does the work that is due: it cuts every head that spans 1.5
// block durations into blocks, truncates the WAL of what the blocks hold,
// merges blocks into larger ones and deletes the blocks past their policy's
// retention. The background goroutine calls it as data arrives; with
// Options.NoBackground the caller does.
func (db *DB) Compact() error {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	// Rounds that cut each due head once, then truncate, merge and
	// expire: while a backlog keeps heads due, every policy and every kind
	// of work goes on.
	for {
		db.mu.RLock()
		closed := db.closed
		tiers := make([]*tier, 0, len(db.tiers))
		for _, t := range db.tiers {
			tiers = append(tiers, t)
		}
		db.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		slices.SortFunc(tiers, func(a, b *tier) int { return cmp.Compare(a.pol.Resolution, b.pol.Resolution) })
		var errs []error
		cut := false
		for _, t := range tiers {
			db.appendMu.Lock()
			mint, maxt, due := db.dueCut(t)
			db.appendMu.Unlock()
			if !due {
				continue
			}
			if err := db.cutHead(t, mint, maxt); err != nil {
				errs = append(errs, err)
				continue
			}
			cut = true
		}
		if err := db.truncateWAL(); err != nil {
			errs = append(errs, err)
		}
		for _, t := range tiers {
			if err := db.compactBlocks(t); err != nil {
				errs = append(errs, err)
			}
			if err := db.expire(t); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 || !cut {
			return errors.Join(errs...)
		}
	}
}

// dueCut returns the block range to cut from t's head, if its head spans
// 1.5 block durations; the caller holds appendMu.
func (db *DB) dueCut(t *tier) (mint, maxt int64, due bool) {
	if t.headMin == noTime {
		return 0, 0, false
	}
	mint = db.geo.blockOf(max(t.headMin, t.boundary)) * db.geo.blockMs
	if t.maxT-mint < db.geo.blockMs*3/2 {
		return 0, 0, false
	}
	return mint, mint + db.geo.blockMs, true
}

// blockName names a block by its range, so that names sort by time.
func blockName(mint, maxt int64) string {
	return fmt.Sprintf("%013d-%013d", mint, maxt)
}

// cutHead writes the head's points in [mint, maxt) as a block, then drops
// them from the head. From its start, the head refuses points before maxt.
func (db *DB) cutHead(t *tier, mint, maxt int64) error {
	db.appendMu.Lock()
	prevBoundary := t.boundary
	t.boundary = maxt
	series := t.series()
	// Segments from here on hold no point before maxt of this tier, so
	// once the block is durable every segment before can go.
	_, cutErr := db.wal.Cut()
	db.appendMu.Unlock()
	if cutErr != nil {
		db.opts.Logger.Warn("WAL cut before a block", "err", cutErr)
	}

	var out []block.Series
	var points int
	for _, s := range series {
		crs := s.takeBefore(maxt)
		if len(crs) == 0 {
			continue
		}
		bs := block.Series{Labels: s.lset, Chunks: make([]block.Chunk, len(crs))}
		for i, c := range crs {
			bs.Chunks[i] = block.Chunk{MinTime: c.minT, MaxTime: c.maxT, NumPoints: c.n, Bytes: c.b}
			points += c.n
		}
		out = append(out, bs)
	}
	var b *block.Block
	if len(out) > 0 {
		start := time.Now()
		name := blockName(mint, maxt)
		err := os.MkdirAll(t.dir, 0o755)
		if err == nil {
			err = block.Write(t.dir, name, block.Meta{MinTime: mint, MaxTime: maxt, Policy: t.name}, out)
		}
		if err == nil {
			b, err = block.Open(filepath.Join(t.dir, name))
		}
		if err != nil {
			db.appendMu.Lock()
			t.boundary = prevBoundary
			db.appendMu.Unlock()
			return fmt.Errorf("cut head of %s into a block: %w", t.name, err)
		}
		db.opts.Logger.Info("head cut into a block", "policy", t.name, "block", name,
			"series", len(out), "points", points, "took", time.Since(start))
	}

	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if b != nil {
		t.blocks = append(t.blocks, b)
	}
	t.persisted = maxt
	var empty []*memSeries
	headMin := int64(noTime)
	for _, s := range t.series() {
		if s.dropBefore(maxt) {
			empty = append(empty, s)
			continue
		}
		s.mu.Lock()
		headMin = min(headMin, s.chunks[0].minT)
		s.mu.Unlock()
	}
	t.removeEmpty(empty)
	t.headMin = headMin
	return nil
}

// truncateWAL deletes the WAL segments whose every point is in a durable
// block. The series of the head are logged again first, since the
// segments that defined them may go.
func (db *DB) truncateWAL() error {
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	if db.failed != nil {
		return nil
	}
	first, active, err := db.wal.Segments()
	if err != nil {
		return fmt.Errorf("truncate WAL: %w", err)
	}
	k := first
	for ; k < active; k++ {
		done := true
		for t, m := range db.segMax[k] {
			if m >= t.persisted {
				done = false
			}
		}
		if !done {
			break
		}
	}
	if k == first {
		return nil
	}
	if err := db.restateSeries(); err != nil {
		return err
	}
	if err := db.wal.Truncate(k); err != nil {
		return fmt.Errorf("truncate WAL: %w", err)
	}
	for seg := range db.segMax {
		if seg < k {
			delete(db.segMax, seg)
		}
	}
	return nil
}

// restateBatch bounds the series records logged in one batch.
const restateBatch = 8 << 20

// restateSeries logs a definition of every head series, with the current
// position; the caller holds appendMu.
func (db *DB) restateSeries() error {
	var defs []seriesDef
	size := 0
	flush := func() error {
		if len(defs) == 0 {
			return nil
		}
		rec := appendSeriesRecord(nil, defs)
		defs, size = defs[:0], 0
		if err := db.wal.Log(walBatch(rec, db.position)); err != nil {
			db.failed = err
			return fmt.Errorf("truncate WAL: log series: %w", err)
		}
		return nil
	}
	var all []seriesDef
	for _, t := range db.tiers {
		for _, s := range t.byRef {
			all = append(all, seriesDef{ref: s.ref, policy: t.name, lset: s.lset})
		}
	}
	slices.SortFunc(all, func(a, b seriesDef) int { return cmp.Compare(a.ref, b.ref) })
	for _, d := range all {
		defs = append(defs, d)
		size += 16 + len(d.policy) + int(d.lset.ByteSize())
		if size >= restateBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// levels returns the spans compaction merges blocks into for t: three
// times the one before, from three block durations up to the maximum.
func (db *DB) levels(t *tier) []int64 {
	maxSpan := db.opts.MaxBlockDuration
	if maxSpan == 0 {
		maxSpan = min(t.pol.Retention/10, maxCompactedDuration)
	}
	var out []int64
	for span := db.geo.blockMs * 3; span <= maxSpan.Milliseconds(); span *= 3 {
		out = append(out, span)
	}
	return out
}

// compactBlocks merges the blocks of t that fall in one range of a level,
// once no more data can come into that range.
func (db *DB) compactBlocks(t *tier) error {
	for _, span := range db.levels(t) {
		for {
			db.appendMu.Lock()
			persisted := t.persisted
			db.appendMu.Unlock()
			db.mu.RLock()
			group := slices.Clone(pickGroup(t.blocks, span, persisted))
			db.mu.RUnlock()
			if group == nil {
				break
			}
			if err := db.merge(t, group); err != nil {
				return err
			}
		}
	}
	return nil
}

// pickGroup returns the first run of two blocks or more that lie in one
// aligned range of span, complete (the head has moved past it).
func pickGroup(blocks []*block.Block, span, persisted int64) []*block.Block {
	for i := 0; i < len(blocks); {
		start := floorDiv(blocks[i].Meta.MinTime, span) * span
		end := start + span
		j := i
		for j < len(blocks) && blocks[j].Meta.MinTime >= start && blocks[j].Meta.MaxTime <= end {
			j++
		}
		if j-i >= 2 && end <= persisted {
			return blocks[i:j]
		}
		i = max(j, i+1)
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// merge writes the blocks of group as one, then removes them.
func (db *DB) merge(t *tier, group []*block.Block) error {
	start := time.Now()
	mint, maxt := group[0].Meta.MinTime, group[len(group)-1].Meta.MaxTime
	type entry struct {
		lset   labels.Labels
		chunks []block.Chunk
	}
	var all []*entry
	byHash := map[uint64][]*entry{}
	for _, b := range group {
		for ref := range uint64(b.Index.NumSeries()) {
			ls, metas, err := b.Series(ref)
			if err != nil {
				return fmt.Errorf("compact %s: %w", t.name, err)
			}
			h := ls.Hash()
			var e *entry
			for _, o := range byHash[h] {
				if labels.Equal(o.lset, ls) {
					e = o
				}
			}
			if e == nil {
				e = &entry{lset: ls}
				byHash[h] = append(byHash[h], e)
				all = append(all, e)
			}
			for _, m := range metas {
				cb, err := b.Chunk(m.Ref)
				if err != nil {
					return fmt.Errorf("compact %s: %w", t.name, err)
				}
				e.chunks = append(e.chunks, block.Chunk{MinTime: m.MinTime, MaxTime: m.MaxTime, NumPoints: m.NumPoints, Bytes: cb})
			}
		}
	}
	out := make([]block.Series, len(all))
	for i, e := range all {
		out[i] = block.Series{Labels: e.lset, Chunks: e.chunks}
	}
	name := blockName(mint, maxt)
	if err := block.Write(t.dir, name, block.Meta{MinTime: mint, MaxTime: maxt, Policy: t.name}, out); err != nil {
		return fmt.Errorf("compact %s: %w", t.name, err)
	}
	nb, err := block.Open(filepath.Join(t.dir, name))
	if err != nil {
		return fmt.Errorf("compact %s: %w", t.name, err)
	}
	db.mu.Lock()
	t.blocks = slices.DeleteFunc(t.blocks, func(b *block.Block) bool { return slices.Contains(group, b) })
	t.blocks = append(t.blocks, nb)
	slices.SortFunc(t.blocks, func(a, b *block.Block) int { return cmp.Compare(a.Meta.MinTime, b.Meta.MinTime) })
	db.mu.Unlock()
	// Readers that hold the old blocks keep their bytes (blocks are read
	// into memory), so the directories can go at once.
	var errs []error
	for _, b := range group {
		if err := removeBlock(b.Dir); err != nil {
			errs = append(errs, fmt.Errorf("compact %s: remove merged block: %w", t.name, err))
		}
	}
	db.opts.Logger.Info("blocks compacted", "policy", t.name, "block", name, "from", len(group), "took", time.Since(start))
	return errors.Join(errs...)
}

// expire deletes the blocks of t whose every point is older than the
// policy's retention, counted back from the newest point of the policy:
// replaying old data does not delete it at once.
func (db *DB) expire(t *tier) error {
	db.appendMu.Lock()
	newest := t.maxT
	db.appendMu.Unlock()
	if newest == math.MinInt64 {
		return nil
	}
	cutoff := newest - t.pol.Retention.Milliseconds()
	db.mu.Lock()
	var gone []*block.Block
	t.blocks = slices.DeleteFunc(t.blocks, func(b *block.Block) bool {
		if b.Meta.MaxTime <= cutoff {
			gone = append(gone, b)
			return true
		}
		return false
	})
	db.mu.Unlock()
	var errs []error
	for _, b := range gone {
		if err := removeBlock(b.Dir); err != nil {
			errs = append(errs, fmt.Errorf("expire block of %s: %w", t.name, err))
		}
		db.opts.Logger.Info("block expired", "policy", t.name, "block", filepath.Base(b.Dir))
	}
	return errors.Join(errs...)
}

// deletedSuffix marks a block directory being deleted: renamed first, so
// that a crash in the middle of the deletion leaves a directory Open knows
// to finish deleting, never a block with files missing.
const deletedSuffix = ".deleted"

func removeBlock(dir string) error {
	gone := dir + deletedSuffix
	if err := os.Rename(dir, gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}
