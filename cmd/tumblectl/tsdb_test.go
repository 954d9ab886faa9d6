package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/block"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// t0 is the start of the test data, 2025-11-22T08:00:00Z, on a block
// boundary.
const t0 = int64(1_763_798_400_000)

const (
	hourMs      = int64(time.Hour / time.Millisecond)
	exemplarLag = 3_000 // an exemplar's sample comes this long before its point
)

func mustPolicy(t testing.TB, s string) policy.Policy {
	t.Helper()
	p, err := policy.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testOptions cut one-hour blocks when the test calls Compact. The WAL's
// segments are large enough to hold all the points in the first, which
// holds points of the head and so is never truncated; each block cut starts
// a new segment.
var testOptions = storage.Options{BlockDuration: time.Hour, NoBackground: true, NoSync: true}

// buildTSDB writes three hours of points into a new storage directory, cuts
// the first two into blocks, and closes it: each policy has two blocks and
// a head. http_latency_seconds carries exemplars (the trace ID of every
// tenth is zero, as for a sample without one); queue_depth has NaN and
// infinite values; http_requests_total{route="/pay"} is stored under two
// policies.
func buildTSDB(t testing.TB) string {
	t.Helper()
	p10s, p1m := mustPolicy(t, "10s:2d"), mustPolicy(t, "1m:40d")
	lat := labels.FromStrings("__name__", "http_latency_seconds", "quantile", "0.99", "route", "/pay")
	pay := labels.FromStrings("__name__", "http_requests_total", "route", "/pay")
	cart := labels.FromStrings("__name__", "http_requests_total", "route", "/cart")
	queue := labels.FromStrings("__name__", "queue_depth", "queue", "<ingest>")
	special := map[int64]float64{ // queue_depth at these offsets from t0
		2*hourMs - 10_000: math.NaN(),
		2*hourMs + 10_000: math.Inf(1),
		2*hourMs + 20_000: math.Inf(-1),
	}
	dir := t.TempDir()
	db, err := storage.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Batch i holds the points at t0 + i·10s.
	var batch []storage.Point
	for i := int64(1); i <= 3*hourMs/10_000; i++ {
		off := i * 10_000
		ts := t0 + off
		ex := &chunkenc.Exemplar{Value: float64(i%7+1) / 10, TimestampMs: ts - exemplarLag}
		if i%10 != 0 {
			binary.BigEndian.PutUint64(ex.TraceID[8:], uint64(i))
			ex.TraceID[0] = 0xab
		}
		q := float64(i % 13)
		if v, ok := special[off]; ok {
			q = v
		}
		batch = append(batch[:0],
			storage.Point{Labels: lat, Policy: p10s, T: ts, V: ex.Value, Exemplar: ex},
			storage.Point{Labels: pay, Policy: p10s, T: ts, V: float64(3 * i)},
			storage.Point{Labels: cart, Policy: p10s, T: ts, V: float64(i)},
			storage.Point{Labels: queue, Policy: p10s, T: ts, V: q},
		)
		if i%6 == 0 {
			batch = append(batch, storage.Point{Labels: pay, Policy: p1m, T: ts, V: float64(3 * i)})
		}
		if _, err := db.Append(batch, binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(); err != nil {
		t.Fatal(err)
	}
	if n := len(db.Blocks()); n != 4 {
		t.Fatalf("got %d blocks, want 4", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyTree copies the directory src into a new directory.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestTSDBInspect(t *testing.T) {
	dir := buildTSDB(t)
	for _, tc := range []struct {
		name, golden string
		args         []string
	}{
		{"text", "tsdb-inspect.golden", nil},
		{"json", "tsdb-inspect-json.golden", []string{"--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := tumblectl(t, "", append([]string{"tsdb", "inspect", dir}, tc.args...)...)
			if status != exitOK || stderr != "" {
				t.Fatalf("got status %d, stderr %q, want %d and none", status, stderr, exitOK)
			}
			golden(t, tc.golden, stdout)
		})
	}
	t.Run("json totals", func(t *testing.T) {
		_, stdout, _ := tumblectl(t, "", "tsdb", "inspect", "--json", dir)
		var rep inspectReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		// 1080 ticks of four series at 10s, 180 of one at 1m.
		if want := 4*1080 + 180; rep.Total.Points != want {
			t.Errorf("got %d points, want %d", rep.Total.Points, want)
		}
	})
}

// TestTSDBOpenErrors: inspect and dump neither create a directory, nor make
// a storage of one that is not, nor open one a process holds.
func TestTSDBOpenErrors(t *testing.T) {
	dir := buildTSDB(t)
	db, err := storage.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	missing, empty := filepath.Join(t.TempDir(), "none"), t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"inspect held", []string{"tsdb", "inspect", dir}, "a running process holds the storage"},
		{"dump held", []string{"tsdb", "dump", dir, "--match", "up"}, "a running process holds the storage"},
		{"inspect missing", []string{"tsdb", "inspect", missing}, "no such file or directory"},
		{"dump missing", []string{"tsdb", "dump", missing, "--match", "up"}, "no such file or directory"},
		{"verify missing", []string{"tsdb", "verify", missing}, "no such file or directory"},
		{"inspect not storage", []string{"tsdb", "inspect", empty}, "not a storage directory"},
		{"dump not storage", []string{"tsdb", "dump", empty, "--match", "up"}, "not a storage directory"},
		{"verify not storage", []string{"tsdb", "verify", empty}, "not a storage directory"},
		{"no directory", []string{"tsdb", "inspect"}, "want one storage directory"},
		{"dump no selector", []string{"tsdb", "dump", dir}, "--match is required"},
		{"dump bad selector", []string{"tsdb", "dump", dir, "--match", "up{"}, "parse --match"},
		{"dump bad time", []string{"tsdb", "dump", dir, "--match", "up", "--from", "yesterday"}, "want RFC 3339"},
		{"dump empty range", []string{"tsdb", "dump", dir, "--match", "up", "--from", "2000", "--to", "1000"}, "is after --to"},
		{"unknown subcommand", []string{"tsdb", "fsck", dir}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, stderr := tumblectl(t, "", tc.args...)
			if status != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("got status %d, stderr %q, want %d and %q", status, stderr, exitError, tc.want)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command created %s", missing)
	}
	if ents, _ := os.ReadDir(empty); len(ents) > 0 {
		t.Errorf("a command wrote into an empty directory: %v", ents)
	}
}

// walFrames returns the offsets of the frames of a WAL segment file.
func walFrames(t testing.TB, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(8); off+9 <= int64(len(b)); { // segment header; frame header
		offs = append(offs, off)
		off += 9 + int64(binary.LittleEndian.Uint32(b[off:])) + 4 // header, payload, CRC
	}
	return offs
}

// walSegments returns the paths of the WAL segments of a storage directory.
func walSegments(t testing.TB, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"))
	if err != nil || len(segs) < 2 {
		t.Fatalf("got WAL segments %v, %v, want two at least", segs, err)
	}
	return segs
}

// lastChunk returns the ref of the last chunk of a block.
func lastChunk(t testing.TB, dir string) uint64 {
	t.Helper()
	b, err := block.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := b.Index.AllPostings()
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, r := range refs {
		_, cms, err := b.Series(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cms {
			last = max(last, c.Ref)
		}
	}
	return last
}

// flipByte changes the byte at offset at of a file, or at len+at if at is
// negative.
func flipByte(t testing.TB, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBlock writes a block of one series with a point a minute in
// [mint, maxt), of policy pol, into dir/sub.
func writeBlock(t testing.TB, dir, sub string, mint, maxt int64, pol string) {
	t.Helper()
	a := chunkenc.NewAppender()
	n := 0
	for ts := mint; ts < maxt; ts += 60_000 {
		if err := a.Append(ts, float64(n), nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	s := block.Series{
		Labels: labels.FromStrings("__name__", "stray"),
		Chunks: []block.Chunk{{MinTime: a.MinTime(), MaxTime: a.MaxTime(), NumPoints: n, Bytes: a.Bytes()}},
	}
	name := strconv.FormatInt(mint, 10) + "-" + strconv.FormatInt(maxt, 10)
	if err := block.Write(filepath.Join(dir, sub), name, block.Meta{MinTime: mint, MaxTime: maxt, Policy: pol}, []block.Series{s}); err != nil {
		t.Fatal(err)
	}
}

func TestTSDBVerify(t *testing.T) {
	src := buildTSDB(t)
	blocks, err := filepath.Glob(filepath.Join(src, "10s_2d", "*"))
	if err != nil || len(blocks) != 2 {
		t.Fatalf("got blocks %v, %v, want 2", blocks, err)
	}
	blockName := filepath.Base(blocks[0])
	chunkRef := lastChunk(t, blocks[0])
	segs := walSegments(t, src)
	first, last := filepath.Base(segs[0]), filepath.Base(segs[len(segs)-1])
	firstFrames, lastFrames := walFrames(t, segs[0]), walFrames(t, segs[len(segs)-1])
	cutAt := firstFrames[len(firstFrames)-1] // the last frame of the first segment
	tornAt := lastFrames[len(lastFrames)-1]

	damageBlock := func(dir string) {
		flipByte(t, filepath.Join(dir, "10s_2d", blockName, block.ChunksFile), -1) // the last chunk's CRC
	}
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		status int
		want   []string // in stdout
	}{
		{name: "sound", damage: func(string) {}, status: exitOK, want: []string{": sound\n"}},
		{
			name: "corrupt",
			damage: func(dir string) {
				damageBlock(dir)
				if err := os.Truncate(filepath.Join(dir, "wal", first), cutAt+12); err != nil {
					t.Fatal(err)
				}
			},
			status: exitCorrupt,
			want: []string{
				"10s_2d/" + blockName + "/chunks at byte " + strconv.FormatUint(chunkRef, 10) + ": checksum mismatch",
				"wal/" + first + " at byte " + strconv.FormatInt(cutAt, 10) + ": segment ends inside a frame",
				": corruption found\n",
			},
		},
		{
			name: "torn tail",
			damage: func(dir string) {
				if err := os.Truncate(filepath.Join(dir, "wal", last), tornAt+5); err != nil {
					t.Fatal(err)
				}
			},
			status: exitOK,
			want:   []string{"torn tail: wal/" + last + " at byte " + strconv.FormatInt(tornAt, 10) + ": the 5 bytes", ": sound\n"},
		},
		{
			name: "set aside",
			damage: func(dir string) {
				// Open checks the index (this byte is in its symbols), not
				// the chunks.
				flipByte(t, filepath.Join(dir, "10s_2d", blockName, block.IndexFile), 10)
				db, err := storage.Open(dir, testOptions)
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
			},
			status: exitCorrupt,
			want:   []string{"10s_2d/" + blockName + ".corrupt: set aside by an earlier open; corrupt: 10s_2d/" + blockName + ".corrupt/index at byte 5, symbols section: checksum mismatch"},
		},
		{
			name: "overlaps and strays",
			damage: func(dir string) {
				writeBlock(t, dir, "10s_2d", t0+hourMs/2, t0+hourMs, "10s:2d")                 // inside the first block
				writeBlock(t, dir, "10s_2d", t0+hourMs/2, t0+3*hourMs/2, "10s:2d")             // across the first two
				writeBlock(t, dir, "1m_40d", t0+3*hourMs, t0+4*hourMs, "10s:2d")               // in the wrong directory
				if err := os.Mkdir(filepath.Join(dir, "1m_40d", "x.tmp"), 0o755); err != nil { // unfinished
					t.Fatal(err)
				}
			},
			status: exitCorrupt,
			want: []string{
				"inside 10s_2d/" + blockName + ", which a compaction wrote: the next open deletes it",
				"overlaps that of 10s_2d/" + blockName + ": the next open sets it aside",
				"meta.json says policy 10s:2d, in the directory of 1m:40d",
				"1m_40d/x.tmp: an unfinished block write",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, src)
			tc.damage(dir)
			status, stdout, stderr := tumblectl(t, "", "tsdb", "verify", dir)
			if status != tc.status || stderr != "" {
				t.Fatalf("got status %d, stderr %q, want %d and none; stdout:\n%s", status, stderr, tc.status, stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("report lacks %q:\n%s", w, stdout)
				}
			}
			golden(t, "tsdb-verify-"+strings.ReplaceAll(tc.name, " ", "-")+".golden", stdout)
		})
	}
}

// TestTSDBVerifyReadOnly: verify changes nothing, even in a damaged
// directory that the next Open would repair.
func TestTSDBVerifyReadOnly(t *testing.T) {
	dir := buildTSDB(t)
	segs := walSegments(t, dir)
	if err := os.Truncate(segs[0], 20); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "10s_2d", "0000000000000-0000003600000.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	tree := func() string {
		var b strings.Builder
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			b.WriteString(path + "\n")
			if !d.IsDir() {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				b.Write(data)
			}
			return nil
		})
		return b.String()
	}
	before := tree()
	if status, stdout, _ := tumblectl(t, "", "tsdb", "verify", dir); status != exitCorrupt {
		t.Errorf("got status %d, want %d:\n%s", status, exitCorrupt, stdout)
	}
	if tree() != before {
		t.Error("verify changed the directory")
	}
}

// dumped is a line of tsdb dump.
type dumped struct {
	Labels   map[string]string `json:"labels"`
	Policy   string            `json:"policy"`
	T        int64             `json:"t"`
	V        json.RawMessage   `json:"v"`
	Exemplar *struct {
		TraceID     string          `json:"trace_id"`
		Value       json.RawMessage `json:"value"`
		TimestampMs int64           `json:"timestamp_ms"`
	} `json:"exemplar"`
}

func TestTSDBDump(t *testing.T) {
	dir := buildTSDB(t)
	at := func(offMs int64) string { return strconv.FormatInt(t0+offMs, 10) }
	rfc := func(offMs int64) string { return time.UnixMilli(t0 + offMs).UTC().Format(time.RFC3339) }
	for _, tc := range []struct {
		name string
		args []string
	}{
		// Across the end of the second block, into the head.
		{"latency", []string{"--match", "http_latency_seconds", "--from", rfc(2*hourMs - 30_000), "--to", at(2*hourMs + 20_000)}},
		{"special values", []string{"--match", `{queue="<ingest>"}`, "--from", at(2*hourMs - 10_000), "--to", at(2*hourMs + 30_000)}},
		{"two policies", []string{"--match", `http_requests_total{route="/pay"}`, "--from", at(2*hourMs - 60_000), "--to", at(2*hourMs + 60_000)}},
		{"one policy", []string{"--match", `{__policy__=~"1m:.*"}`, "--from", at(hourMs - 60_000), "--to", at(hourMs + 60_000)}},
		{"nothing", []string{"--match", "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := tumblectl(t, "", append([]string{"tsdb", "dump", dir}, tc.args...)...)
			if status != exitOK {
				t.Fatalf("got status %d, want %d; stderr:\n%s", status, exitOK, stderr)
			}
			golden(t, "tsdb-dump-"+strings.ReplaceAll(tc.name, " ", "-")+".golden", stdout)
		})
	}

	// All of it: every point once per policy, each latency point with the
	// exemplar of its window.
	status, stdout, stderr := tumblectl(t, "", "tsdb", "dump", dir, "--match", `{__name__=~".+"}`)
	if status != exitOK {
		t.Fatalf("dump all: got status %d, want %d; stderr:\n%s", status, exitOK, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if want := 4*1080 + 180; len(lines) != want {
		t.Fatalf("dump all: got %d points, want %d", len(lines), want)
	}
	if !strings.HasSuffix(stderr, "tsdb dump: "+strconv.Itoa(len(lines))+" points\n") {
		t.Errorf("dump all: stderr lacks the count: %q", stderr)
	}
	exemplars := 0
	for i, l := range lines {
		var d dumped
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		isLat := d.Labels["__name__"] == "http_latency_seconds"
		if (d.Exemplar != nil) != isLat {
			t.Fatalf("line %d: exemplar on the wrong series: %s", i+1, l)
		}
		if !isLat {
			continue
		}
		exemplars++
		tick := (d.T - t0) / 10_000
		want := ""
		if tick%10 != 0 {
			want = fmt.Sprintf("ab%030x", tick)
		}
		if e := d.Exemplar; e.TimestampMs != d.T-exemplarLag || e.TraceID != want || !bytes.Equal(e.Value, d.V) {
			t.Fatalf("line %d: got exemplar %+v, want trace %q at %d with the point's value: %s", i+1, *e, want, d.T-exemplarLag, l)
		}
	}
	if exemplars != 1080 {
		t.Errorf("got %d exemplars, want 1080", exemplars)
	}
}
