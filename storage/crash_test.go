package storage

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// The crash test: TestCrash starts itself as a child process that appends
// batches to a DB until it is killed, kills it with SIGKILL at random
// moments, and checks the DB after every kill.
const (
	crashDirEnv   = "TUMBLE_STORAGE_CRASH_DIR"   // set: this process is the child, writing there
	crashSeedEnv  = "TUMBLE_STORAGE_CRASH_SEED"  // overrides crashSeed, to replay a failure
	crashKillsEnv = "TUMBLE_STORAGE_CRASH_KILLS" // overrides the number of kills

	crashSeed      = 20261123
	crashKills     = 40 // at most
	crashMinKills  = 25 // at least, even past crashBudget
	crashBudget    = 30 * time.Second
	crashChildLife = 60 * time.Second // a child never outlives it

	crashBlock   = 10 * time.Minute
	crashSegment = 64 << 10

	// Batch k is at data time crashBase + k*crashStep: 15s per batch, so
	// that a head is cut every forty batches, blocks are merged every 120,
	// and the 1m:1h policy expires blocks after 240. (Data time much faster
	// than this outruns the background work, which then cuts one policy
	// after another and truncates the WAL only once it has caught up.)
	crashBase = 1_767_225_600_000 // 2026-01-01T00:00:00Z
	crashStep = int64(15 * time.Second / time.Millisecond)

	crashMain   = 50  // series in every batch
	crashDual   = 6   // main series also stored under a second policy
	crashLate   = 4   // series whose points come out of order
	crashSparse = 8   // series in one stretch of crashSparseRun batches out of three
	crashWide   = 200 // series in one batch out of crashWideEvery
	// crashBurst series get crashBurstPoints points each, with exemplars,
	// in one batch out of crashBurstEvery: a batch larger than the WAL's
	// write buffer and its segments, written in several writes that a kill
	// may tear.
	crashBurst       = 300
	crashBurstPoints = 8
	crashBurstEvery  = 50
	// crashSparseRun batches span a block: a sparse series leaves the head
	// while it is away, for two, and comes back with a new definition.
	crashSparseRun = 40
	crashWideEvery = 16
	// crashResendEvery: batch k with k%crashResendEvery == 3 also carries
	// the points of batch k-2 again, duplicates of what is stored.
	crashResendEvery = 7
)

var crashPolicies = []policy.Policy{
	{Resolution: 10 * time.Second, Retention: 48 * time.Hour},
	{Resolution: time.Minute, Retention: 40 * 24 * time.Hour},
	{Resolution: time.Minute, Retention: time.Hour},
}

// crashSeries is a series of the crash workload under one policy.
type crashSeries struct {
	id      uint64 // its index in crashTable, mixed into its values
	ls      labels.Labels
	pol     policy.Policy
	polName string
	key     string // policy and labels, as the checker finds them
}

func crashKey(pol string, ls labels.Labels) string { return pol + ls.String() }

// crashTable is every series of the workload: main, dual, late, sparse,
// wide, burst, in that order.
var crashTable = sync.OnceValue(func() []*crashSeries {
	var out []*crashSeries
	add := func(kind string, n int, pol policy.Policy) {
		ls := labels.FromStrings("__name__", "crash_"+kind, "group", strconv.Itoa(n%5), "series", strconv.Itoa(n))
		out = append(out, &crashSeries{id: uint64(len(out)), ls: ls, pol: pol, polName: pol.String(), key: crashKey(pol.String(), ls)})
	}
	for i := range crashMain {
		add("main", i, crashPolicies[i%len(crashPolicies)])
	}
	for i := range crashDual {
		add("main", i, crashPolicies[(i+1)%len(crashPolicies)])
	}
	for j := range crashLate {
		add("late", j, crashPolicies[j%len(crashPolicies)])
	}
	for j := range crashSparse {
		add("sparse", j, crashPolicies[j%len(crashPolicies)])
	}
	for w := range crashWide {
		add("wide", w, crashPolicies[w%len(crashPolicies)])
	}
	for b := range crashBurst {
		add("burst", b, crashPolicies[b%len(crashPolicies)])
	}
	return out
})

