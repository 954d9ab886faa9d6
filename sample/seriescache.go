package sample

import (
	"hash/maphash"

	"github.com/cespare/xxhash/v2"

	"github.com/tumblemetrics/tumble/internal/hashtab"
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
	cur, prev    hashtab.Table[cachedSeries]
	hits, misses int
	points       []int32 // the Point messages of the Series being decoded: start, end
}

// cachedSeries is a series as its samples share it.
type cachedSeries struct {
	name   string
	labels Labels
	key    SeriesKey // zero unless the cache is keyed
}

func (c *seriesCache) useful() bool { return c.size > 0 || c.misses < 64 || c.hits >= c.misses }

// hash returns the hashes of head, the bytes of a series' name and label
// fields.
func (c *seriesCache) hash(head []byte) hashtab.Key {
	if c.seed == (maphash.Seed{}) { // a record's cache: seeded on first use
		c.seed = maphash.MakeSeed()
	}
	return hashtab.Key{H: xxhash.Sum64(head), Check: maphash.Bytes(c.seed, head)}
}

// get returns the series of hashes k.
func (c *seriesCache) get(k hashtab.Key) (cachedSeries, bool) {
	if v, ok := c.cur.Get(k); ok {
		c.hits++
		return v, true
	}
	if v, ok := c.prev.Get(k); ok {
		c.hits++
		c.turnover()
		c.cur.Put(k, v)
		return v, true
	}
	c.misses++
	return cachedSeries{}, false
}

// put remembers the series name, labels by the hashes k of its name and
// label fields, and returns its Key (zero unless the cache is keyed).
func (c *seriesCache) put(k hashtab.Key, name string, labels Labels) SeriesKey {
	v := cachedSeries{name: name, labels: labels}
	if c.keyed {
		v.key.ID, v.key.Check = labels.hashes(name, &c.seed)
	}
	c.turnover()
	c.cur.Put(k, v)
	return v.key
}

// turnover makes room in a bounded cache: when the current generation is
// full, it becomes the previous one, and the previous one is dropped.
func (c *seriesCache) turnover() {
	if c.size > 0 && c.cur.Len() >= c.size {
		c.prev.Clear()
		c.prev, c.cur = c.cur, c.prev
	}
}
