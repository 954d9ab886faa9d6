package storage

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/wal"
)

// StartupStats is what Open loaded, replayed, repaired and discarded.
type StartupStats struct {
	Blocks int // blocks loaded
	// SetAside are the blocks that failed their checks, renamed to
	// NAME.corrupt, with the reason.
	SetAside []SetAside
	// Superseded counts blocks removed because a compacted block covering
	// them was already written (a compaction interrupted by a crash).
	Superseded int

	WAL wal.ReplayStats // batches replayed and bytes discarded, corruption
	// Quarantined are the WAL files set aside at a corruption.
	Quarantined []string

	Series          int // head series after replay
	PointsReplayed  int // points put back into the head
	PointsInBlocks  int // logged points skipped: their range is in a block
	MalformedBatchs int // batches with a record that does not decode (skipped whole)

	Position []byte // the source position the DB resumes after
	Duration time.Duration
}

// SetAside is a block that failed its checks at Open.
type SetAside struct {
	Path string
	Err  error
}

// String is the one-line summary Open logs.
func (s StartupStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d blocks, WAL %d segments %d batches: %d points replayed, %d already in blocks; %d head series",
		s.Blocks, s.WAL.Segments, s.WAL.Batches, s.PointsReplayed, s.PointsInBlocks, s.Series)
	if s.WAL.DiscardedBytes > 0 {
		fmt.Fprintf(&b, "; discarded %d WAL bytes (a write cut short or a corruption)", s.WAL.DiscardedBytes)
	}
	if s.WAL.Corruption != nil {
		fmt.Fprintf(&b, "; WAL corruption: %v", s.WAL.Corruption)
	}
	for _, a := range s.SetAside {
		fmt.Fprintf(&b, "; block set aside: %v", a.Err)
	}
	if s.Superseded > 0 {
		fmt.Fprintf(&b, "; %d compacted-away blocks removed", s.Superseded)
	}
	if s.MalformedBatchs > 0 {
		fmt.Fprintf(&b, "; %d malformed WAL batches skipped", s.MalformedBatchs)
	}
	fmt.Fprintf(&b, "; position %x; %s", s.Position, s.Duration.Round(time.Millisecond))
	return b.String()
}

// loadBlocks opens the blocks of every policy directory.
func (db *DB) loadBlocks() error {
	ents, err := os.ReadDir(db.dir)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == walDir {
			continue
		}
		p, err := policyOfDir(e.Name())
		if err != nil {
			continue // not ours
		}
		t := db.tierFor(p)
		if err := db.loadTier(t); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) loadTier(t *tier) error {
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	var blocks []*block.Block
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(t.dir, name)
		switch {
		case !e.IsDir(), strings.HasSuffix(name, ".corrupt"):
			continue
		case strings.HasSuffix(name, ".tmp"), strings.HasSuffix(name, deletedSuffix):
			// A write or a deletion a crash interrupted.
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("open storage: remove unfinished block: %w", err)
			}
			continue
		}
		b, err := block.Open(path)
		if err == nil && b.Meta.Policy != t.name {
			err = fmt.Errorf("block %s: policy %s in the directory of %s", path, b.Meta.Policy, t.name)
		}
		if err != nil {
			if rerr := os.Rename(path, path+".corrupt"); rerr != nil {
				return fmt.Errorf("open storage: set aside %s: %w", path, rerr)
			}
			db.startup.SetAside = append(db.startup.SetAside, SetAside{Path: path, Err: err})
			db.opts.Logger.Error("block set aside", "path", path+".corrupt", "err", err)
			continue
		}
		blocks = append(blocks, b)
	}
	// A compaction writes its block before it removes its sources: a crash
	// between the two leaves blocks inside another; the larger one wins.
	slices.SortFunc(blocks, func(a, b *block.Block) int {
		if a.Meta.MinTime != b.Meta.MinTime {
			return cmp.Compare(a.Meta.MinTime, b.Meta.MinTime)
		}
		return cmp.Compare(b.Meta.MaxTime, a.Meta.MaxTime) // longer first
	})
	var kept []*block.Block
	for _, b := range blocks {
		if n := len(kept); n > 0 && b.Meta.MinTime < kept[n-1].Meta.MaxTime {
			prev := kept[n-1]
			if b.Meta.MaxTime <= prev.Meta.MaxTime {
				if err := removeBlock(b.Dir); err != nil {
					return fmt.Errorf("open storage: remove superseded block: %w", err)
				}
				db.startup.Superseded++
				continue
			}
			err := fmt.Errorf("block %s [%d, %d) overlaps %s [%d, %d)", b.Dir, b.Meta.MinTime, b.Meta.MaxTime, prev.Dir, prev.Meta.MinTime, prev.Meta.MaxTime)
			if rerr := os.Rename(b.Dir, b.Dir+".corrupt"); rerr != nil {
				return fmt.Errorf("open storage: set aside %s: %w", b.Dir, rerr)
			}
			db.startup.SetAside = append(db.startup.SetAside, SetAside{Path: b.Dir, Err: err})
			continue
		}
		kept = append(kept, b)
	}
	t.blocks = kept
	db.startup.Blocks += len(kept)
	t.boundary = t.blocksEnd()
	t.persisted = t.boundary
	if n := len(kept); n > 0 {
		t.maxT = kept[n-1].Meta.MaxTime - 1
	}
	return nil
}

