package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/index"
	"github.com/tumblemetrics/tumble/storage/wal"
)

// The layout of a storage directory, as storage.Open keeps it: a directory
// per storage policy ("10s:2d" in 10s_2d) holding the policy's blocks, and
// the WAL.
const (
	walDir        = "wal"
	setAsideExt   = ".corrupt" // a block an Open set aside
	unfinishedExt = ".tmp"     // a block write a crash interrupted
)

// policyDir returns the directory name of a storage policy.
func policyDir(p string) string { return strings.ReplaceAll(p, ":", "_") }

// policyOfDir returns the storage policy whose directory is name.
func policyOfDir(name string) (policy.Policy, bool) {
	p, err := policy.Parse(strings.ReplaceAll(name, "_", ":"))
	return p, err == nil
}

// storageLayout returns the storage policy directories of dir, sorted,
// and whether it has a WAL. A directory with neither is an error: storage.Open
// would make a storage of any directory, or create a missing one.
func storageLayout(dir string) (policies []string, hasWAL bool, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	for _, e := range ents {
		switch _, isPolicy := policyOfDir(e.Name()); {
		case !e.IsDir():
		case e.Name() == walDir:
			hasWAL = true
		case isPolicy:
			policies = append(policies, e.Name())
		}
	}
	if len(policies) == 0 && !hasWAL {
		return nil, false, fmt.Errorf("%s holds no storage policy directory and no WAL: not a storage directory", dir)
	}
	return policies, hasWAL, nil
}

// openDB opens the storage in dir as the server does, without background
// work, and reports on stderr what Open repaired.
func openDB(cmd, dir string, stderr io.Writer) (*storage.DB, error) {
	if _, _, err := storageLayout(dir); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	db, err := storage.Open(dir, storage.Options{NoBackground: true})
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("%s: a running process holds the storage; stop it or work on a copy of %s: %w", cmd, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	st := db.Startup()
	for _, a := range st.SetAside {
		fmt.Fprintf(stderr, "%s: open set aside the block %s as %s: %s\n", cmd, relPath(dir, a.Path), relPath(dir, a.Path)+setAsideExt, describe(dir, a.Err))
	}
	if st.Superseded > 0 {
		fmt.Fprintf(stderr, "%s: open removed %d blocks a compacted block already covers\n", cmd, st.Superseded)
	}
	if c := st.WAL.Corruption; c != nil {
		fmt.Fprintf(stderr, "%s: open cut the WAL at a corruption, %d bytes set aside: %s\n", cmd, st.WAL.DiscardedBytes, describe(dir, c))
	} else if st.WAL.DiscardedBytes > 0 {
		fmt.Fprintf(stderr, "%s: open discarded the %d bytes of a WAL write a crash cut short\n", cmd, st.WAL.DiscardedBytes)
	}
	if st.MalformedBatchs > 0 {
		fmt.Fprintf(stderr, "%s: open skipped %d malformed WAL batches\n", cmd, st.MalformedBatchs)
	}
	return db, nil
}

// relPath returns path relative to dir, or path if it is not under dir.
func relPath(dir, path string) string {
	r, err := filepath.Rel(dir, path)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return path
	}
	return r
}

// describe formats err with the paths in it relative to dir, and a
// corruption as FILE at byte OFFSET: CAUSE.
func describe(dir string, err error) string {
	var bc *block.CorruptionError
	var ic *index.CorruptionError
	var wc *wal.CorruptionError
	switch {
	case errors.As(err, &bc):
		return fmt.Sprintf("%s at byte %d: %s", relPath(dir, bc.File), bc.Offset, stripDir(dir, bc.Err))
	case errors.As(err, &ic):
		return fmt.Sprintf("%s at byte %d, %s section: %s", relPath(dir, ic.File), ic.Offset, ic.Section, stripDir(dir, ic.Err))
	case errors.As(err, &wc):
		return fmt.Sprintf("%s at byte %d: %s", relPath(dir, segmentFile(wc.Dir, wc.Segment)), wc.Offset, stripDir(dir, wc.Err))
	}
	return stripDir(dir, err)
}

// stripDir returns the message of err with dir cut from the paths in it.
func stripDir(dir string, err error) string {
	return strings.ReplaceAll(err.Error(), filepath.Clean(dir)+string(filepath.Separator), "")
}

// segmentFile is the path of WAL segment seg (storage/wal/FORMAT.md).
func segmentFile(dir string, seg int) string { return filepath.Join(dir, fmt.Sprintf("%08d", seg)) }

