package aggregator

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/tumblemetrics/tumble/sample"
)

var allQuantiles = []Type{Median, P10, P20, P25, P30, P40, P50, P60, P70, P75, P80, P90, P95, P99, P999, P9999}

// shapes are the distributions the property test draws windows from.
var shapes = map[string]func(r *rand.Rand) float64{
	"uniform":    func(r *rand.Rand) float64 { return r.Float64() * 10 },
	"lognormal":  func(r *rand.Rand) float64 { return math.Exp(r.NormFloat64()*1.5 - 3) },
	"heavy-tail": func(r *rand.Rand) float64 { return 0.001 / math.Pow(1-r.Float64(), 1.6) }, // Pareto
	"constant":   func(r *rand.Rand) float64 { return 0.25 },
	"decimal":    func(r *rand.Rand) float64 { return float64(r.IntN(40)) / 10 }, // many ties
	"signed":     func(r *rand.Rand) float64 { return r.NormFloat64() * 100 },
}

// TestQuantilesAgainstSort checks every percentile and its exemplar against
// an exact sort of the window's samples, for exact windows and histograms.
func TestQuantilesAgainstSort(t *testing.T) {
	sizes := []int{1, 2, 3, 5, 17, 100, 1000, 20000}
	limits := map[string]int{"default": 0, "small": 16, "histogram-only": -1}
	for shape, draw := range shapes {
		for limitName, limit := range limits {
			for _, n := range sizes {
				t.Run(fmt.Sprintf("%s/%s/n=%d", shape, limitName, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(n), 7))
					checkWindow(t, r, draw, n, 1.0/3, Options{ExactLimit: limit})
				})
			}
		}
	}
}

// checkWindow aggregates n samples drawn from draw into one window, a share
// untraced of them without a trace ID, and checks its percentiles (see
// checkPercentiles). It returns the counts of checkPercentiles.
func checkWindow(t *testing.T, r *rand.Rand, draw func(*rand.Rand) float64, n int, untraced float64, opts Options) exemplarCounts {
	t.Helper()
	agg, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tg := NewTarget("latency", nil, SetOf(allQuantiles...), []Policy{{Resolution: 10 * time.Second, Retention: time.Hour}}, NoTransform, NoTransform)
	samples := make([]sample.Sample, n)
	for i := range samples {
		s := sample.Sample{Name: "latency", Type: sample.Timer, Value: draw(r), TimestampMs: int64(i % 10000)}
		if r.Float64() >= untraced {
			s.TraceID = sample.TraceID{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1}
		}
		samples[i] = s
		agg.Add(tg, 1, &s)
	}
	points := agg.Flush(nil)
	if len(points) != len(allQuantiles) {
		t.Fatalf("got %d points, want %d", len(points), len(allQuantiles))
	}
	return checkPercentiles(t, agg, samples, points)
}

// exemplarCounts counts what checkPercentiles saw.
type exemplarCounts struct {
	points       int // percentile points
	traced       int // of them, of a window that held a traced sample
	withTrace    int // of them, with a trace ID
	untracedRank int // of the traced ones, whose sample at the rank had no trace
	elsewhere    int // of the traced ones, whose exemplar is not of the value (or bucket) at the rank
	histogram    int // of the traced ones, past the exact limit
}

func (c *exemplarCounts) add(o exemplarCounts) {
	c.points += o.points
	c.traced += o.traced
	c.withTrace += o.withTrace
	c.untracedRank += o.untracedRank
	c.elsewhere += o.elsewhere
	c.histogram += o.histogram
}

// checkPercentiles checks the percentile points of one window of samples
// (in arrival order), which agg aggregated, against a sort of the samples:
// the value at the rank (within the histogram's precision past the exact
// limit) and the exemplar that wantExemplar computes.
func checkPercentiles(t *testing.T, agg *Aggregator, samples []sample.Sample, points []Point) exemplarCounts {
	t.Helper()
	n := len(samples)
	exactMode := n <= agg.opts.ExactLimit
	key := func(v float64) float64 { return v }
	if !exactMode {
		key = bucketKey(&agg.q, samples[:agg.opts.ExactLimit+1])
	}
	sorted := slices.Clone(samples)
	slices.SortStableFunc(sorted, func(a, b sample.Sample) int { return cmp.Compare(a.Value, b.Value) })
	var c exemplarCounts
	for _, p := range points {
		if !p.Aggregation.IsQuantile() {
			continue
		}
		c.points++
		rank := max(int(p.Aggregation.rank(uint64(n))), 1)
		want := sorted[rank-1].Value
		if exactMode {
			if p.Value != want {
				t.Errorf("%s: got %v, want %v (rank %d of %d)", p.Aggregation, p.Value, want, rank, n)
			}
		} else if !within(p.Value, want, 0.01) {
			t.Errorf("%s: got %v, want %v within 1%% (rank %d of %d)", p.Aggregation, p.Value, want, rank, n)
		}
		if !p.HasExemplar {
			t.Fatalf("%s: no exemplar", p.Aggregation)
		}
		ex := p.Exemplar
		i, dist := wantExemplar(samples, key, rank)
		if i < 0 {
			// No traced sample: a sample of the value (or bucket) at the rank.
			if !ex.TraceID.IsZero() || key(ex.Value) != key(want) {
				t.Errorf("%s: got exemplar %+v, want no trace and a value like %v", p.Aggregation, ex, want)
			}
			continue
		}
		c.traced++
		if !exactMode {
			c.histogram++
		}
		if !ex.TraceID.IsZero() {
			c.withTrace++
		}
		if sorted[rank-1].TraceID.IsZero() {
			c.untracedRank++
		}
		if dist > 0 {
			c.elsewhere++
		}
		s := samples[i]
		if ex.TraceID != s.TraceID || ex.Value != s.Value || ex.TimestampMs != s.TimestampMs {
			t.Errorf("%s: got exemplar %+v, want %v at %d of trace %v, %d ranks from rank %d of %d",
				p.Aggregation, ex, s.Value, s.TimestampMs, s.TraceID, dist, rank, n)
		}
	}
	return c
}

