package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// The on-disk format is described in FORMAT.md.
const (
	magic     = "TMBX"
	version   = 1
	nSections = 3 // symbols, series, postings
	tocSize   = nSections*(8+8+4) + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Series is one series of an index file: its labels and an opaque payload
// (the block keeps the references of the series' chunks there).
type Series struct {
	Labels labels.Labels
	Meta   []byte
}

// Encode returns the index file of series; series i gets ref i.
func Encode(series []Series) []byte {
	syms := map[string]uint32{}
	series0 := func(f func(labels.Label)) {
		for _, s := range series {
			s.Labels.Range(f)
		}
	}
	series0(func(l labels.Label) { syms[l.Name], syms[l.Value] = 0, 0 })
	symList := make([]string, 0, len(syms))
	for s := range syms {
		symList = append(symList, s)
	}
	sort.Strings(symList)
	for i, s := range symList {
		syms[s] = uint32(i)
	}

	b := []byte(magic)
	b = append(b, version)
	var offs [nSections][2]uint64
	start := func(i int) { offs[i][0] = uint64(len(b)) }
	end := func(i int) { offs[i][1] = uint64(len(b)) - offs[i][0] }

	start(0)
	b = binary.AppendUvarint(b, uint64(len(symList)))
	for _, s := range symList {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	end(0)

	start(1)
	post := NewMemPostings()
	b = binary.AppendUvarint(b, uint64(len(series)))
	for i, s := range series {
		b = binary.AppendUvarint(b, uint64(s.Labels.Len()))
		s.Labels.Range(func(l labels.Label) {
			b = binary.AppendUvarint(b, uint64(syms[l.Name]))
			b = binary.AppendUvarint(b, uint64(syms[l.Value]))
		})
		b = binary.AppendUvarint(b, uint64(len(s.Meta)))
		b = append(b, s.Meta...)
		post.Add(uint64(i), s.Labels)
	}
	end(1)

	start(2)
	type pair struct{ name, value string }
	var pairs []pair
	for n, vals := range post.m {
		for v := range vals {
			pairs = append(pairs, pair{n, v})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	b = binary.AppendUvarint(b, uint64(len(pairs)))
	for _, p := range pairs {
		refs := post.m[p.name][p.value]
		b = binary.AppendUvarint(b, uint64(syms[p.name]))
		b = binary.AppendUvarint(b, uint64(syms[p.value]))
		b = binary.AppendUvarint(b, uint64(len(refs)))
		prev := uint64(0)
		for _, r := range refs {
			b = binary.AppendUvarint(b, r-prev)
			prev = r
		}
	}
	end(2)

	tocStart := len(b)
	for i := range nSections {
		b = binary.BigEndian.AppendUint64(b, offs[i][0])
		b = binary.BigEndian.AppendUint64(b, offs[i][1])
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b[offs[i][0]:offs[i][0]+offs[i][1]], castagnoli))
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b[tocStart:], castagnoli))
	return append(b, magic...)
}

// CorruptionError is an index file that fails a check: a checksum, a bound,
// a reference out of range.
type CorruptionError struct {
	File    string
	Section string // "header", "toc", "symbols", "series" or "postings"
	Offset  int64  // byte offset in the file where decoding failed
	Err     error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corrupt index %s: %s section at byte %d: %v", e.File, e.Section, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

var errTruncated = errors.New("truncated")

// DiskReader reads an index file held in memory. It is immutable and safe
// for concurrent use.
type DiskReader struct {
	b        []byte
	file     string
	symbols  []string
	series   []int // offset of each series' entry in b
	postings map[string]map[string]plist
	names    []string
}

// plist locates one postings list in the file.
type plist struct {
	off int // offset of the first delta
	n   int
}

var _ Reader = (*DiskReader)(nil)

// decoder reads uvarints from b, tracking the offset for errors.
type decoder struct {
	b    []byte
	off  int
	end  int
	err  error
	sect string
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:d.end])
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.off += n
	return v
}