// formatMs formats a timestamp in milliseconds as RFC 3339 in UTC.
func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.999Z07:00")
}

// parseMs parses a time given as RFC 3339 or as milliseconds since the
// epoch.
func parseMs(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("time %q: want RFC 3339 (2006-01-02T15:04:05Z) or milliseconds since the epoch", s)
	}
	return t.UnixMilli(), nil
}

// perPoint returns bytes per point, nil when there are no points.
func perPoint(bytes int64, points int) *float64 {
	if points == 0 {
		return nil
	}
	r := float64(bytes) / float64(points)
	return &r
}

func formatPerPoint(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 2, 64)
}

// table lays out rows of cells in columns, each column aligned left or
// right.
type table struct {
	right []bool // by column
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, indent string) {
	widths := make([]int, len(t.right))
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(c))
			if t.right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// inspectReport is what tsdb inspect prints, and its JSON form.
type inspectReport struct {
	Policies []policyReport `json:"policies"`
	Total    sizes          `json:"total"`
}

type policyReport struct {
	Policy string `json:"policy"`
	Dir    string `json:"dir"`
	// The data's range, blocks and head, inclusive; absent when empty.
	MinTimeMs *int64        `json:"min_time_ms,omitempty"`
	MaxTimeMs *int64        `json:"max_time_ms,omitempty"`
	Blocks    []blockReport `json:"blocks"`
	Head      headReport    `json:"head"`
	Total     sizes         `json:"total"`
}

type blockReport struct {
	Name      string `json:"name"`
	MinTimeMs int64  `json:"min_time_ms"` // the block covers [MinTimeMs, MaxTimeMs)
	MaxTimeMs int64  `json:"max_time_ms"`
	MinTime   string `json:"min_time"`
	MaxTime   string `json:"max_time"`
	Series    int    `json:"series"`
	sizes
}

type headReport struct {
	Series int `json:"series"`
	sizes
}

// sizes are the points of some data and the bytes they take.
type sizes struct {
	Chunks        int      `json:"chunks"`
	Points        int      `json:"points"`
	ChunkBytes    int64    `json:"chunk_bytes"`
	IndexBytes    int64    `json:"index_bytes,omitempty"`
	BytesPerPoint *float64 `json:"bytes_per_point,omitempty"` // chunk bytes per point
}

func (s *sizes) add(o sizes) {
	s.Chunks += o.Chunks
	s.Points += o.Points
	s.ChunkBytes += o.ChunkBytes
	s.IndexBytes += o.IndexBytes
	s.BytesPerPoint = perPoint(s.ChunkBytes, s.Points)
}

// tsdbInspectCmd describes the blocks and the head of each storage policy.
func tsdbInspectCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tsdb inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "write the report as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 1 {
		return exitError, fmt.Errorf("tsdb inspect: want one storage directory, got %d arguments", len(pos))
	}
	dir := pos[0]
	db, err := openDB("tsdb inspect", dir, stderr)
	if err != nil {
		return exitError, err
	}
	rep := inspect(db)
	if err := db.Close(); err != nil {
		return exitError, fmt.Errorf("tsdb inspect: close storage: %w", err)
	}
	w := bufio.NewWriter(stdout)
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return exitError, fmt.Errorf("tsdb inspect: encode report: %w", err)
		}
		w.Write(append(b, '\n'))
	} else {
		writeInspect(w, rep)
	}
	if err := w.Flush(); err != nil {
		return exitError, fmt.Errorf("tsdb inspect: write report: %w", err)
	}
	return exitOK, nil
}

// inspect gathers the report of an open DB.
func inspect(db *storage.DB) inspectReport {
	byPolicy := map[string][]storage.BlockInfo{}
	for _, b := range db.Blocks() {
		byPolicy[b.Policy] = append(byPolicy[b.Policy], b)
	}
	rep := inspectReport{Policies: []policyReport{}}
	for _, ps := range db.Stats() {
		pr := policyReport{Policy: ps.Policy, Dir: policyDir(ps.Policy), Blocks: []blockReport{}}
		if ps.Blocks > 0 || ps.HeadPoints > 0 {
			pr.MinTimeMs, pr.MaxTimeMs = &ps.MinTime, &ps.MaxTime
		}
		for _, b := range byPolicy[ps.Policy] {
			br := blockReport{
				Name:      filepath.Base(b.Dir),
				MinTimeMs: b.MinTime, MaxTimeMs: b.MaxTime,
				MinTime: formatMs(b.MinTime), MaxTime: formatMs(b.MaxTime),
				Series: b.NumSeries,
			}
			br.add(sizes{Chunks: b.NumChunks, Points: b.NumPoints, ChunkBytes: b.ChunkBytes, IndexBytes: b.IndexBytes})
			pr.Blocks = append(pr.Blocks, br)
			pr.Total.add(br.sizes)
		}
		pr.Head.Series = ps.HeadSeries
		pr.Head.add(sizes{Chunks: ps.HeadChunks, Points: ps.HeadPoints, ChunkBytes: ps.HeadBytes})
		pr.Total.add(pr.Head.sizes)
		rep.Policies = append(rep.Policies, pr)
		rep.Total.add(pr.Total)
	}
	return rep
}

