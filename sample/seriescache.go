package sample

import (
	"hash/maphash"

	"github.com/cespare/xxhash/v2"
)

// seriesCache holds the names and label sets of series by the bytes of
// their name and label fields, when those come first in their message (as
// AppendProto and most encoders write them): samples often repeat a series,
// within a record and from record to record, and then share its decoded
// name and labels instead of decoding, checking and copying them again.
//
// A series is found by two hashes of those bytes, an xxhash and a hash
// under a seed of its own (together 128 bits, the second unknown outside
// the process), never by comparing the bytes: a series is then one probe
// of a table, and the cache keeps no copy of its fields.
//
// The cache of one record (size 0) gives up on a record whose series
// rarely repeat; a Decoder's keeps two generations of size series each,
// and gives each series its Key.
type seriesCache struct {
	size         int
	keyed        bool // a Decoder's: series get their Key
	seed         maphash.Seed
	seeded       bool
	cur, prev    seriesTable
	hits, misses int
	points       []int32 // the Point messages of the Series being decoded: start, end
}

// cachedSeries is a series as its samples share it.
type cachedSeries struct {
	name   string
	labels Labels
	key    SeriesKey // zero unless the cache is keyed
}

// headHash is the pair of hashes that finds a series in the cache.
type headHash struct{ h, check uint64 }

func (c *seriesCache) useful() bool { return c.size > 0 || c.misses < 64 || c.hits >= c.misses }

// hash returns the hashes of head, the bytes of a series' name and label
// fields.
func (c *seriesCache) hash(head []byte) headHash {
	if !c.seeded {
		c.seed, c.seeded = maphash.MakeSeed(), true
	}
	return headHash{xxhash.Sum64(head), maphash.Bytes(c.seed, head)}
}

// get returns the series of hashes k.
func (c *seriesCache) get(k headHash) (cachedSeries, bool) {
	if sl := c.cur.get(k); sl != nil {
		c.hits++
		return sl.series, true
	}
	if sl := c.prev.get(k); sl != nil {
		c.hits++
		v := sl.series
		c.turnover()
		c.cur.put(k, v)
		return v, true
	}
	c.misses++
	return cachedSeries{}, false
}

// put remembers the series name, labels by the hashes k of its name and
// label fields, and returns its Key (zero unless the cache is keyed).
func (c *seriesCache) put(k headHash, name string, labels Labels) SeriesKey {
	v := cachedSeries{name: name, labels: labels}
	if c.keyed {
		v.key.ID, v.key.Check = labels.hashes(name, &c.seed)
	}
	c.turnover()
	c.cur.put(k, v)
	return v.key
}

// turnover makes room in a bounded cache: when the current generation is
// full, it becomes the previous one, and the previous one is dropped.
func (c *seriesCache) turnover() {
	if c.size > 0 && c.cur.n >= c.size {
		c.prev.clear()
		c.prev, c.cur = c.cur, c.prev
	}
}

// seriesTable is one generation of a seriesCache: an open-addressing table
// with linear probing, at most half full, so that finding a series is
// mostly one cache line.
type seriesTable struct {
	slots []seriesSlot
	n     int
}

type seriesSlot struct {
	k      headHash
	full   bool
	series cachedSeries
}

func (t *seriesTable) get(k headHash) *seriesSlot {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		switch {
		case !sl.full:
			return nil
		case sl.k == k:
			return sl
		}
	}
}

// put adds or replaces the series of hashes k.
func (t *seriesTable) put(k headHash, v cachedSeries) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots, t.n = make([]seriesSlot, max(16, 2*len(old))), 0
		for i := range old {
			if old[i].full {
				t.put(old[i].k, old[i].series)
			}
		}
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if !sl.full {
			*sl = seriesSlot{k: k, full: true, series: v}
			t.n++
			return
		}
		if sl.k == k {
			sl.series = v
			return
		}
	}
}

// clear empties t, keeping its slots.
func (t *seriesTable) clear() {
	clear(t.slots)
	t.n = 0
}