// count reads a count of items of at least min bytes each that must fit in
// what is left of the section.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64((d.end-d.off)/min) {
		d.err = fmt.Errorf("count %d exceeds the %d bytes left", v, d.end-d.off)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.end-d.off) {
		d.err = fmt.Errorf("length %d exceeds the %d bytes left", n, d.end-d.off)
		return nil
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

// Decode checks and opens the index file b; file names it in errors. b must
// stay unmodified while the reader is used.
func Decode(file string, b []byte) (*DiskReader, error) {
	corrupt := func(sect string, off int, err error) error {
		return &CorruptionError{File: file, Section: sect, Offset: int64(off), Err: err}
	}
	if len(b) < len(magic)+1+tocSize+len(magic) || string(b[:len(magic)]) != magic || string(b[len(b)-len(magic):]) != magic {
		return nil, corrupt("header", 0, errors.New("not an index file: bad magic or too short"))
	}
	if b[len(magic)] != version {
		return nil, corrupt("header", len(magic), fmt.Errorf("unknown version %d", b[len(magic)]))
	}
	tocStart := len(b) - len(magic) - tocSize
	toc := b[tocStart : len(b)-len(magic)]
	if crc32.Checksum(toc[:tocSize-4], castagnoli) != binary.BigEndian.Uint32(toc[tocSize-4:]) {
		return nil, corrupt("toc", tocStart, errors.New("checksum mismatch"))
	}
	names := [nSections]string{"symbols", "series", "postings"}
	var sect [nSections][2]int
	for i := range nSections {
		e := toc[i*20:]
		off, n := binary.BigEndian.Uint64(e), binary.BigEndian.Uint64(e[8:])
		if off < uint64(len(magic)+1) || off > uint64(tocStart) || n > uint64(tocStart)-off {
			return nil, corrupt("toc", tocStart+i*20, fmt.Errorf("%s section [%d, +%d) is out of the file", names[i], off, n))
		}
		if crc32.Checksum(b[off:off+n], castagnoli) != binary.BigEndian.Uint32(e[16:]) {
			return nil, corrupt(names[i], int(off), errors.New("checksum mismatch"))
		}
		sect[i] = [2]int{int(off), int(off + n)}
	}
	r := &DiskReader{b: b, file: file, postings: map[string]map[string]plist{}}

	d := &decoder{b: b, off: sect[0][0], end: sect[0][1], sect: names[0]}
	n := d.count(1)
	r.symbols = make([]string, 0, n)
	for range n {
		r.symbols = append(r.symbols, string(d.bytes(d.uvarint())))
	}
	if d.err != nil {
		return nil, corrupt(d.sect, d.off, d.err)
	}
	sym := func(d *decoder) string {
		i := d.uvarint()
		if d.err == nil && i >= uint64(len(r.symbols)) {
			d.err = fmt.Errorf("symbol %d of %d", i, len(r.symbols))
		}
		if d.err != nil {
			return ""
		}
		return r.symbols[i]
	}

	d = &decoder{b: b, off: sect[1][0], end: sect[1][1], sect: names[1]}
	n = d.count(2)
	r.series = make([]int, 0, n)
	for range n {
		r.series = append(r.series, d.off)
		for range d.count(2) {
			sym(d)
			sym(d)
		}
		d.bytes(d.uvarint())
		if d.err != nil {
			return nil, corrupt(d.sect, d.off, d.err)
		}
	}

	d = &decoder{b: b, off: sect[2][0], end: sect[2][1], sect: names[2]}
	n = d.count(3)
	for range n {
		name, value := sym(d), sym(d)
		cnt := d.count(1)
		off := d.off
		prev := uint64(0)
		for k := range cnt {
			delta := d.uvarint()
			prev += delta
			switch {
			case d.err != nil:
			case k > 0 && delta == 0:
				d.err = fmt.Errorf("series ref %d listed twice", prev)
			case prev >= uint64(len(r.series)) || prev < delta:
				d.err = fmt.Errorf("series ref %d of %d", prev, len(r.series))
			}
		}
		if d.err != nil {
			return nil, corrupt(d.sect, d.off, d.err)
		}
		vals := r.postings[name]
		if vals == nil {
			vals = map[string]plist{}
			r.postings[name] = vals
			r.names = append(r.names, name)
		}
		vals[value] = plist{off: off, n: cnt}
	}
	sort.Strings(r.names)
	return r, nil
}

// NumSeries returns the number of series in the index.
func (r *DiskReader) NumSeries() int { return len(r.series) }

// Series returns the labels and payload of series ref.
func (r *DiskReader) Series(ref uint64) (labels.Labels, []byte, error) {
	if ref >= uint64(len(r.series)) {
		return labels.EmptyLabels(), nil, fmt.Errorf("read series %d of index %s: only %d series", ref, r.file, len(r.series))
	}
	end := len(r.b)
	d := &decoder{b: r.b, off: r.series[ref], end: end}
	var lb labels.ScratchBuilder
	for range d.count(2) {
		n, v := r.symbols[d.uvarint()], r.symbols[d.uvarint()] // checked by Decode
		lb.Add(n, v)
	}
	meta := d.bytes(d.uvarint())
	return lb.Labels(), meta, d.err
}

// Postings implements Reader.
func (r *DiskReader) Postings(name string, values ...string) ([]uint64, error) {
	vals := r.postings[name]
	var lists [][]uint64
	for _, v := range values {
		pl, ok := vals[v]
		if !ok || pl.n == 0 {
			continue
		}
		l := make([]uint64, 0, pl.n)
		d := &decoder{b: r.b, off: pl.off, end: len(r.b)}
		prev := uint64(0)
		for range pl.n {
			prev += d.uvarint()
			l = append(l, prev)
		}
		lists = append(lists, l)
	}
	return union(lists), nil
}

// LabelValues implements Reader.
func (r *DiskReader) LabelValues(name string) ([]string, error) {
	vals := r.postings[name]
	out := make([]string, 0, len(vals))
	for v := range vals {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// LabelNames returns the label names of the index, sorted.
func (r *DiskReader) LabelNames() []string { return r.names }

// AllPostings implements Reader.
func (r *DiskReader) AllPostings() ([]uint64, error) {
	out := make([]uint64, len(r.series))
	for i := range out {
		out[i] = uint64(i)
	}
	return out, nil
}