func writeInspect(w io.Writer, rep inspectReport) {
	if len(rep.Policies) == 0 {
		fmt.Fprintln(w, "no data")
		return
	}
	blocks := 0
	for _, p := range rep.Policies {
		blocks += len(p.Blocks)
		fmt.Fprintf(w, "policy %s (directory %s)", p.Policy, p.Dir)
		if p.MinTimeMs != nil {
			fmt.Fprintf(w, ", data from %s to %s", formatMs(*p.MinTimeMs), formatMs(*p.MaxTimeMs))
		}
		fmt.Fprintln(w)
		t := &table{right: []bool{false, false, false, true, true, true, true, true, true}}
		t.add("BLOCK", "MIN TIME", "MAX TIME", "SERIES", "CHUNKS", "POINTS", "CHUNK BYTES", "INDEX BYTES", "BYTES/POINT")
		row := func(name, mint, maxt, series string, s sizes, index string) {
			t.add(name, mint, maxt, series, strconv.Itoa(s.Chunks), strconv.Itoa(s.Points),
				strconv.FormatInt(s.ChunkBytes, 10), index, formatPerPoint(s.BytesPerPoint))
		}
		for _, b := range p.Blocks {
			row(b.Name, b.MinTime, b.MaxTime, strconv.Itoa(b.Series), b.sizes, strconv.FormatInt(b.IndexBytes, 10))
		}
		row("head", "", "", strconv.Itoa(p.Head.Series), p.Head.sizes, "")
		row("total", "", "", "", p.Total, strconv.FormatInt(p.Total.IndexBytes, 10))
		t.write(w, "  ")
	}
	s := rep.Total
	fmt.Fprintf(w, "all policies: %d policies, %d blocks, %d chunks, %d points, %d chunk bytes, %d index bytes, %s bytes/point\n",
		len(rep.Policies), blocks, s.Chunks, s.Points, s.ChunkBytes, s.IndexBytes, formatPerPoint(s.BytesPerPoint))
}

// tsdbVerifyCmd checks every block and the WAL of a storage directory
// without writing anything.
func tsdbVerifyCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tsdb verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 1 {
		return exitError, fmt.Errorf("tsdb verify: want one storage directory, got %d arguments", len(pos))
	}
	v := &verifier{dir: pos[0], w: bufio.NewWriter(stdout)}
	err = v.run()
	if ferr := v.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("tsdb verify: write report: %w", ferr)
	}
	if err != nil {
		return exitError, err
	}
	if v.problems > 0 {
		return exitCorrupt, nil
	}
	return exitOK, nil
}

// verifier checks a storage directory and writes what it finds to w.
type verifier struct {
	dir string
	w   *bufio.Writer

	blocks, corrupt, setAside int // blocks checked; found corrupt; set aside
	problems                  int // anything that makes the verdict "corrupt"
}

func (v *verifier) report(path, format string, args ...any) {
	fmt.Fprintf(v.w, "%s: %s\n", path, fmt.Sprintf(format, args...))
}

func (v *verifier) run() error {
	policies, hasWAL, err := storageLayout(v.dir)
	if err != nil {
		return fmt.Errorf("tsdb verify: %w", err)
	}
	for _, name := range policies {
		p, _ := policyOfDir(name)
		if err := v.policy(name, p); err != nil {
			return err
		}
	}
	walSt := wal.VerifyStats{}
	if hasWAL {
		if walSt, err = v.wal(); err != nil {
			return err
		}
	} else {
		v.report(walDir, "missing: the next open starts an empty one")
	}
	verdict := "sound"
	if v.problems > 0 {
		verdict = "corruption found"
	}
	fmt.Fprintf(v.w, "verify: %s in %s, %d corrupt, %d set aside; WAL: %s, %s, %s set aside: %s\n",
		count(v.blocks, "block", "blocks"), count(len(policies), "policy directory", "policy directories"), v.corrupt, v.setAside,
		count(walSt.Files, "segment", "segments"), count(len(walSt.Corruptions), "corruption", "corruptions"), count(len(walSt.SetAside), "file", "files"), verdict)
	return nil
}

