package leader

import (
	"slices"
	"sort"
	"sync"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// Retained holds the records of the windows a replica closed that the
// shard's output may not hold yet: every replica keeps them, so that the
// one that takes over can emit what its predecessor did not. The replica's
// goroutine adds; the shard's leadership reads and prunes. Any goroutine
// may call its methods.
type Retained struct {
	mu      sync.Mutex
	from    int64 // every window closing after from is here, or emitted
	emitted int64 // the replica's emitted watermark
	ws      []windowlog.Window
	notify  chan struct{}

	// The file the windows are kept in, if any (see OpenRetained).
	path  string
	dirty bool
	buf   []byte
}

// NewRetained returns the retained windows of a replica whose emitted
// watermark is from.
func NewRetained(from int64) *Retained {
	return &Retained{from: from, emitted: from, notify: make(chan struct{}, 1)}
}

// Add records that the replica's emitted watermark is now emitted, with
// the windows that closed. A window added again (a replica re-closes
// windows after a restart) replaces the one before.
func (r *Retained) Add(emitted int64, ws []windowlog.Window) {
	r.mu.Lock()
	for _, w := range ws {
		if w.CloseMs <= r.from {
			continue
		}
		i := sort.Search(len(r.ws), func(i int) bool { return !less(&r.ws[i], &w) })
		if i < len(r.ws) && same(&r.ws[i], &w) {
			r.ws[i] = w
			continue
		}
		r.ws = append(r.ws, windowlog.Window{})
		copy(r.ws[i+1:], r.ws[i:])
		r.ws[i] = w
	}
	r.emitted = max(r.emitted, emitted)
	r.changed()
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func less(a, b *windowlog.Window) bool {
	if a.CloseMs != b.CloseMs {
		return a.CloseMs < b.CloseMs
	}
	if a.Policy != b.Policy {
		return a.Policy < b.Policy
	}
	return a.EndMs < b.EndMs
}

func same(a, b *windowlog.Window) bool {
	return a.CloseMs == b.CloseMs && a.Policy == b.Policy && a.EndMs == b.EndMs
}

// Notify returns a channel that receives after each Add.
func (r *Retained) Notify() <-chan struct{} { return r.notify }

// State returns from (windows closing after it are all known) and the
// replica's emitted watermark.
func (r *Retained) State() (from, emitted int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from, r.emitted
}

// Between returns a copy of the windows closing in (after, upto].
func (r *Retained) Between(after, upto int64) []windowlog.Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []windowlog.Window
	for _, w := range r.ws {
		if w.CloseMs > after && w.CloseMs <= upto {
			// The caller stamps the windows and their selections as
			// its own while the file may be writing them: a copy.
			w.Selections = slices.Clone(w.Selections)
			out = append(out, w)
		}
	}
	return out
}

// Prune forgets the windows closing at or before upto: the shard's output
// holds them.
func (r *Retained) Prune(upto int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if upto <= r.from {
		return
	}
	i := sort.Search(len(r.ws), func(i int) bool { return r.ws[i].CloseMs > upto })
	r.ws = append(r.ws[:0], r.ws[i:]...)
	r.from = upto
	r.changed()
}

// Len returns the number of windows held.
func (r *Retained) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ws)
}
