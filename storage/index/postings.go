package index

import (
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
)

// Reader is what Select needs of an index, in memory or on disk.
type Reader interface {
	// Postings returns the sorted refs of the series that carry label name
	// with one of values.
	Postings(name string, values ...string) ([]uint64, error)
	// LabelValues returns the values of label name, sorted.
	LabelValues(name string) ([]string, error)
	// AllPostings returns the refs of every series, sorted.
	AllPostings() ([]uint64, error)
}

// MemPostings is the index of the head: postings built as series arrive. It
// is not safe for concurrent use; the head guards it.
type MemPostings struct {
	m   map[string]map[string][]uint64
	all []uint64
}

var _ Reader = (*MemPostings)(nil)

// NewMemPostings returns an empty index.
func NewMemPostings() *MemPostings {
	return &MemPostings{m: map[string]map[string][]uint64{}}
}

// Add indexes series ref with labels ls. Refs must be added in increasing
// order, which keeps every list sorted by appending.
func (p *MemPostings) Add(ref uint64, ls labels.Labels) {
	p.all = append(p.all, ref)
	ls.Range(func(l labels.Label) {
		vals := p.m[l.Name]
		if vals == nil {
			vals = map[string][]uint64{}
			p.m[l.Name] = vals
		}
		vals[l.Value] = append(vals[l.Value], ref)
	})
}

// Postings implements Reader.
func (p *MemPostings) Postings(name string, values ...string) ([]uint64, error) {
	vals := p.m[name]
	lists := make([][]uint64, 0, len(values))
	for _, v := range values {
		if l := vals[v]; len(l) > 0 {
			lists = append(lists, l)
		}
	}
	return union(lists), nil
}

// LabelValues implements Reader.
func (p *MemPostings) LabelValues(name string) ([]string, error) {
	vals := p.m[name]
	out := make([]string, 0, len(vals))
	for v := range vals {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// LabelNames returns the label names in the index, sorted.
func (p *MemPostings) LabelNames() []string {
	out := make([]string, 0, len(p.m))
	for n := range p.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// AllPostings implements Reader.
func (p *MemPostings) AllPostings() ([]uint64, error) { return p.all, nil }

// Select returns the sorted refs of the series that match every matcher, with
// Prometheus' semantics: a matcher that matches the empty string also matches
// series that lack the label ({env=""}, {env!="prod"}, {env=~".*"}).
func Select(r Reader, ms ...*labels.Matcher) ([]uint64, error) {
	var keep [][]uint64 // lists whose intersection is kept
	var drop [][]uint64 // lists removed from it
	for _, m := range ms {
		vals, err := r.LabelValues(m.Name)
		if err != nil {
			return nil, err
		}
		if m.Matches("") {
			// Series without the label match; of those with it, drop
			// the ones whose value does not.
			var miss []string
			for _, v := range vals {
				if !m.Matches(v) {
					miss = append(miss, v)
				}
			}
			if len(miss) > 0 {
				l, err := r.Postings(m.Name, miss...)
				if err != nil {
					return nil, err
				}
				drop = append(drop, l)
			}
			continue
		}
		var hit []string
		for _, v := range vals {
			if m.Matches(v) {
				hit = append(hit, v)
			}
		}
		l, err := r.Postings(m.Name, hit...)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return nil, nil
		}
		keep = append(keep, l)
	}
	var out []uint64
	if len(keep) == 0 {
		all, err := r.AllPostings()
		if err != nil {
			return nil, err
		}
		out = slices.Clone(all)
	} else {
		slices.SortFunc(keep, func(a, b []uint64) int { return len(a) - len(b) })
		out = slices.Clone(keep[0])
		for _, l := range keep[1:] {
			out = intersect(out, l)
		}
	}
	for _, l := range drop {
		out = subtract(out, l)
	}
	return out, nil
}

// intersect keeps in a (which it reuses) the refs also in b.
func intersect(a, b []uint64) []uint64 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			// Gallop: b may be much longer than a.
			j += sort.Search(len(b)-j, func(k int) bool { return b[j+k] >= a[i] })
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// subtract removes from a (which it reuses) the refs in b.
func subtract(a, b []uint64) []uint64 {
	out := a[:0]
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

// union merges sorted lists into one sorted list without duplicates.
func union(lists [][]uint64) []uint64 {
	switch len(lists) {
	case 0:
		return nil
	case 1:
		return lists[0]
	}
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]uint64, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