// policy checks the blocks in the directory name of storage policy p.
func (v *verifier) policy(name string, p policy.Policy) error {
	ents, err := os.ReadDir(filepath.Join(v.dir, name))
	if err != nil {
		return fmt.Errorf("tsdb verify: %w", err)
	}
	var live []blockRange
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rel := filepath.Join(name, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), unfinishedExt):
			v.report(rel, "an unfinished block write: the next open deletes it")
			continue
		case strings.HasSuffix(e.Name(), setAsideExt):
			v.blocks++
			v.setAside++
			v.problems++
			b, status, err := v.block(rel, p)
			if err != nil {
				return err
			}
			if b != nil {
				status = "ok on its own: " + blockSummary(b)
			}
			v.report(rel, "set aside by an earlier open; %s", status)
			continue
		}
		v.blocks++
		b, status, err := v.block(rel, p)
		if err != nil {
			return err
		}
		if b == nil {
			v.corrupt++
			v.problems++
			v.report(rel, "%s", status)
			continue
		}
		v.report(rel, "ok: %s", blockSummary(b))
		live = append(live, blockRange{rel, b.Meta.MinTime, b.Meta.MaxTime})
	}
	v.overlaps(live)
	return nil
}

func blockSummary(b *block.Block) string {
	return fmt.Sprintf("%d series, %s, %s", b.Meta.NumSeries, count(b.Meta.NumChunks, "chunk", "chunks"), count(b.Meta.NumPoints, "point", "points"))
}

// count returns n followed by the noun, one or many.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// block opens and checks the block at rel, of storage policy p. It returns
// the block if it is sound, or else what is wrong with it.
func (v *verifier) block(rel string, p policy.Policy) (*block.Block, string, error) {
	b, err := block.Open(filepath.Join(v.dir, rel))
	if errors.Is(err, fs.ErrPermission) {
		return nil, "", fmt.Errorf("tsdb verify: %w", err)
	}
	if err != nil {
		return nil, "corrupt: " + describe(v.dir, err), nil
	}
	n, err := b.Verify()
	switch {
	case err != nil:
		return nil, "corrupt: " + describe(v.dir, err), nil
	case n != b.Meta.NumChunks:
		return nil, fmt.Sprintf("corrupt: %s holds %d chunks, %s says %d", filepath.Join(rel, block.ChunksFile), n, block.MetaFile, b.Meta.NumChunks), nil
	case b.Meta.Policy != p.String():
		return nil, fmt.Sprintf("corrupt: %s says policy %s, in the directory of %s", block.MetaFile, b.Meta.Policy, p), nil
	}
	return b, "", nil
}

// blockRange is a sound block's path, relative to the storage directory,
// and the time range it covers, [mint, maxt).
type blockRange struct {
	rel        string
	mint, maxt int64
}

// overlaps reports the sound blocks of a policy whose time ranges overlap,
// as Open resolves them: a block inside another is what a crash in the
// middle of a compaction leaves (Open deletes it); any other overlap is an
// error (Open sets the later block aside).
func (v *verifier) overlaps(blocks []blockRange) {
	slices.SortFunc(blocks, func(a, b blockRange) int {
		if a.mint != b.mint {
			return cmp.Compare(a.mint, b.mint)
		}
		return cmp.Compare(b.maxt, a.maxt) // longer first
	})
	var prev *blockRange
	for i := range blocks {
		b := &blocks[i]
		if prev == nil || b.mint >= prev.maxt {
			prev = b
			continue
		}
		if b.maxt <= prev.maxt {
			v.report(b.rel, "inside %s, which a compaction wrote: the next open deletes it", prev.rel)
			continue
		}
		v.corrupt++
		v.problems++
		v.report(b.rel, "corrupt: its range [%s, %s) overlaps that of %s: the next open sets it aside",
			formatMs(b.mint), formatMs(b.maxt), prev.rel)
	}
}