// replay puts the WAL's points back into the head. It reads the log twice:
// first the series definitions, then the points. A series defined again
// before a truncation is defined after points that use it (in segments
// kept), so every definition must be known before the first point.
func (db *DB) replay() error {
	refs, tierOf, err := db.replaySeries()
	if err != nil {
		return err
	}
	var wps []walPoint
	var pts []resolved
	st, err := db.wal.Replay(func(seg int, b wal.Batch) error {
		// Decode the whole batch first: a batch is applied whole or not
		// at all.
		wps = wps[:0]
		for _, rec := range b.Records {
			var err error
			switch {
			case len(rec) == 0:
				err = fmt.Errorf("%w: empty", errRecord)
			case rec[0] == recSeries:
				_, err = decodeSeriesRecord(rec)
			case rec[0] == recPoints:
				wps, err = decodePointsRecord(wps, rec)
			default:
				err = fmt.Errorf("%w: unknown type %d", errRecord, rec[0])
			}
			if err != nil {
				db.startup.MalformedBatchs++
				db.opts.Logger.Error("malformed WAL batch skipped", "segment", seg, "err", err)
				return nil
			}
		}
		pts = pts[:0]
		for _, wp := range wps {
			db.nextRef = max(db.nextRef, wp.ref+1)
			s := refs[wp.ref]
			if s == nil {
				// Its definition was truncated away, which happens only
				// to series that had left the head: their points are in
				// blocks.
				db.startup.PointsInBlocks++
				continue
			}
			t := tierOf[s]
			if wp.t < t.boundary {
				db.startup.PointsInBlocks++
				continue
			}
			pts = append(pts, resolved{tier: t, s: s, p: point{t: wp.t, v: wp.v, hasEx: wp.hasEx, ex: wp.ex}})
		}
		var ast AppendStats
		if err := db.apply(seg, pts, &ast); err != nil {
			return err
		}
		db.startup.PointsReplayed += len(pts)
		return nil
	})
	db.counts = AppendStats{}
	if err != nil {
		return fmt.Errorf("open storage %s: replay WAL: %w", db.dir, err)
	}
	db.startup.WAL = st
	db.startup.Quarantined = db.wal.OpenStats().Quarantined
	db.position = st.LastPosition
	db.startup.Position = st.LastPosition
	for _, t := range db.tiers {
		db.startup.Series += len(t.byRef)
	}
	return nil
}

// replaySeries reads the series definitions of the WAL and creates their
// head series, in the order of their refs (the postings need it).
func (db *DB) replaySeries() (map[uint64]*memSeries, map[*memSeries]*tier, error) {
	defs := map[uint64]seriesDef{}
	_, err := db.wal.Replay(func(_ int, b wal.Batch) error {
		for _, rec := range b.Records {
			if len(rec) == 0 || rec[0] != recSeries {
				continue
			}
			ds, err := decodeSeriesRecord(rec)
			if err != nil {
				return nil // the second pass reports the batch
			}
			for _, d := range ds {
				if _, ok := defs[d.ref]; !ok {
					defs[d.ref] = d
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open storage %s: replay WAL series: %w", db.dir, err)
	}
	order := make([]uint64, 0, len(defs))
	for ref := range defs {
		order = append(order, ref)
	}
	slices.Sort(order)
	refs := make(map[uint64]*memSeries, len(defs))
	tierOf := make(map[*memSeries]*tier, len(defs))
	for _, ref := range order {
		d := defs[ref]
		p, err := policy.Parse(d.policy)
		if err != nil {
			db.opts.Logger.Error("WAL series with a bad policy skipped", "ref", ref, "series", d.lset, "err", err)
			continue
		}
		t := db.tierFor(p)
		h := d.lset.Hash()
		s := t.lookup(d.lset, h)
		if s == nil {
			s = db.newSeries(t, ref, d.lset, h)
		}
		refs[ref], tierOf[s] = s, t
	}
	return refs, tierOf, nil
}

// noTime is the headMin of an empty head.
const noTime = math.MaxInt64
