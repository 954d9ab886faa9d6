package rules

import "slices"

// nameIndex finds the rules whose __name__ pattern may match a metric name,
// so that a series is tested against a handful of rules rather than all of
// them. Rules whose pattern is a set of plain names sit in a map by name;
// rules whose pattern starts (or else ends) with plain text sit in a map by
// that text, probed once per distinct text length; the others (no
// __name__ term, a negated one, or one like *x*) are always tested. The
// index only narrows the candidates: the Matcher tests each candidate's
// whole filter.
type nameIndex struct {
	exact      map[string][]int32
	prefix     map[string][]int32
	prefixLens []int
	suffix     map[string][]int32
	suffixLens []int
	scan       []int32
}

func buildIndex(rules []*Rule) nameIndex {
	ix := nameIndex{
		exact:  map[string][]int32{},
		prefix: map[string][]int32{},
		suffix: map[string][]int32{},
	}
	add := func(m map[string][]int32, key string, id int32) {
		if l := m[key]; len(l) == 0 || l[len(l)-1] != id {
			m[key] = append(l, id)
		}
	}
	for _, r := range rules {
		id := int32(r.ID)
		var p *pattern
		if r.Filter != nil {
			p = r.Filter.name
		}
		if p == nil {
			ix.scan = append(ix.scan, id)
			continue
		}
		if lits, ok := p.literals(); ok {
			for _, l := range lits {
				add(ix.exact, l, id)
			}
			continue
		}
		if pre := p.prefix(); pre != "" {
			add(ix.prefix, pre, id)
			continue
		}
		if suf := p.suffix(); suf != "" {
			add(ix.suffix, suf, id)
			continue
		}
		ix.scan = append(ix.scan, id)
	}
	ix.prefixLens = keyLens(ix.prefix)
	ix.suffixLens = keyLens(ix.suffix)
	return ix
}

func keyLens(m map[string][]int32) []int {
	var lens []int
	for k := range m {
		lens = append(lens, len(k))
	}
	slices.Sort(lens)
	return slices.Compact(lens)
}

// candidates appends to dst the IDs of the rules that may match name, in
// ascending order without duplicates.
func (ix *nameIndex) candidates(name string, dst []int32) []int32 {
	start := len(dst)
	sources := 0
	if l := ix.exact[name]; len(l) > 0 {
		dst = append(dst, l...)
		sources++
	}
	for _, n := range ix.prefixLens {
		if n > len(name) {
			break
		}
		if l := ix.prefix[name[:n]]; len(l) > 0 {
			dst = append(dst, l...)
			sources++
		}
	}
	for _, n := range ix.suffixLens {
		if n > len(name) {
			break
		}
		if l := ix.suffix[name[len(name)-n:]]; len(l) > 0 {
			dst = append(dst, l...)
			sources++
		}
	}
	if len(ix.scan) > 0 {
		dst = append(dst, ix.scan...)
		sources++
	}
	if sources > 1 {
		// Each source is sorted and a rule sits in one source only.
		slices.Sort(dst[start:])
	}
	return dst
}