// wal checks the WAL without writing to it.
func (v *verifier) wal() (wal.VerifyStats, error) {
	st, err := wal.Verify(filepath.Join(v.dir, walDir))
	if err != nil {
		return st, fmt.Errorf("tsdb verify: %w", err)
	}
	if st.Files == 0 {
		v.report(walDir, "no segments")
	} else {
		v.report(walDir, "%s, %08d to %08d, %d bytes", count(st.Files, "segment", "segments"), st.First, st.Last, st.Bytes)
	}
	for _, c := range st.Corruptions {
		v.problems++
		v.report(walDir, "corrupt: %s", describe(v.dir, c))
	}
	if tt := st.Torn; tt != nil {
		v.report(walDir, "torn tail: %s at byte %d: the %d bytes of a write a crash cut short, never acknowledged; the next open discards them",
			relPath(v.dir, segmentFile(filepath.Join(v.dir, walDir), tt.Segment)), tt.Offset, tt.Bytes)
	}
	for _, p := range st.SetAside {
		v.problems++
		v.report(walDir, "set aside by an earlier open: %s", relPath(v.dir, p))
	}
	if c := st.Corruption; c != nil {
		v.report(walDir, "the next open replays %s (%s), up to %s at byte %d, and sets the %d bytes from there on aside",
			count(st.Batches, "batch", "batches"), count(st.Records, "record", "records"), relPath(v.dir, segmentFile(c.Dir, c.Segment)), c.Offset, st.DiscardedBytes)
	} else if st.Files > 0 {
		v.report(walDir, "ok: %s, %s", count(st.Batches, "batch", "batches"), count(st.Records, "record", "records"))
	}
	return st, nil
}

// dumpLine is the JSON form of one point that tsdb dump writes.
type dumpLine struct {
	Labels   map[string]string `json:"labels"`
	Policy   string            `json:"policy"`
	T        int64             `json:"t"`
	V        replay.Float      `json:"v"`
	Exemplar *replay.Exemplar  `json:"exemplar,omitempty"`
}

// tsdbDumpCmd writes the points of the series a selector matches as JSON
// lines.
func tsdbDumpCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tsdb dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	match := fs.String("match", "", `series selector, e.g. 'http_latency_seconds{route="/pay"}' (required); a __policy__ matcher picks storage policies`)
	from := fs.String("from", "", "oldest timestamp to dump, RFC 3339 or milliseconds (default: all time)")
	to := fs.String("to", "", "newest timestamp to dump, inclusive, RFC 3339 or milliseconds (default: all time)")
	output := fs.String("output", "-", "where to write the points as JSON lines; - writes stdout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 1 {
		return exitError, fmt.Errorf("tsdb dump: want one storage directory, got %d arguments", len(pos))
	}
	if *match == "" {
		return exitError, errors.New("tsdb dump: --match is required")
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(*match)
	if err != nil {
		return exitError, fmt.Errorf("tsdb dump: parse --match: %w", err)
	}
	mint, maxt := int64(math.MinInt64), int64(math.MaxInt64)
	if *from != "" {
		if mint, err = parseMs(*from); err != nil {
			return exitError, fmt.Errorf("tsdb dump: --from: %w", err)
		}
	}
	if *to != "" {
		if maxt, err = parseMs(*to); err != nil {
			return exitError, fmt.Errorf("tsdb dump: --to: %w", err)
		}
	}
	if mint > maxt {
		return exitError, fmt.Errorf("tsdb dump: --from %s is after --to %s", *from, *to)
	}
	db, err := openDB("tsdb dump", pos[0], stderr)
	if err != nil {
		return exitError, err
	}
	defer db.Close()
	out, err := createOutput(*output, stdout)
	if err != nil {
		return exitError, fmt.Errorf("tsdb dump: %w", err)
	}
	w := bufio.NewWriter(out)
	n, err := dump(context.Background(), db, ms, mint, maxt, w)
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("tsdb dump: write points: %w", ferr)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("tsdb dump: close output: %w", cerr)
	}
	if err != nil {
		return exitError, err
	}
	if err := db.Close(); err != nil {
		return exitError, fmt.Errorf("tsdb dump: close storage: %w", err)
	}
	fmt.Fprintf(stderr, "tsdb dump: %d points\n", n)
	return exitOK, nil
}

