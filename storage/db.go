package storage

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
	"github.com/tumblemetrics/tumble/storage/wal"
)

// Point is one point to store: a series (its labels and storage policy),
// a timestamp in milliseconds, a value and an optional exemplar.
type Point struct {
	Labels   labels.Labels
	Policy   policy.Policy
	T        int64
	V        float64
	Exemplar *chunkenc.Exemplar
}

// AppendStats is what an Append did with the points of its batch.
type AppendStats struct {
	Appended    int // new points
	Duplicates  int // points already stored, bit for bit: no-ops
	Overwritten int // points that replaced a different one at their timestamp
	Refused     int // points older than the head (see TooOldError)
}

// DB is the storage engine: a head of recent points in memory, made durable
// by a write-ahead log, and immutable blocks on disk, per storage policy.
//
// Append is called by one writer at a time (the flush goroutine); reads
// (Querier, ExemplarQuerier, Blocks, Stats) are safe from any goroutine, at
// the same time as Append and the background work. Close is safe twice.
type DB struct {
	dir     string
	opts    Options
	geo     geometry
	lock    *os.File
	wal     *wal.WAL
	startup StartupStats

	// appendMu serializes the writers of the head and the log: Append,
	// the head cut's boundary moves and the WAL's truncation.
	appendMu sync.Mutex
	nextRef  uint64
	position []byte
	failed   error
	segMax   map[int]map[*tier]int64 // newest point per WAL segment and tier
	counts   AppendStats             // since Open
	buf      []byte
	pts      []resolved

	// mu guards tiers and what tier documents it guards, for readers.
	mu     sync.RWMutex
	tiers  map[policy.Policy]*tier
	closed bool

	compactMu sync.Mutex // one Compact at a time
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

// resolved is a point of a batch with its series found.
type resolved struct {
	tier *tier
	s    *memSeries
	p    point
}

const (
	walDir   = "wal"
	lockFile = "LOCK"
)

// Open opens the DB in dir, creating it if needed: it loads the blocks,
// replays the WAL into the head and reports what it found in Startup. A block
// that fails its checks is renamed aside (NAME.corrupt) and the DB starts
// with the rest; so does the WAL, cut at a corruption (see wal.Open).
func Open(dir string, opts Options) (*DB, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	o := opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := &DB{
		dir: dir, opts: o, lock: lock,
		geo:    geometry{blockMs: o.BlockDuration.Milliseconds(), chunkPoints: o.ChunkPoints},
		tiers:  map[policy.Policy]*tier{},
		segMax: map[int]map[*tier]int64{},
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	start := time.Now()
	if err := db.loadBlocks(); err != nil {
		lock.Close()
		return nil, err
	}
	db.wal, err = wal.Open(filepath.Join(dir, walDir), wal.Options{SegmentSize: o.WALSegmentSize, NoSync: o.NoSync})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	if err := db.replay(); err != nil {
		db.wal.Close()
		lock.Close()
		return nil, err
	}
	db.startup.Duration = time.Since(start)
	o.Logger.Info("storage opened", "dir", dir, "startup", db.startup.String())
	if o.NoBackground {
		close(db.done)
	} else {
		go db.run()
	}
	return db, nil
}

// lockDir takes an exclusive lock on dir, so that two processes never open
// the same DB.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("open storage %s: locked by another process: %w", dir, err)
	}
	return f, nil
}

// Startup returns what Open loaded, replayed and discarded.
func (db *DB) Startup() StartupStats { return db.startup }

// Dir returns the DB's directory.
func (db *DB) Dir() string { return db.dir }

// Position returns the source position of the last batch appended (or
// replayed at Open): every point of every batch up to it is stored. Nil if
// none was given.
func (db *DB) Position() []byte {
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	return slices.Clone(db.position)
}

// tierFor returns the tier of p, creating it; the caller holds appendMu.
func (db *DB) tierFor(p policy.Policy) *tier {
	if t := db.tiers[p]; t != nil {
		return t
	}
	t := newTier(db.dir, p)
	db.mu.Lock()
	db.tiers[p] = t
	db.mu.Unlock()
	return t
}

// newSeries creates a head series; the caller holds appendMu.
func (db *DB) newSeries(t *tier, ref uint64, ls labels.Labels, h uint64) *memSeries {
	s := &memSeries{ref: ref, lset: ls}
	db.mu.Lock()
	t.add(s, h)
	db.mu.Unlock()
	if ref >= db.nextRef {
		db.nextRef = ref + 1
	}
	return s
}

