package remotewrite

import (
	"hash/maphash"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/tumblemetrics/tumble/internal/hashtab"
	"github.com/tumblemetrics/tumble/sample"
)

// DefaultKnownSeries is how many series a Decoder remembers per generation
// (see knownSeries).
const DefaultKnownSeries = 1 << 17

// knownSeries remembers the series a Decoder found valid, by two hashes of
// the bytes of their label fields as a request sends them (an xxhash and
// one under a seed of its own: 128 bits, the second unknown outside the
// process), in two generations of at most size series each. A series sent
// again, label for label the same bytes, is not checked or hashed again.
// It keeps a series' keys only, under 200 bytes a series: its labels are
// the request's. Remembering holds for one set of limits: other limits
// forget everything. Any goroutine may use it.
type knownSeries struct {
	seed maphash.Seed
	size int

	mu        sync.RWMutex
	limits    sample.Limits // that the series were checked against
	cur, prev hashtab.Table[known]
}

// known is one series remembered: valid under the limits.
type known struct {
	key sample.SeriesKey
	sk  uint64 // seriesKey of the series as sent, for exemplars
}

func newKnownSeries(size int) *knownSeries {
	return &knownSeries{seed: maphash.MakeSeed(), size: size}
}

// hash returns the hashes of the label fields b.
func (k *knownSeries) hash(b string) hashtab.Key {
	return hashtab.Key{H: xxhash.Sum64String(b), Check: maphash.String(k.seed, b)}
}

// lookup returns the series of hashes h checked under limits, or nil, and
// whether it was found in the previous generation, which it leaves when the
// current one is full: remember it again to keep it.
func (k *knownSeries) lookup(h hashtab.Key, limits sample.Limits) (s known, found, old bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.limits != limits {
		return s, false, false
	}
	if s, ok := k.cur.Get(h); ok {
		return s, true, false
	}
	s, ok := k.prev.Get(h)
	return s, ok, ok
}

// remember records series found valid under limits, and moves those found
// in the previous generation to the current one.
func (k *knownSeries) remember(limits sample.Limits, hs []hashtab.Key, ss []known) {
	if len(hs) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limits != limits {
		k.limits = limits
		k.cur.Clear()
		k.prev.Clear()
	}
	for i, h := range hs {
		if k.cur.Len() >= k.size {
			k.prev.Clear()
			k.prev, k.cur = k.cur, k.prev
		}
		k.cur.Put(h, ss[i])
	}
}