// wantExemplar returns the index in samples of the exemplar of 1-based rank
// r, and its distance in rank, or -1 when no sample has a trace ID. key
// maps a value to its place in the order of values: itself for an exact
// window, its bucket past the exact limit. The samples of one key span a
// range of ranks; a traced sample's distance is 0 if that range holds r,
// else the ranks between r and the nearer end. The exemplar is the traced
// sample of least distance, the one above r on a tie, then the first by
// entry.before (the earliest timestamp, then the smallest trace ID).
func wantExemplar(samples []sample.Sample, key func(float64) float64, r int) (int, int) {
	keys := make([]float64, len(samples))
	for i, s := range samples {
		keys[i] = key(s.Value)
	}
	slices.Sort(keys)
	at := keys[r-1]
	best, bestDist, bestBelow := -1, 0, false
	for i, s := range samples {
		if s.TraceID.IsZero() {
			continue
		}
		k := key(s.Value)
		lo, _ := slices.BinarySearch(keys, k)                                            // values before k's first rank
		hi := lo + sort.Search(len(keys)-lo, func(j int) bool { return keys[lo+j] > k }) // through its last
		dist, below := 0, false
		switch {
		case k > at:
			dist = lo + 1 - r
		case k < at:
			dist, below = r-hi, true
		}
		if best < 0 || dist < bestDist || dist == bestDist && (bestBelow && !below || below == bestBelow && sampleBefore(&s, &samples[best])) {
			best, bestDist, bestBelow = i, dist, below
		}
	}
	return best, bestDist
}

// sampleBefore is entry.before of two samples.
func sampleBefore(a, b *sample.Sample) bool {
	ea, eb := entry{v: a.Value, ts: a.TimestampMs, trace: a.TraceID}, entry{v: b.Value, ts: b.TimestampMs, trace: b.TraceID}
	return ea.before(&eb)
}

// bucketKey returns the key that orders values by their histogram bucket
// once a window leaves exact mode with first as its buffer, scaled as
// quantileState.drain does.
func bucketKey(q *quantileState, first []sample.Sample) func(float64) float64 {
	minAbs := math.Inf(1)
	for _, s := range first {
		if a := math.Abs(s.Value); a != 0 && a < minAbs {
			minAbs = a
		}
	}
	if math.IsInf(minAbs, 1) {
		minAbs = 1e-3
	}
	unit := math.Pow10(int(math.Floor(math.Log10(minAbs))) - 6)
	return func(v float64) float64 {
		iv := int64(histogramHighest)
		if scaled := math.Abs(v) / unit; scaled < histogramHighest {
			iv = int64(scaled)
		}
		i := float64(q.bucketIndex(iv))
		if v < 0 {
			return -1 - i // a larger magnitude is lower
		}
		return i
	}
}

func within(got, want, rel float64) bool {
	return got == want || math.Abs(got-want) <= rel*math.Abs(want)
}

// TestBucketIndexMatchesHDR checks that bucketIndex groups values exactly
// as the HDR histogram does, for every supported precision: two neighbours
// share an index when HDR holds them equivalent, and indexes never decrease.
func TestBucketIndexMatchesHDR(t *testing.T) {
	for sig := 1; sig <= 5; sig++ {
		q := newQuantileState(sig, 0, &Stats{})
		h := hdr.New(1, histogramHighest, sig)
		r := rand.New(rand.NewPCG(uint64(sig), 1))
		for range 10000 {
			v := int64(r.Uint64N(histogramHighest >> r.UintN(62)))
			i, j := q.bucketIndex(v), q.bucketIndex(v+1)
			if (i == j) != h.ValuesAreEquivalent(v, v+1) || j < i {
				t.Fatalf("sig %d: bucketIndex(%d) = %d, bucketIndex(%d) = %d; HDR equivalent: %v", sig, v, i, v+1, j, h.ValuesAreEquivalent(v, v+1))
			}
			if i >= 2*q.buckets {
				t.Fatalf("sig %d: bucketIndex(%d) = %d is past %d buckets", sig, v, i, q.buckets)
			}
		}
	}
}

// TestHistogramExemplarPrefersTrace: in histogram mode, a traced sample of
// the bucket at the rank is the exemplar even when an untraced one is larger.
func TestHistogramExemplarPrefersTrace(t *testing.T) {
	agg, _ := New(Options{ExactLimit: -1})
	tg := NewTarget("x", nil, SetOf(P99), []Policy{{Resolution: time.Second, Retention: time.Hour}}, NoTransform, NoTransform)
	traced := sample.TraceID{9}
	for i := range 100 {
		s := sample.Sample{Name: "x", Type: sample.Gauge, Value: 1.000 + float64(i)*1e-5, TimestampMs: 10}
		if i == 42 {
			s.TraceID = traced
		}
		agg.Add(tg, 1, &s)
	}
	p := agg.Flush(nil)[0]
	if p.Exemplar.TraceID != traced || p.Value != p.Exemplar.Value {
		t.Errorf("got exemplar %+v value %v, want trace %v and the point's value", p.Exemplar, p.Value, traced)
	}
}