// Append stores a batch of points durably, with the source position they
// bring the storage to: when it returns nil, the batch and the position
// survive a crash together, and Position returns pos.
//
// Points may come in any order. A point at a timestamp its series already
// has is a no-op if it is the same (value and exemplar, bit for bit);
// otherwise the newer replaces the older and is counted as Overwritten.
// A point older than the head of its policy (its time range is already in
// an immutable block) is refused: the rest of the batch is stored and the
// error is a *TooOldError. Any other error stores nothing.
func (db *DB) Append(points []Point, pos []byte) (AppendStats, error) {
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	var st AppendStats
	if db.closed {
		return st, ErrClosed
	}
	if db.failed != nil {
		return st, fmt.Errorf("append: %w (%w)", ErrFailed, db.failed)
	}
	for i := range points {
		if err := validPoint(&points[i]); err != nil {
			return st, fmt.Errorf("append: point %d: %w", i, err)
		}
	}
	var tooOld *TooOldError
	var defs []seriesDef
	wps := make([]walPoint, 0, len(points))
	db.pts = db.pts[:0]
	for i := range points {
		p := &points[i]
		t := db.tierFor(p.Policy)
		if p.T < t.boundary {
			if tooOld == nil {
				tooOld = &TooOldError{Labels: p.Labels, Policy: t.name, T: p.T, MinT: t.boundary}
			}
			tooOld.Refused++
			continue
		}
		h := p.Labels.Hash()
		s := t.lookup(p.Labels, h)
		if s == nil {
			s = db.newSeries(t, db.nextRef, p.Labels, h)
			defs = append(defs, seriesDef{ref: s.ref, policy: t.name, lset: s.lset})
		}
		r := resolved{tier: t, s: s, p: point{t: p.T, v: p.V}}
		if p.Exemplar != nil {
			r.p.hasEx, r.p.ex = true, *p.Exemplar
		}
		db.pts = append(db.pts, r)
		wps = append(wps, walPoint{ref: s.ref, t: p.T, v: p.V, hasEx: r.p.hasEx, ex: r.p.ex})
	}
	recs := make([][]byte, 0, 2)
	db.buf = db.buf[:0]
	if len(defs) > 0 {
		db.buf = appendSeriesRecord(db.buf, defs)
		recs = append(recs, db.buf)
	}
	if len(wps) > 0 {
		start := len(db.buf)
		db.buf = appendPointsRecord(db.buf, wps)
		recs = append(recs, db.buf[start:])
	}
	if err := db.wal.Log(wal.Batch{Records: recs, Position: pos}); err != nil {
		db.failed = err
		return st, fmt.Errorf("append: log batch: %w", err)
	}
	_, seg, _ := db.wal.Segments()
	if err := db.apply(seg, db.pts, &st); err != nil {
		db.failed = err
		return st, fmt.Errorf("append: %w", err)
	}
	db.position = nil
	if len(pos) > 0 {
		db.position = slices.Clone(pos)
	}
	if tooOld != nil {
		st.Refused = tooOld.Refused
		db.counts.Refused += st.Refused
		db.maybeKick()
		return st, tooOld
	}
	db.maybeKick()
	return st, nil
}

// apply adds logged points to the head; the caller holds appendMu.
func (db *DB) apply(seg int, pts []resolved, st *AppendStats) error {
	sm := db.segMax[seg]
	if sm == nil {
		sm = map[*tier]int64{}
		db.segMax[seg] = sm
	}
	for i := range pts {
		r := &pts[i]
		out, err := r.s.append(&r.p, db.geo)
		if err != nil {
			return fmt.Errorf("add point of %s at %d to the head: %w", r.s.lset, r.p.t, err)
		}
		switch out {
		case added:
			st.Appended++
		case duplicate:
			st.Duplicates++
		case overwritten:
			st.Overwritten++
		}
		t := r.tier
		t.headMin = min(t.headMin, r.p.t)
		t.maxT = max(t.maxT, r.p.t)
		if m, ok := sm[t]; !ok || r.p.t > m {
			sm[t] = r.p.t
		}
	}
	db.counts.Appended += st.Appended
	db.counts.Duplicates += st.Duplicates
	db.counts.Overwritten += st.Overwritten
	return nil
}

func validPoint(p *Point) error {
	if p.Labels.IsEmpty() {
		return errors.New("no labels")
	}
	if err := p.Policy.Validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if p.T == math.MinInt64 || p.T == math.MaxInt64 {
		return fmt.Errorf("timestamp %d out of range", p.T)
	}
	return nil
}

// maybeKick wakes the background work if a head is due for a cut; the
// caller holds appendMu.
func (db *DB) maybeKick() {
	for _, t := range db.tiers {
		if _, _, due := db.dueCut(t); due {
			select {
			case db.kick <- struct{}{}:
			default:
			}
			return
		}
	}
}

// run is the background goroutine: it cuts, compacts and expires blocks
// when Append says a head is due, and every minute for retention.
func (db *DB) run() {
	defer close(db.done)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-db.kick:
		case <-tick.C:
		}
		if err := db.Compact(); err != nil && !errors.Is(err, ErrClosed) {
			db.opts.Logger.Error("storage compaction", "err", err)
		}
	}
}

// Close stops the background work, syncs and closes the WAL and releases the
// directory. The head is not cut: the next Open replays it from the WAL.
func (db *DB) Close() error {
	db.appendMu.Lock()
	if db.closed {
		db.appendMu.Unlock()
		return nil
	}
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	db.appendMu.Unlock()
	if !db.opts.NoBackground {
		close(db.stop)
	}
	<-db.done
	db.compactMu.Lock() // wait for a Compact called by the user
	defer db.compactMu.Unlock()
	err := db.wal.Close()
	if lerr := db.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// BlockInfo describes a block of the DB.
type BlockInfo struct {
	Dir string
	block.Meta
}

// Blocks returns the DB's blocks, by policy and time.
func (db *DB) Blocks() []BlockInfo {
	db.mu.RLock()
	defer db.mu.RUnlock()
	var out []BlockInfo
	for _, t := range db.tiers {
		for _, b := range t.blocks {
			out = append(out, BlockInfo{Dir: b.Dir, Meta: b.Meta})
		}
	}
	slices.SortFunc(out, func(a, b BlockInfo) int {
		if a.Policy != b.Policy {
			return strings.Compare(a.Policy, b.Policy)
		}
		return cmp.Compare(a.MinTime, b.MinTime)
	})
	return out
}