// dump writes the points in [mint, maxt] of the series matching ms to w, one
// storage policy after the other, and returns how many it wrote.
//
// A point's exemplar is read through the exemplar querier, which returns
// each series' exemplars in the order of their points but without the
// points' timestamps: each is given to the point whose window holds its
// timestamp, [t - resolution, t), as the aggregator makes them.
func dump(ctx context.Context, db *storage.DB, ms []*labels.Matcher, mint, maxt int64, w io.Writer) (int, error) {
	var pms, rest []*labels.Matcher
	for _, m := range ms {
		if m.Name == storage.PolicyLabel {
			pms = append(pms, m)
		} else {
			rest = append(rest, m)
		}
	}
	stats := db.Stats()
	var maxRes int64 // the exemplar querier reads this far past its end
	for _, ps := range stats {
		if p, err := policy.Parse(ps.Policy); err == nil {
			maxRes = max(maxRes, p.ResolutionMs())
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	for _, ps := range stats {
		if !matchAll(pms, ps.Policy) {
			continue
		}
		p, err := policy.Parse(ps.Policy)
		if err != nil {
			return n, fmt.Errorf("tsdb dump: %w", err)
		}
		pm := labels.MustNewMatcher(labels.MatchEqual, storage.PolicyLabel, ps.Policy)
		k, err := dumpPolicy(ctx, db, p, pm, append(slices.Clone(rest), pm), mint, maxt, maxRes, enc)
		n += k
		if err != nil {
			return n, fmt.Errorf("tsdb dump: policy %s: %w", ps.Policy, err)
		}
	}
	return n, nil
}

func matchAll(ms []*labels.Matcher, v string) bool {
	for _, m := range ms {
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// dumpPolicy writes the points of the series of policy p that ms selects;
// pm is the matcher of ms that names p.
func dumpPolicy(ctx context.Context, db *storage.DB, p policy.Policy, pm *labels.Matcher, ms []*labels.Matcher, mint, maxt, maxRes int64, enc *json.Encoder) (int, error) {
	q, err := db.Querier(mint, maxt)
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer q.Close()
	eq, err := db.ExemplarQuerier(ctx)
	if err != nil {
		return 0, fmt.Errorf("query exemplars: %w", err)
	}
	res := p.ResolutionMs()
	// Exemplars come before their point, by up to a resolution. The end is
	// kept clear of the exemplar querier's read past it.
	exMin := sub(mint, res)
	exMax := min(maxt, math.MaxInt64-maxRes)
	n := 0
	ss := q.Select(ctx, true, nil, ms...)
	var it promchunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		ls := s.Labels()
		exs, err := seriesExemplars(eq, ls, pm, exMin, exMax)
		if err != nil {
			return n, err
		}
		line := dumpLine{Labels: ls.Map(), Policy: p.String()}
		it = s.Iterator(it)
		j := 0
		for it.Next() == promchunkenc.ValFloat {
			t, v := it.At()
			line.T, line.V, line.Exemplar = t, replay.Float(v), nil
			for j < len(exs) && exs[j].Ts < sub(t, res) {
				j++ // an exemplar of a point outside the range
			}
			if j < len(exs) && exs[j].Ts < t {
				line.Exemplar = &replay.Exemplar{Value: replay.Float(exs[j].Value), TimestampMs: exs[j].Ts}
				if id := exs[j].Labels.Get(storage.TraceIDLabel); strings.Trim(id, "0") != "" {
					line.Exemplar.TraceID = id
				}
				j++
			}
			if err := enc.Encode(&line); err != nil {
				return n, fmt.Errorf("write points: %w", err)
			}
			n++
		}
		if err := it.Err(); err != nil {
			return n, fmt.Errorf("read %s: %w", ls, err)
		}
	}
	if err := ss.Err(); err != nil {
		return n, fmt.Errorf("query: %w", err)
	}
	return n, nil
}

// seriesExemplars returns the exemplars of the series ls of the policy that
// pm names, with timestamps in [mint, maxt].
func seriesExemplars(eq promstorage.ExemplarQuerier, ls labels.Labels, pm *labels.Matcher, mint, maxt int64) ([]exemplar.Exemplar, error) {
	ms := []*labels.Matcher{pm}
	ls.Range(func(l labels.Label) {
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value))
	})
	res, err := eq.Select(mint, maxt, ms)
	if err != nil {
		return nil, fmt.Errorf("query exemplars of %s: %w", ls, err)
	}
	for _, r := range res {
		if labels.Equal(r.SeriesLabels, ls) {
			return r.Exemplars, nil
		}
	}
	return nil, nil
}

// sub returns a-b for b >= 0, saturating at math.MinInt64.
func sub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