// crashPoint is a point of the workload, of batch k.
type crashPoint struct {
	k  uint64
	s  *crashSeries
	t  int64
	v  float64
	ex *chunkenc.Exemplar
}

// crashHash mixes a and b (splitmix64's finalizer).
func crashHash(a, b uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 ^ (b + 0x632be59bd9b4e019)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func crashTime(k uint64) int64 { return crashBase + int64(k)*crashStep }

func crashPos(k uint64) []byte { return binary.BigEndian.AppendUint64(nil, k) }

// crashOwn appends to dst the points batch k brings (not the ones it
// re-sends): a point of every main and dual series at the batch's time,
// one of every late series up to two batches back, and the sparse, wide
// and burst series when it is their turn. Every point has a timestamp of its
// own in its series, so that the checker can tell which batch it is from.
func crashOwn(dst []crashPoint, k uint64) []crashPoint {
	tab := crashTable()
	ts := crashTime(k)
	value := func(s *crashSeries) float64 {
		h := crashHash(k, s.id)
		if s.id%2 == 0 {
			return float64(k*(s.id+1)) + 0.5 // a counter
		}
		return float64(h>>11) / (1 << 20) // a gauge of any shape
	}
	// The exemplar of a point at pt, up to span before it.
	exemplar := func(s *crashSeries, pt int64, v float64, span int64) *chunkenc.Exemplar {
		h := crashHash(uint64(pt), s.id+1<<32)
		ex := &chunkenc.Exemplar{Value: v * 2, TimestampMs: pt - 1 - int64(h%uint64(span-1))}
		binary.LittleEndian.PutUint64(ex.TraceID[:], h)
		binary.LittleEndian.PutUint64(ex.TraceID[8:], crashHash(h, k))
		return ex
	}
	i := 0
	for ; i < crashMain+crashDual; i++ {
		s := tab[i]
		p := crashPoint{k: k, s: s, t: ts, v: value(s)}
		if i < crashMain && i%4 == 0 {
			p.ex = exemplar(s, ts, p.v, crashStep)
		}
		dst = append(dst, p)
	}
	for ; i < crashMain+crashDual+crashLate; i++ {
		s := tab[i]
		// Up to two batches back, a minute with the batch re-sent two
		// batches later: the head accepts five. Batches less than 32 apart
		// never share a timestamp.
		back := int64(crashHash(k, s.id) % 3)
		dst = append(dst, crashPoint{k: k, s: s, t: ts - back*crashStep + 1 + int64(k%32), v: value(s)})
	}
	for j := range crashSparse {
		s := tab[i+j]
		if (k/crashSparseRun+uint64(j))%3 == 0 {
			dst = append(dst, crashPoint{k: k, s: s, t: ts, v: value(s)})
		}
	}
	i += crashSparse
	if k%crashWideEvery == 0 {
		for _, s := range tab[i : i+crashWide] {
			dst = append(dst, crashPoint{k: k, s: s, t: ts, v: value(s)})
		}
	}
	i += crashWide
	if k%crashBurstEvery == crashBurstEvery/2 {
		for _, s := range tab[i : i+crashBurst] {
			v := value(s)
			for j := range int64(crashBurstPoints) {
				pt := ts - j*1000
				dst = append(dst, crashPoint{k: k, s: s, t: pt, v: v + float64(j), ex: exemplar(s, pt, v, 1000)})
			}
		}
	}
	return dst
}

// crashBatch returns batch k as the child appends it: its own points,
// sometimes the points of batch k-2 again, in an order that depends on k.
func crashBatch(k uint64) []Point {
	cps := crashOwn(nil, k)
	if k%crashResendEvery == 3 && k > 2 {
		cps = crashOwn(cps, k-2)
	}
	if k%2 == 1 {
		slices.Reverse(cps)
	}
	out := make([]Point, len(cps))
	for i, p := range cps {
		out[i] = Point{Labels: p.s.ls, Policy: p.s.pol, T: p.t, V: p.v, Exemplar: p.ex}
	}
	return out
}

func crashOptions(logger *slog.Logger, noBackground bool) Options {
	return Options{BlockDuration: crashBlock, WALSegmentSize: crashSegment, NoBackground: noBackground, Logger: logger}
}

// crashMoment is when the parent kills a child.
type crashMoment int

const (
	// killWriting: 0 to 100ms after the child is ready, at any point of
	// an Append or between two.
	killWriting crashMoment = iota
	// killBackground: 0 to 5ms after the child logs a block cut or merge,
	// when the background work goes on to the next cut, the WAL's
	// truncation, a merge or the removal of merged blocks.
	killBackground
	// killLargeBatch: 0 to 20ms after the child starts a burst batch, which
	// takes about that long: while it is encoded, written in several
	// writes, synced, or put into the head.
	killLargeBatch
	// killOpen: 0 to 40ms after the child starts, in Open: loading blocks,
	// repairing and replaying the WAL.
	killOpen
)

var crashMoments = [...]crashMoment{killWriting, killBackground, killWriting, killLargeBatch, killOpen}

func (m crashMoment) String() string {
	return [...]string{"while writing", "in background work", "in a large batch", "in Open"}[m]
}

// crashRound is what the parent saw of one child.
type crashRound struct {
	ready, acked uint64 // the position the child resumed after, the last batch it acknowledged
	sawReady     bool
	sawAck       bool
	logs         strings.Builder // the child's stderr
}

// TestCrash proves what Append promises across kill -9: the child process
// appends batches with fsync on and the background work cutting,
// compacting, truncating the WAL and expiring blocks, and is killed at
// random moments, during Open too; after each kill the DB is opened and
// every batch up to its position must be there, whole, with the values and
// exemplars it was given, no point of a later batch may be, the position
// must cover every acknowledged batch, and Startup must account for the
// head and report no corruption.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	if testing.Short() {
		t.Skip("kills child processes for half a minute")
	}
	seed := uint64(crashSeed)
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	minKills, maxKills := crashMinKills, crashKills
	if s := os.Getenv(crashKillsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashKillsEnv, s)
		}
		minKills, maxKills = n, n
	}
	t.Logf("seed %d (set %s to draw the same kill moments again)", seed, crashSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()

	var (
		acked     uint64 // the highest batch a child acknowledged
		lastPos   uint64
		kills     int
		writing   int // kills that landed after the child had appended
		inOpen    int // kills that landed before the child was ready
		discarded int // opens that cut off a torn WAL tail
		tmpBlocks int // block writes a kill interrupted
		truncated int // rounds in which the child truncated the WAL
		deleted   int // block deletions a kill interrupted
		firstSeg  int // the first WAL segment after the last round
		replayed  int
		sum       crashLogCounts
	)
	start := time.Now()
	for i := range maxKills {
		if i >= minKills && time.Since(start) > crashBudget {
			break
		}
		kills++
		moment := crashMoments[i%len(crashMoments)]
		var delay time.Duration
		switch moment {
		case killWriting:
			delay = time.Duration(rng.IntN(100_000)) * time.Microsecond
		case killBackground:
			delay = time.Duration(rng.IntN(5_000)) * time.Microsecond
		case killLargeBatch:
			delay = time.Duration(rng.IntN(20_000)) * time.Microsecond
		case killOpen:
			delay = time.Duration(rng.IntN(40_000)) * time.Microsecond
		}
		where := fmt.Sprintf("kill %d %s (seed %d, after %v)", i, moment, seed, delay)
		round := runCrashChild(t, where, dir, moment, delay)
		logs := countCrashLogs(round.logs.String())
		if logs.races > 0 || logs.errors > 0 {
			t.Fatalf("%s: the child reported errors:\n%s", where, round.logs.String())
		}
		sum.add(logs)
		if round.sawReady && round.ready != lastPos {
			t.Fatalf("%s: the child resumed after batch %d, the DB was closed at batch %d", where, round.ready, lastPos)
		}
		if !round.sawReady {
			inOpen++
		}
		if round.sawAck {
			writing++
			acked = max(acked, round.acked)
		}
		tmp, del := countTmpBlocks(t, dir)
		tmpBlocks, deleted = tmpBlocks+tmp, deleted+del
		seg, walBytes := walSegments(t, dir)
		if seg > firstSeg {
			truncated++
			firstSeg = seg
		}

		db, err := Open(dir, crashOptions(nil, true))
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		st := db.Startup()
		if _, after := walSegments(t, dir); walBytes-after != st.WAL.DiscardedBytes {
			t.Errorf("%s: Open cut %d bytes off the WAL, but reports %d discarded", where, walBytes-after, st.WAL.DiscardedBytes)
		}
		pos := checkCrashDB(t, where, db, acked, max(acked, lastPos)+1)
		if pos < lastPos {
			t.Fatalf("%s: position went back from batch %d to %d", where, lastPos, pos)
		}
		if st.WAL.DiscardedBytes > 0 {
			discarded++
		}
		replayed += st.PointsReplayed
		switch {
		case !round.sawReady:
			t.Logf("%s: killed in Open; %s", where, st)
		case !round.sawAck:
			t.Logf("%s: killed before an acknowledgement; %s", where, st)
		default:
			t.Logf("%s: batches %d to %d acknowledged; %s", where, round.ready+1, round.acked, st)
		}
		lastPos = pos
		if err := db.Close(); err != nil {
			t.Fatalf("%s: close: %v", where, err)
		}
	}

	// Last, what a clean life does with the recovered DB: compact it, close
	// it, open it again.
	db, err := Open(dir, crashOptions(nil, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(); err != nil {
		t.Fatalf("compact after the kills: %v", err)
	}
	checkCrashDB(t, "after the kills, compacted", db, lastPos, lastPos)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, crashOptions(nil, true))
	if err != nil {
		t.Fatal(err)
	}
	checkCrashDB(t, "after the kills, compacted and reopened", db, lastPos, lastPos)
	t.Logf("after the kills, compacted and reopened: %s", db.Startup())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	t.Logf("%d kills in %v: %d in Open, %d after appends; %d batches acknowledged, position %d; %d opens cut a torn WAL tail, %d interrupted block writes and %d interrupted block deletions finished; %d points replayed in all; the children cut %d blocks, merged %d, expired %d, truncated the WAL in %d rounds",
		kills, time.Since(start).Round(time.Millisecond), inOpen, writing, acked, lastPos, discarded, tmpBlocks, deleted, replayed, sum.cuts, sum.merges, sum.expired, truncated)
	// What the kills found is worth as much as what they interrupted.
	if kills >= crashMinKills && (writing < kills/2 || acked < 100 || sum.cuts == 0 || sum.merges == 0 || truncated == 0) {
		t.Errorf("%d kills of %d landed after appends, %d batches acknowledged, %d blocks cut, %d merged, WAL truncated in %d rounds: too little to test anything",
			writing, kills, acked, sum.cuts, sum.merges, truncated)
	}
}

// runCrashChild starts a child on dir, kills it at the moment asked, and
// returns what it printed.
func runCrashChild(t *testing.T, where, dir string, moment crashMoment, delay time.Duration) *crashRound {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "GORACE=halt_on_error=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The readers write round; it is read once both are done.
	round := &crashRound{}
	ready, large, background := make(chan struct{}), make(chan struct{}), make(chan struct{})
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(outDone)
		sawLarge := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				continue
			}
			switch f[0] {
			case "ready":
				round.ready, round.sawReady = n, true
				close(ready)
			case "ack":
				round.acked, round.sawAck = n, true
			case "large":
				if !sawLarge {
					close(large)
					sawLarge = true
				}
			}
		}
	}()
	go func() {
		defer close(errDone)
		sawBackground := false
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			round.logs.WriteString(line + "\n")
			if !sawBackground && (strings.Contains(line, "head cut into a block") || strings.Contains(line, "blocks compacted")) {
				close(background)
				sawBackground = true
			}
		}
	}()
	var wait <-chan struct{}
	switch moment {
	case killWriting:
		wait = ready
	case killBackground:
		wait = background
	case killLargeBatch:
		wait = large
	}
	if wait != nil {
		select {
		case <-wait:
		case <-outDone:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: the child did not get there in 20s", where)
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	<-outDone
	<-errDone
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("%s: the child ended by itself (%v): %s", where, err, round.logs.String())
	}
	return round
}

