package hashtab

import (
	"math/rand/v2"
	"testing"
)

// TestTable holds a Table to a map through puts, overwrites, lookups of
// absent keys, keys that collide on their first hash, growth and Clear.
func TestTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab Table[int]
	ref := map[Key]int{}
	key := func() Key {
		// Few first hashes: many keys share one, and probe past each other.
		return Key{H: rng.Uint64N(64) << 40, Check: rng.Uint64N(512)}
	}
	for round := range 3 {
		for i := range 5000 {
			k := key()
			switch rng.IntN(3) {
			case 0, 1:
				tab.Put(k, i)
				ref[k] = i
			default:
				got, ok := tab.Get(k)
				want, wok := ref[k]
				if ok != wok || got != want {
					t.Fatalf("round %d, Get(%v): got %d, %v; want %d, %v", round, k, got, ok, want, wok)
				}
			}
			if tab.Len() != len(ref) {
				t.Fatalf("round %d: Len %d, want %d", round, tab.Len(), len(ref))
			}
		}
		for k, want := range ref {
			if got, ok := tab.Get(k); !ok || got != want {
				t.Fatalf("round %d, Get(%v): got %d, %v; want %d", round, k, got, ok, want)
			}
		}
		tab.Clear()
		clear(ref)
		if _, ok := tab.Get(Key{}); ok || tab.Len() != 0 {
			t.Fatalf("round %d: not empty after Clear", round)
		}
	}
}
