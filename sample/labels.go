package sample

import (
	"hash/maphash"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Label is one name/value pair of a series.
type Label struct {
	Name, Value string
}

// Labels is a set of labels sorted by name, names unique. A Labels value is
// shared freely once built: nothing may modify it in place.
type Labels []Label

// FromMap returns the labels of m, sorted by name.
func FromMap(m map[string]string) Labels {
	ls := make(Labels, 0, len(m))
	for n, v := range m {
		ls = append(ls, Label{Name: n, Value: v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// Get returns the value of the label called name and whether it is present.
func (ls Labels) Get(name string) (string, bool) {
	// Series have few labels: a linear scan beats a binary search here.
	for i := range ls {
		if ls[i].Name == name {
			return ls[i].Value, true
		}
	}
	return "", false
}

// Map returns the labels as a map, for encoding.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// Equal reports whether ls and o hold the same labels.
func (ls Labels) Equal(o Labels) bool {
	if len(ls) != len(o) {
		return false
	}
	for i := range ls {
		if ls[i] != o[i] {
			return false
		}
	}
	return true
}

// String formats the labels as {a="1", b="2"}.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// separator never occurs in valid UTF-8, so name and label boundaries cannot
// be forged by the strings themselves.
const separator = "\xff"

// Hash returns the xxhash of a series' name and labels; it is the series ID
// used for sharding and for identifying output series.
func (ls Labels) Hash(name string) uint64 {
	id, _ := ls.hashes(name, nil)
	return id
}

// Hashes returns Hash(name) and a second hash of the same series under seed,
// independent of the first: together they tell series apart as well as
// comparing them would, short of a 2^-128 chance, without keeping their
// labels around. The second hash is stable only within a process.
func (ls Labels) Hashes(name string, seed maphash.Seed) (id, check uint64) {
	return ls.hashes(name, &seed)
}

func (ls Labels) hashes(name string, seed *maphash.Seed) (id, check uint64) {
	// Hashing one buffer is several times faster than feeding a digest
	// string by string; most series fit on the stack.
	n := len(name)
	for i := range ls {
		n += 2 + len(ls[i].Name) + len(ls[i].Value)
	}
	if n > hashStack {
		return ls.hashesDigest(name, seed)
	}
	var stack [hashStack]byte
	b := stack[:n]
	k := copy(b, name)
	for i := range ls {
		b[k] = separator[0]
		k += 1 + copy(b[k+1:], ls[i].Name)
		b[k] = separator[0]
		k += 1 + copy(b[k+1:], ls[i].Value)
	}
	if seed != nil {
		check = maphash.Bytes(*seed, b)
	}
	return xxhash.Sum64(b), check
}

// hashStack is the longest series hashed from the stack.
const hashStack = 256

// hashesDigest is hashes for series too long for the stack buffer.
func (ls Labels) hashesDigest(name string, seed *maphash.Seed) (id, check uint64) {
	d := xxhash.New()
	var mh maphash.Hash
	if seed != nil {
		mh.SetSeed(*seed)
	}
	write := func(s string) {
		_, _ = d.WriteString(s)
		if seed != nil {
			_, _ = mh.WriteString(s)
		}
	}
	write(name)
	for i := range ls {
		write(separator)
		write(ls[i].Name)
		write(separator)
		write(ls[i].Value)
	}
	if seed != nil {
		check = mh.Sum64()
	}
	return d.Sum64(), check
}