// crashChild is the process TestCrash kills: it opens the DB, resumes after
// its position and appends batches until killed, printing the number of
// each once Append has returned, and of each large one before.
func crashChild(dir string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	db, err := Open(dir, crashOptions(slog.New(slog.NewTextHandler(os.Stderr, nil)), false))
	if err != nil {
		return fail(err)
	}
	var last uint64
	switch pos := db.Position(); len(pos) {
	case 0:
	case 8:
		last = binary.BigEndian.Uint64(pos)
	default:
		return fail(fmt.Errorf("position %x: want 8 bytes", pos))
	}
	fmt.Printf("ready %d\n", last) // os.Stdout is unbuffered
	parent := os.Getppid()
	deadline := time.Now().Add(crashChildLife)
	for k := last + 1; ; k++ {
		if k%crashBurstEvery == crashBurstEvery/2 {
			fmt.Printf("large %d\n", k)
		}
		if _, err := db.Append(crashBatch(k), crashPos(k)); err != nil {
			return fail(fmt.Errorf("append batch %d: %w", k, err))
		}
		fmt.Printf("ack %d\n", k)
		if os.Getppid() != parent || time.Now().After(deadline) {
			return 3 // orphaned: never outlive the test
		}
	}
}

// crashLogCounts is what the children's logs tell of their background work.
type crashLogCounts struct{ cuts, merges, expired, errors, races int }

