package selection

import (
	"cmp"
	"math"
	"math/big"
	"slices"
)

// Pending is a point that may be selected, with the caps of its rule and
// tenant (selections per second across the cluster; 0: no cap).
type Pending struct {
	Selection
	PerSecond       float64
	TenantPerSecond float64

	order string // seriesOrder, while Choose sorts
}

// Budget returns how many selections one shard of shards may make in the
// window [startMs, endMs) under a cap of perSecond across the cluster, or
// -1 for no cap. The budgets of consecutive windows add up to the cap,
// shared out evenly, over any stretch of time, and a window's budget
// depends on nothing but the window. The cap counts in millionths of a
// selection a second, and the sharing in exact integers: a window whose
// share is a whole number gets exactly that.
func Budget(perSecond float64, startMs, endMs int64, shards int) int {
	if perSecond <= 0 {
		return -1
	}
	micro := new(big.Int).SetInt64(int64(math.Round(min(perSecond, 1e12) * 1e6)))
	div := new(big.Int).SetInt64(1e9 * int64(max(shards, 1))) // µ/s · ms = 1e-9
	upto := func(ms int64) *big.Int {
		q := new(big.Int).Mul(micro, big.NewInt(ms))
		return q.Div(q, div) // Euclidean: the floor, as div > 0
	}
	n := new(big.Int).Sub(upto(endMs), upto(startMs))
	switch {
	case n.Sign() <= 0:
		return 0
	case !n.IsInt64() || n.Int64() > math.MaxInt32:
		return math.MaxInt32
	}
	return int(n.Int64())
}

// Choose appends to dst the selections of ps, the pending selections of
// one shard's closed windows, that the caps let through: for each window
// (policy and end), each rule's pending selections are ranked by value,
// highest first, and taken rank by rank across the rules while the rule's
// and the tenant's budgets last. The result depends only on the set ps
// holds, not on its order. ps is reordered.
func Choose(dst []Selection, ps []Pending, shards int) []Selection {
	for i := range ps {
		ps[i].order = seriesOrder(&ps[i].Selection)
	}
	slices.SortFunc(ps, func(a, b Pending) int {
		if c := cmp.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		if c := cmp.Compare(a.EndMs, b.EndMs); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		if c := cmp.Compare(a.order, b.order); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Aggregation, b.Aggregation); c != 0 {
			return c
		}
		return cmp.Compare(a.TraceID, b.TraceID)
	})
	type ranked struct {
		p    *Pending
		rank int
	}
	var win []ranked
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && ps[j].Policy == ps[i].Policy && ps[j].EndMs == ps[i].EndMs {
			j++
		}
		win = win[:0]
		for k := i; k < j; k++ {
			rank := 0
			if k > i && ps[k].Rule == ps[k-1].Rule {
				rank = win[len(win)-1].rank + 1
			}
			win = append(win, ranked{&ps[k], rank})
		}
		slices.SortStableFunc(win, func(a, b ranked) int { return cmp.Compare(a.rank, b.rank) })
		rules, tenants := map[string]int{}, map[string]int{}
		for _, r := range win {
			p := r.p
			rb, ok := rules[p.Rule]
			if !ok {
				rb = Budget(p.PerSecond, p.StartMs, p.EndMs, shards)
			}
			tb, ok := tenants[p.Tenant]
			if !ok {
				tb = Budget(p.TenantPerSecond, p.StartMs, p.EndMs, shards)
			}
			if rb != 0 && tb != 0 {
				dst = append(dst, p.Selection)
				rb, tb = spend(rb), spend(tb)
			}
			rules[p.Rule], tenants[p.Tenant] = rb, tb
		}
		i = j
	}
	return dst
}

// spend takes one from a budget; -1, no cap, stays.
func spend(budget int) int {
	if budget > 0 {
		return budget - 1
	}
	return budget
}

// seriesOrder is a text that orders the series of selections: by name,
// then by labels in name order (each part ends with a byte below any of
// its text, so that a prefix sorts first).
func seriesOrder(s *Selection) string {
	ks := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	b := append([]byte(s.Name), 0)
	for _, k := range ks {
		b = append(b, k...)
		b = append(b, 1)
		b = append(b, s.Labels[k]...)
		b = append(b, 0)
	}
	return string(b)
}
