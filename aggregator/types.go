package aggregator

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/tumblemetrics/tumble/sample"
)

// Type is one aggregation of a window's samples. The set and the names are
// M3's, plus Increase and Rate for cumulative counters.
type Type uint8

// The aggregation types, in the order outputs are listed and emitted.
const (
	Last Type = iota + 1
	Min
	Max
	Mean
	Median
	Count
	Sum
	SumSq
	Stdev
	P10
	P20
	P25
	P30
	P40
	P50
	P60
	P70
	P75
	P80
	P90
	P95
	P99
	P999
	P9999
	Increase
	Rate

	numTypes = iota + 1
)

var typeNames = [numTypes]string{
	Last: "Last", Min: "Min", Max: "Max", Mean: "Mean", Median: "Median",
	Count: "Count", Sum: "Sum", SumSq: "SumSq", Stdev: "Stdev",
	P10: "P10", P20: "P20", P25: "P25", P30: "P30", P40: "P40", P50: "P50",
	P60: "P60", P70: "P70", P75: "P75", P80: "P80", P90: "P90", P95: "P95",
	P99: "P99", P999: "P999", P9999: "P9999",
	Increase: "Increase", Rate: "Rate",
}

// permyriad is each quantile type's q in parts per ten thousand, so that the
// rank ceil(q·n) is computed in integers, exactly.
var permyriad = [numTypes]uint32{
	Median: 5000, P10: 1000, P20: 2000, P25: 2500, P30: 3000, P40: 4000,
	P50: 5000, P60: 6000, P70: 7000, P75: 7500, P80: 8000, P90: 9000,
	P95: 9500, P99: 9900, P999: 9990, P9999: 9999,
}

// suffixes name the series of a non-quantile aggregation when a rule asks for
// several aggregations (see OutputName).
var suffixes = [numTypes]string{
	Last: "_last", Min: "_min", Max: "_max", Mean: "_mean", Count: "_count",
	Sum: "_sum", SumSq: "_sum_sq", Stdev: "_stdev", Increase: "_increase", Rate: "_rate",
}

// ParseType returns the aggregation named s, as M3 spells it ("P99", "Sum").
func ParseType(s string) (Type, error) {
	for t := Last; t < numTypes; t++ {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown aggregation %q (want one of %s)", s, strings.Join(typeNames[Last:], ", "))
}

// String returns M3's name of t.
func (t Type) String() string {
	if t >= Last && t < numTypes {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// IsQuantile reports whether t is Median or one of the percentiles.
func (t Type) IsQuantile() bool { return t < numTypes && permyriad[t] != 0 }

// Quantile returns q of a quantile type as a float (0.99 for P99), 0 otherwise.
func (t Type) Quantile() float64 {
	if t >= numTypes {
		return 0
	}
	return float64(permyriad[t]) / 10000
}

// rank returns the 1-based nearest rank ceil(q·n) of quantile type t among n
// values.
func (t Type) rank(n uint64) uint64 {
	r := (uint64(permyriad[t])*n + 9999) / 10000
	if r == 0 {
		r = 1
	}
	return r
}

// CarriesExemplar reports whether points of t carry the sample behind them.
func (t Type) CarriesExemplar() bool { return t == Min || t == Max || t == Last || t.IsQuantile() }

// Supports reports whether t is defined on the values of samples of type st:
// quantiles need a distribution (gauge, timer); Increase and Rate need a
// counter (cumulative, or counter increments); Sum, Mean, SumSq and Stdev of
// the running totals of a cumulative counter mean nothing.
func (t Type) Supports(st sample.Type) bool {
	switch {
	case t.IsQuantile():
		return st.HasDistribution()
	case t == Increase || t == Rate:
		return st == sample.Counter || st == sample.Cumulative
	case t == Sum || t == Mean || t == SumSq || t == Stdev:
		return st != sample.Cumulative
	default:
		return true
	}
}

// Set is a set of aggregation types.
type Set uint32

// SetOf returns the set holding ts.
func SetOf(ts ...Type) Set {
	var s Set
	for _, t := range ts {
		s = s.With(t)
	}
	return s
}

// With returns s with t added.
func (s Set) With(t Type) Set { return s | 1<<t }

// Has reports whether t is in s.
func (s Set) Has(t Type) bool { return s&(1<<t) != 0 }

// Valid reports whether s holds only known types.
func (s Set) Valid() bool { return s&^(1<<numTypes-1) == 0 && !s.Has(0) }

// Len returns the number of types in s.
func (s Set) Len() int { return bits.OnesCount32(uint32(s)) }

// Types returns the members of s in emission order.
func (s Set) Types() []Type {
	ts := make([]Type, 0, s.Len())
	for t := Last; t < numTypes; t++ {
		if s.Has(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// HasQuantile reports whether s holds Median or a percentile.
func (s Set) HasQuantile() bool {
	for t := Last; t < numTypes; t++ {
		if s.Has(t) && t.IsQuantile() {
			return true
		}
	}
	return false
}

// String lists the members of s as "[P99 Count]".
func (s Set) String() string {
	names := make([]string, 0, s.Len())
	for _, t := range s.Types() {
		names = append(names, t.String())
	}
	return "[" + strings.Join(names, " ") + "]"
}

// Defaults returns the aggregations a rule without an `aggregations` field
// applies to samples of type st: M3's defaults (counter Sum, gauge Last, timer
// Sum SumSq Mean Min Max Count Stdev P50 P95 P99; M3's duplicate Median is
// left out as it equals P50), and Increase for cumulative counters.
func Defaults(st sample.Type) Set {
	switch st {
	case sample.Counter:
		return SetOf(Sum)
	case sample.Cumulative:
		return SetOf(Increase)
	case sample.Timer:
		return SetOf(Sum, SumSq, Mean, Min, Max, Count, Stdev, P50, P95, P99)
	default:
		return SetOf(Last)
	}
}

// QuantileLabel is the label that tells the quantiles of one metric apart.
const QuantileLabel = "quantile"

// OutputName returns the metric name of aggregation t of a series called name
// when its rule asks for n aggregations: with one, the name is kept; with
// several, quantiles keep the name (they differ by the quantile label, see
// OutputLabels) and the others take a suffix: _count, _sum, _min, _max,
// _mean, _last, _sum_sq, _stdev, _increase, _rate.
func OutputName(name string, t Type, n int) string {
	if n <= 1 || t.IsQuantile() {
		return name
	}
	return name + suffixes[t]
}

// OutputLabels returns the labels of aggregation t of a series with labels ls
// when its rule asks for n aggregations: with several, a quantile adds (or
// replaces) quantile="0.99"; otherwise ls is returned as it is.
func OutputLabels(ls sample.Labels, t Type, n int) sample.Labels {
	if n <= 1 || !t.IsQuantile() {
		return ls
	}
	q := strconv.FormatFloat(t.Quantile(), 'g', -1, 64)
	out := make(sample.Labels, 0, len(ls)+1)
	added := false
	for _, l := range ls {
		switch {
		case l.Name == QuantileLabel:
			continue
		case !added && l.Name > QuantileLabel:
			out = append(out, sample.Label{Name: QuantileLabel, Value: q})
			added = true
		}
		out = append(out, l)
	}
	if !added {
		out = append(out, sample.Label{Name: QuantileLabel, Value: q})
	}
	return out
}