func (c *crashLogCounts) add(o crashLogCounts) {
	c.cuts += o.cuts
	c.merges += o.merges
	c.expired += o.expired
	c.errors += o.errors
	c.races += o.races
}

func countCrashLogs(s string) crashLogCounts {
	var c crashLogCounts
	for line := range strings.Lines(s) {
		switch {
		case strings.Contains(line, "DATA RACE"):
			c.races++
		case strings.Contains(line, "level=ERROR"), strings.HasPrefix(line, "crash child:"), strings.HasPrefix(line, "panic"):
			c.errors++
		case strings.Contains(line, "head cut into a block"):
			c.cuts++
		case strings.Contains(line, "blocks compacted"):
			c.merges++
		case strings.Contains(line, "block expired"):
			c.expired++
		}
	}
	return c
}

// countTmpBlocks counts the block directories a kill left half written
// (NAME.tmp) and half deleted (NAME.deleted), which Open removes.
func countTmpBlocks(t *testing.T, dir string) (tmp, deleted int) {
	t.Helper()
	for _, p := range crashPolicies {
		ents, err := os.ReadDir(filepath.Join(dir, dirName(p.String())))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range ents {
			switch {
			case strings.HasSuffix(e.Name(), ".tmp"):
				tmp++
			case strings.HasSuffix(e.Name(), deletedSuffix):
				deleted++
			}
		}
	}
	return tmp, deleted
}

