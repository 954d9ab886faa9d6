package hashtab

// Key is what finds a value: two independent 64-bit hashes, the first of
// which places it.
type Key struct{ H, Check uint64 }

// Table is an open-addressing hash table with linear probing, at most half
// full, grown by doubling. The zero value is an empty table. One goroutine
// uses a Table at a time.
type Table[V any] struct {
	slots []slot[V]
	n     int
}

type slot[V any] struct {
	k    Key
	full bool
	v    V
}

// Len returns how many values t holds.
func (t *Table[V]) Len() int { return t.n }

// Get returns the value of k, and whether t holds one.
func (t *Table[V]) Get(k Key) (V, bool) {
	if t.n > 0 {
		mask := uint64(len(t.slots) - 1)
		for i := k.H & mask; ; i = (i + 1) & mask {
			sl := &t.slots[i]
			if !sl.full {
				break
			}
			if sl.k == k {
				return sl.v, true
			}
		}
	}
	var zero V
	return zero, false
}

// Put sets the value of k.
func (t *Table[V]) Put(k Key, v V) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots, t.n = make([]slot[V], max(16, 2*len(old))), 0
		for i := range old {
			if old[i].full {
				t.Put(old[i].k, old[i].v)
			}
		}
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.H & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if !sl.full {
			*sl = slot[V]{k: k, full: true, v: v}
			t.n++
			return
		}
		if sl.k == k {
			sl.v = v
			return
		}
	}
}

// Clear empties t, keeping its slots for the values to come.
func (t *Table[V]) Clear() {
	clear(t.slots)
	t.n = 0
}
