package storage

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// seriesSet is the result of a Select.
type seriesSet struct {
	sel        []*selected
	mint, maxt int64
	i          int
}

func (s *seriesSet) Next() bool {
	s.i++
	return s.i < len(s.sel)
}

func (s *seriesSet) At() promstorage.Series {
	return &series{sel: s.sel[s.i], mint: s.mint, maxt: s.maxt}
}

func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

type series struct {
	sel        *selected
	mint, maxt int64
}

func (s *series) Labels() labels.Labels { return s.sel.lset }

func (s *series) Iterator(reuse promchunkenc.Iterator) promchunkenc.Iterator {
	it, ok := reuse.(*seriesIterator)
	if !ok {
		it = &seriesIterator{}
	}
	it.reset(s.sel.chunks, s.mint, s.maxt)
	return it
}

// seriesIterator walks the points of a series' chunks in [mint, maxt],
// decoding each chunk as it reaches it. A chunk that fails its checksum or
// does not decode stops the iteration with the error: never a wrong value.
type seriesIterator struct {
	chunks     []chunkSource
	mint, maxt int64
	next       int // the chunk to open after cur
	cur        *chunkenc.Iterator
	it         chunkenc.Iterator // reused for every chunk
	t          int64
	v          float64
	err        error
}

var _ promchunkenc.Iterator = (*seriesIterator)(nil)

func (it *seriesIterator) reset(chunks []chunkSource, mint, maxt int64) {
	*it = seriesIterator{chunks: chunks, mint: mint, maxt: maxt, it: it.it}
}

// open moves to the next chunk that may hold points at or after t.
func (it *seriesIterator) open(t int64) bool {
	for it.next < len(it.chunks) {
		c := &it.chunks[it.next]
		it.next++
		if c.maxT < t {
			continue
		}
		if c.minT > it.maxt {
			break
		}
		b, err := c.bytes()
		if err == nil {
			var ch *chunkenc.Chunk
			if ch, err = chunkenc.Decode(b); err == nil {
				it.cur = ch.Iterator(&it.it)
				return true
			}
		}
		it.err = err
		break
	}
	it.cur, it.next = nil, len(it.chunks)
	return false
}

func (it *seriesIterator) Next() promchunkenc.ValueType {
	if it.err != nil {
		return promchunkenc.ValNone
	}
	for {
		if it.cur == nil && !it.open(it.mint) {
			return promchunkenc.ValNone
		}
		if it.cur.Next() {
			t, v := it.cur.At()
			if t < it.mint {
				continue
			}
			if t > it.maxt {
				it.cur, it.next = nil, len(it.chunks)
				return promchunkenc.ValNone
			}
			it.t, it.v = t, v
			return promchunkenc.ValFloat
		}
		if err := it.cur.Err(); err != nil {
			it.err = err
			return promchunkenc.ValNone
		}
		it.cur = nil
	}
}

func (it *seriesIterator) Seek(t int64) promchunkenc.ValueType {
	if it.err != nil {
		return promchunkenc.ValNone
	}
	if it.cur != nil && it.t >= t {
		return promchunkenc.ValFloat
	}
	t = max(t, it.mint)
	for {
		if it.cur == nil && !it.open(t) {
			return promchunkenc.ValNone
		}
		if it.cur.SeekTime(t) {
			pt, v := it.cur.At()
			if pt > it.maxt {
				it.cur, it.next = nil, len(it.chunks)
				return promchunkenc.ValNone
			}
			it.t, it.v = pt, v
			return promchunkenc.ValFloat
		}
		if err := it.cur.Err(); err != nil {
			it.err = err
			return promchunkenc.ValNone
		}
		it.cur = nil
	}
}

func (it *seriesIterator) At() (int64, float64) { return it.t, it.v }

func (it *seriesIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.t, nil
}

func (it *seriesIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.t, nil
}

func (it *seriesIterator) AtT() int64  { return it.t }
func (it *seriesIterator) AtST() int64 { return 0 }
func (it *seriesIterator) Err() error  { return it.err }
