package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func testSeries() []Series {
	var ss []Series
	for _, svc := range []string{"cart", "checkout", "search"} {
		for _, route := range []string{"/", "/pay", "/list"} {
			for _, env := range []string{"prod", "dev", ""} {
				b := labels.NewScratchBuilder(4)
				b.Add("__name__", "http_requests")
				if env != "" {
					b.Add("env", env)
				}
				b.Add("route", route)
				b.Add("service", svc)
				ss = append(ss, Series{Labels: b.Labels(), Meta: []byte(svc + route + env)})
			}
		}
	}
	return ss
}

// readers returns the same index in memory and decoded from disk: every
// test body runs against both.
func readers(t *testing.T, ss []Series) map[string]Reader {
	t.Helper()
	mem := NewMemPostings()
	for i, s := range ss {
		mem.Add(uint64(i), s.Labels)
	}
	disk, err := Decode("test.idx", Encode(ss))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Reader{"mem": mem, "disk": disk}
}

func TestSelect(t *testing.T) {
	ss := testSeries()
	for _, tc := range []struct {
		name string
		ms   []*labels.Matcher
	}{
		{"equal", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service", "checkout")}},
		{"equal and regexp", []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, "service", "checkout"),
			labels.MustNewMatcher(labels.MatchRegexp, "route", "/pay|/list"),
		}},
		{"not equal", []*labels.Matcher{labels.MustNewMatcher(labels.MatchNotEqual, "env", "prod")}},
		{"not regexp", []*labels.Matcher{labels.MustNewMatcher(labels.MatchNotRegexp, "service", "c.*")}},
		{"empty matches absent", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "env", "")}},
		{"not empty needs presence", []*labels.Matcher{labels.MustNewMatcher(labels.MatchNotEqual, "env", "")}},
		{"regexp matching empty", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "env", "dev|")}},
		{"unknown label", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "zone", "a")}},
		{"unknown value", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service", "nope")}},
		{"name and negations", []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, "__name__", "http_requests"),
			labels.MustNewMatcher(labels.MatchNotEqual, "route", "/"),
			labels.MustNewMatcher(labels.MatchNotRegexp, "env", "prod|dev"),
		}},
	} {
		// The reference: every series checked against every matcher.
		var want []uint64
		for i, s := range ss {
			ok := true
			for _, m := range tc.ms {
				ok = ok && m.Matches(s.Labels.Get(m.Name))
			}
			if ok {
				want = append(want, uint64(i))
			}
		}
		for kind, r := range readers(t, ss) {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				got, err := Select(r, tc.ms...)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	}
}

func TestDiskSeries(t *testing.T) {
	ss := testSeries()
	r, err := Decode("test.idx", Encode(ss))
	if err != nil {
		t.Fatal(err)
	}
	if r.NumSeries() != len(ss) {
		t.Fatalf("got %d series, want %d", r.NumSeries(), len(ss))
	}
	for i, s := range ss {
		ls, meta, err := r.Series(uint64(i))
		if err != nil || !labels.Equal(ls, s.Labels) || string(meta) != string(s.Meta) {
			t.Fatalf("series %d: got %s %q %v, want %s %q", i, ls, meta, err, s.Labels, s.Meta)
		}
	}
	if got, want := r.LabelNames(), []string{"__name__", "env", "route", "service"}; !slices.Equal(got, want) {
		t.Errorf("label names: got %v, want %v", got, want)
	}
}

// TestCorruption: every flipped byte and every truncation is either caught
// as a CorruptionError or, where it cannot be told (a flip the checksums
// cover is always told), never panics.
func TestCorruption(t *testing.T) {
	b := Encode(testSeries())
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x40
		_, err := Decode("x.idx", c)
		var ce *CorruptionError
		if !errors.As(err, &ce) {
			t.Fatalf("byte %d flipped: got %v, want a CorruptionError", i, err)
		}
	}
	for n := range len(b) {
		if _, err := Decode("x.idx", b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(testSeries()), false)
	f.Add(Encode(testSeries()), true)
	f.Add(Encode(nil), false)
	f.Add([]byte("TMBX"), false)
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		if seal {
			b = reseal(b)
		}
		r, err := Decode("fuzz.idx", b)
		if err != nil {
			return
		}
		for _, n := range r.LabelNames() {
			vals, _ := r.LabelValues(n)
			if _, err := r.Postings(n, vals...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range r.NumSeries() {
			if _, _, err := r.Series(uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = Select(r, labels.MustNewMatcher(labels.MatchRegexp, "a", ".+"))
	})
}

// reseal returns a copy of the index file b with the checksums of its
// table of contents, and of every section the table places inside the file,
// made to match, so that mutations of the sections reach the decoder behind
// the checksums.
func reseal(b []byte) []byte {
	b = slices.Clone(b)
	if len(b) < len(magic)+1+tocSize+len(magic) {
		return b
	}
	tocStart := len(b) - len(magic) - tocSize
	toc := b[tocStart : len(b)-len(magic)]
	for i := range nSections {
		e := toc[i*20:]
		off, n := binary.BigEndian.Uint64(e), binary.BigEndian.Uint64(e[8:])
		if off <= uint64(tocStart) && n <= uint64(tocStart)-off {
			binary.BigEndian.PutUint32(e[16:], crc32.Checksum(b[off:off+n], castagnoli))
		}
	}
	binary.BigEndian.PutUint32(toc[tocSize-4:], crc32.Checksum(toc[:tocSize-4], castagnoli))
	return b
}

func BenchmarkSelect(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	mem := NewMemPostings()
	var ss []Series
	for i := range 100_000 {
		ls := labels.FromStrings("__name__", "x", "service", fmt.Sprintf("svc%d", i%100), "pod", fmt.Sprintf("pod%d", r.IntN(5000)))
		mem.Add(uint64(i), ls)
		ss = append(ss, Series{Labels: ls})
	}
	disk, err := Decode("bench.idx", Encode(ss))
	if err != nil {
		b.Fatal(err)
	}
	ms := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"),
		labels.MustNewMatcher(labels.MatchRegexp, "service", "svc1.*"),
		labels.MustNewMatcher(labels.MatchNotEqual, "pod", "pod7"),
	}
	for name, rd := range map[string]Reader{"mem": mem, "disk": disk} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Select(rd, ms...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