// walSegments returns the number of the first WAL segment of the DB in
// dir and the size of all its segments.
func walSegments(t *testing.T, dir string) (first int, size int64) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, walDir))
	if err != nil {
		t.Fatal(err)
	}
	first = math.MaxInt
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		first = min(first, n)
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	if first == math.MaxInt {
		first = 0
	}
	return first, size
}

// checkCrashDB checks db, just opened after a kill, against the workload,
// and returns its position: from acked, the last batch acknowledged, to
// most (the batch the child may have logged without acknowledging it);
// every batch up to it must be in the DB, whole, and nothing of the
// batches after it. Only the blocks that the retention of their policy
// lets go may be missing.
//
// A block deletion a kill interrupts must not look like a corruption:
// any block Open sets aside fails the test.
func checkCrashDB(t *testing.T, where string, db *DB, acked, most uint64) uint64 {
	t.Helper()
	st := db.Startup()
	pos := db.Position()
	if !slices.Equal(pos, st.Position) {
		t.Fatalf("%s: Position %x, Startup().Position %x", where, pos, st.Position)
	}
	var p uint64
	switch len(pos) {
	case 0:
	case 8:
		p = binary.BigEndian.Uint64(pos)
	default:
		t.Fatalf("%s: position %x: want 8 bytes", where, pos)
	}
	if p < acked || p > most {
		t.Fatalf("%s: position is batch %d; batch %d was the last acknowledged, %d the last that may have been logged", where, p, acked, most)
	}
	if st.WAL.Corruption != nil || len(st.Quarantined) > 0 || st.MalformedBatchs > 0 {
		t.Fatalf("%s: a kill is not a corruption, but Open reports: %s", where, st)
	}

	// What the DB must hold: the points of batches 1 to p, by series.
	tab := crashTable()
	byKey := make(map[string]*crashSeries, len(tab))
	for _, s := range tab {
		byKey[s.key] = s
	}
	want := make(map[*crashSeries][]crashPoint, len(tab))
	newest := map[string]int64{}
	var buf []crashPoint
	for k := uint64(1); k <= p; k++ {
		buf = crashOwn(buf[:0], k)
		for _, cp := range buf {
			want[cp.s] = append(want[cp.s], cp)
			newest[cp.s.polName] = max(newest[cp.s.polName], cp.t)
		}
	}
	for _, pts := range want {
		slices.SortFunc(pts, func(a, b crashPoint) int { return cmp.Compare(a.t, b.t) })
	}
	// Retention deletes whole blocks whose every point is older than the
	// newest of the policy by its retention; a block more is allowed.
	mayExpire := func(cp *crashPoint) bool {
		return cp.t < newest[cp.s.polName]-cp.s.pol.Retention.Milliseconds()+crashBlock.Milliseconds()
	}
	for _, a := range st.SetAside {
		t.Fatalf("%s: a kill is not a corruption, but Open set aside %s: %v", where, a.Path, a.Err)
	}
	// batchOf names the batch a stray point is from.
	batchOf := func(s *crashSeries, ts int64) string {
		for k := p + 1; k <= p+crashResendEvery; k++ {
			for _, cp := range crashOwn(nil, k) {
				if cp.s == s && cp.t == ts {
					return fmt.Sprintf("batch %d, after the position", k)
				}
			}
		}
		return "no batch"
	}

	var errs []string
	report := func(format string, args ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	got := readCrashDB(t, where, db)
	for key, pts := range got {
		s := byKey[key]
		if s == nil {
			report("series %s: not written", key)
			continue
		}
		w := want[s]
		i, j := 0, 0
		for i < len(w) || j < len(pts) {
			switch {
			case j == len(pts) || i < len(w) && w[i].t < pts[j].t:
				if !mayExpire(&w[i]) {
					report("series %s: point at %d of batch %d missing", key, w[i].t, w[i].k)
				}
				i++
			case i == len(w) || pts[j].t < w[i].t:
				report("series %s: point at %d (value %g) of %s present", key, pts[j].t, pts[j].v, batchOf(s, pts[j].t))
				j++
			default:
				if math.Float64bits(w[i].v) != math.Float64bits(pts[j].v) {
					report("series %s: point at %d of batch %d: got value %g, want %g", key, w[i].t, w[i].k, pts[j].v, w[i].v)
				}
				i++
				j++
			}
		}
	}
	for s, w := range want {
		if _, ok := got[s.key]; ok {
			continue
		}
		for i := range w {
			if !mayExpire(&w[i]) {
				report("series %s: missing, from its point at %d of batch %d on", s.key, w[i].t, w[i].k)
				break
			}
		}
	}
	checkCrashExemplars(t, where, db, want, mayExpire, report)

	// Startup accounts for the head: its points, those after the blocks,
	// all came from the WAL.
	blocksEnd := map[string]int64{}
	for _, b := range db.Blocks() {
		blocksEnd[b.Policy] = max(blocksEnd[b.Policy], b.MaxTime)
	}
	headWant, headSeries, batches := map[string]int{}, 0, map[uint64]bool{}
	for s, w := range want {
		end, ok := blocksEnd[s.polName]
		in := false
		for _, cp := range w {
			if !ok || cp.t >= end {
				headWant[s.polName]++
				batches[cp.k] = true
				in = true
			}
		}
		if in {
			headSeries++
		}
	}
	headGot := 0
	for _, ps := range db.Stats() {
		headGot += ps.HeadPoints
		if ps.HeadPoints != headWant[ps.Policy] {
			report("policy %s: %d points in the head, want %d (those after its last block, at %d)", ps.Policy, ps.HeadPoints, headWant[ps.Policy], blocksEnd[ps.Policy])
		}
	}
	if st.PointsReplayed < headGot || st.Series < headSeries || st.WAL.Batches < len(batches) {
		report("Startup replayed %d points, %d batches, %d series; the head holds %d points of %d batches and %d series",
			st.PointsReplayed, st.WAL.Batches, st.Series, headGot, len(batches), headSeries)
	}
	if len(errs) > 0 {
		t.Fatalf("%s: position is batch %d, %d acknowledged; startup: %s\n%s", where, p, acked, st, strings.Join(errs, "\n"))
	}
	return p
}

type crashTP struct {
	t int64
	v float64
}

// readCrashDB reads every point of the DB, by policy and series.
func readCrashDB(t *testing.T, where string, db *DB) map[string][]crashTP {
	t.Helper()
	q, err := db.Querier(math.MinInt64+1, math.MaxInt64-1)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer q.Close()
	out := map[string][]crashTP{}
	var it promchunkenc.Iterator
	for _, pol := range crashPolicies {
		ss := q.Select(context.Background(), true, nil,
			labels.MustNewMatcher(labels.MatchEqual, PolicyLabel, pol.String()),
			labels.MustNewMatcher(labels.MatchRegexp, "__name__", "crash_.+"))
		for ss.Next() {
			s := ss.At()
			key := crashKey(pol.String(), s.Labels())
			if _, dup := out[key]; dup {
				t.Fatalf("%s: series %s returned twice", where, key)
			}
			it = s.Iterator(it)
			var pts []crashTP
			for it.Next() != promchunkenc.ValNone {
				ts, v := it.At()
				if n := len(pts); n > 0 && ts <= pts[n-1].t {
					t.Fatalf("%s: series %s: point at %d after %d", where, key, ts, pts[n-1].t)
				}
				pts = append(pts, crashTP{ts, v})
			}
			if err := it.Err(); err != nil {
				t.Fatalf("%s: read %s: %v", where, key, err)
			}
			out[key] = pts
		}
		if err := ss.Err(); err != nil {
			t.Fatalf("%s: select %s: %v", where, pol, err)
		}
	}
	return out
}

// checkCrashExemplars checks the exemplars of the DB against want, through
// the exemplar querier.
func checkCrashExemplars(t *testing.T, where string, db *DB, want map[*crashSeries][]crashPoint,
	mayExpire func(*crashPoint) bool, report func(string, ...any)) {
	t.Helper()
	eq, err := db.ExemplarQuerier(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	type exKey struct {
		key string
		ts  int64
	}
	type exVal struct {
		trace string
		v     float64
	}
	got := map[exKey]exVal{}
	for _, pol := range crashPolicies {
		res, err := eq.Select(crashBase-24*time.Hour.Milliseconds(), math.MaxInt64/2, []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, PolicyLabel, pol.String()),
			labels.MustNewMatcher(labels.MatchRegexp, "__name__", "crash_.+"),
		})
		if err != nil {
			t.Fatalf("%s: exemplars of %s: %v", where, pol, err)
		}
		for _, r := range res {
			key := crashKey(pol.String(), r.SeriesLabels)
			for _, e := range r.Exemplars {
				got[exKey{key, e.Ts}] = exVal{e.Labels.Get(TraceIDLabel), e.Value}
			}
		}
	}
	for s, w := range want {
		for i := range w {
			cp := &w[i]
			if cp.ex == nil {
				continue
			}
			k := exKey{s.key, cp.ex.TimestampMs}
			g, ok := got[k]
			delete(got, k)
			wantEx := exVal{hex.EncodeToString(cp.ex.TraceID[:]), cp.ex.Value}
			switch {
			case !ok && !mayExpire(cp):
				report("series %s: exemplar at %d of the point at %d of batch %d missing", s.key, cp.ex.TimestampMs, cp.t, cp.k)
			case ok && (g.trace != wantEx.trace || math.Float64bits(g.v) != math.Float64bits(wantEx.v)):
				report("series %s: exemplar at %d of batch %d: got %v, want %v", s.key, cp.ex.TimestampMs, cp.k, g, wantEx)
			}
		}
	}
	for k, g := range got {
		report("series %s: exemplar %v at %d not written by a batch up to the position", k.key, g, k.ts)
	}
}
