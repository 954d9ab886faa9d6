package storage

import (
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// memSeries is one series of the head: its chunks not yet in a block, sorted
// by time and disjoint. A chunk never spans two block ranges, so cutting a
// block takes whole chunks. The last chunk may be open (it has an appender).
type memSeries struct {
	ref  uint64
	lset labels.Labels

	mu     sync.Mutex // guards chunks and their contents
	chunks []*memChunk
}

type memChunk struct {
	minT, maxT int64
	n          int
	b          []byte             // the encoded chunk, when closed
	app        *chunkenc.Appender // when open
}

// bytes returns the encoded chunk; the slice is never written again.
func (c *memChunk) bytes() []byte {
	if c.app != nil {
		return c.app.Bytes()
	}
	return c.b
}

// outcome is what appending a point did.
type outcome uint8

const (
	added       outcome = iota
	duplicate           // the same point was there: nothing changed
	overwritten         // a different point with that timestamp was replaced
)

// point is a decoded point of a chunk.
type point struct {
	t     int64
	v     float64
	hasEx bool
	ex    chunkenc.Exemplar
}

func (p *point) exemplar() *chunkenc.Exemplar {
	if p.hasEx {
		return &p.ex
	}
	return nil
}

// same reports whether p and q are the same point, bit for bit.
func (p *point) same(q *point) bool {
	if math.Float64bits(p.v) != math.Float64bits(q.v) || p.hasEx != q.hasEx {
		return false
	}
	return !p.hasEx || p.ex.TraceID == q.ex.TraceID && p.ex.TimestampMs == q.ex.TimestampMs &&
		math.Float64bits(p.ex.Value) == math.Float64bits(q.ex.Value)
}

// geometry is what a series needs to know to cut its chunks.
type geometry struct {
	blockMs     int64 // chunks never span a multiple of it
	chunkPoints int   // a chunk with this many points is closed
}

func (g geometry) blockOf(t int64) int64 {
	b := t / g.blockMs
	if t%g.blockMs < 0 {
		b--
	}
	return b
}

// append adds p to the series, in time order: after the last point it is
// appended to the open chunk; before it, the chunk where it belongs is
// re-encoded with it.
func (s *memSeries) append(p *point, g geometry) (outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.chunks)
	if n == 0 || p.t > s.chunks[n-1].maxT {
		return added, s.appendLast(p, g)
	}
	i := sort.Search(n, func(i int) bool { return s.chunks[i].maxT >= p.t })
	c := s.chunks[i]
	switch {
	case c.minT <= p.t, g.blockOf(c.minT) == g.blockOf(p.t):
		return s.rewrite(i, p)
	case i > 0 && g.blockOf(s.chunks[i-1].maxT) == g.blockOf(p.t):
		return s.rewrite(i-1, p)
	}
	// Alone in its block range so far: a chunk of its own.
	nc, err := encodeChunk([]point{*p}, false)
	if err != nil {
		return added, err
	}
	s.chunks = slices.Insert(s.chunks, i, nc)
	return added, nil
}

func (s *memSeries) appendLast(p *point, g geometry) error {
	if n := len(s.chunks); n > 0 {
		last := s.chunks[n-1]
		if last.app != nil && last.n < g.chunkPoints && g.blockOf(last.minT) == g.blockOf(p.t) {
			err := last.app.Append(p.t, p.v, p.exemplar())
			if err == nil {
				last.maxT, last.n = p.t, last.n+1
				return nil
			}
			if err != chunkenc.ErrFull {
				return err
			}
		}
		if last.app != nil {
			last.b, last.app = last.app.Bytes(), nil
		}
	}
	c, err := encodeChunk([]point{*p}, true)
	if err != nil {
		return err
	}
	s.chunks = append(s.chunks, c)
	return nil
}

// rewrite puts p into chunk i, which spans p's time or is next to it in the
// same block range, by decoding and re-encoding the chunk.
func (s *memSeries) rewrite(i int, p *point) (outcome, error) {
	c := s.chunks[i]
	pts, err := decodePoints(c.bytes(), nil)
	if err != nil {
		return added, err
	}
	j, found := sort.Find(len(pts), func(j int) int {
		switch {
		case p.t < pts[j].t:
			return -1
		case p.t > pts[j].t:
			return 1
		}
		return 0
	})
	res := added
	switch {
	case found && pts[j].same(p):
		return duplicate, nil
	case found:
		pts[j], res = *p, overwritten
	default:
		pts = slices.Insert(pts, j, *p)
	}
	nc, err := encodeChunk(pts, c.app != nil)
	if err != nil {
		return added, err
	}
	s.chunks[i] = nc
	return res, nil
}

// encodeChunk encodes pts, sorted, into a chunk, open if asked.
func encodeChunk(pts []point, open bool) (*memChunk, error) {
	app := chunkenc.NewAppender()
	for k := range pts {
		if err := app.Append(pts[k].t, pts[k].v, pts[k].exemplar()); err != nil {
			return nil, err
		}
	}
	c := &memChunk{minT: pts[0].t, maxT: pts[len(pts)-1].t, n: len(pts), app: app}
	if !open {
		c.b, c.app = app.Bytes(), nil
	}
	return c, nil
}

// decodePoints appends the points of an encoded chunk to dst.
func decodePoints(b []byte, dst []point) ([]point, error) {
	ch, err := chunkenc.Decode(b)
	if err != nil {
		return dst, err
	}
	it := ch.Iterator(nil)
	for it.Next() {
		var p point
		p.t, p.v = it.At()
		p.ex, p.hasEx = it.Exemplar()
		dst = append(dst, p)
	}
	return dst, it.Err()
}

// chunkRef is a head chunk as a reader sees it: immutable bytes.
type chunkRef struct {
	minT, maxT int64
	n          int
	b          []byte
}

// read appends the chunks overlapping [mint, maxt] to dst.
func (s *memSeries) read(mint, maxt int64, dst []chunkRef) []chunkRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.chunks {
		if c.maxT >= mint && c.minT <= maxt {
			dst = append(dst, chunkRef{minT: c.minT, maxT: c.maxT, n: c.n, b: c.bytes()})
		}
	}
	return dst
}

// takeBefore returns the chunks entirely before t (closing an open one),
// leaving them in place.
func (s *memSeries) takeBefore(t int64) []chunkRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chunkRef
	for _, c := range s.chunks {
		if c.maxT >= t {
			break
		}
		out = append(out, chunkRef{minT: c.minT, maxT: c.maxT, n: c.n, b: c.bytes()})
	}
	return out
}

// dropBefore removes the chunks entirely before t and reports whether the
// series is left empty.
func (s *memSeries) dropBefore(t int64) (empty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for k < len(s.chunks) && s.chunks[k].maxT < t {
		k++
	}
	s.chunks = slices.Delete(s.chunks, 0, k)
	return len(s.chunks) == 0
}
