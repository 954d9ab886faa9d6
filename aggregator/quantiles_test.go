package aggregator

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
					checkWindow(t, r, draw, n, Options{ExactLimit: limit})
				})
			}
		}
	}
}

func checkWindow(t *testing.T, r *rand.Rand, draw func(*rand.Rand) float64, n int, opts Options) {
	t.Helper()
	agg, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	exactMode := n <= agg.opts.ExactLimit
	tg := NewTarget("latency", nil, SetOf(allQuantiles...), []Policy{{Resolution: 10 * time.Second, Retention: time.Hour}}, NoTransform, NoTransform)
	samples := make([]sample.Sample, n)
	for i := range samples {
		s := sample.Sample{Name: "latency", Type: sample.Timer, Value: draw(r), TimestampMs: int64(i % 10000)}
		if r.IntN(3) > 0 { // a third of the samples carry no trace
			s.TraceID = sample.TraceID{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1}
		}
		samples[i] = s
		agg.Add(tg, 1, &s)
	}
	points := agg.Flush(nil)
	if len(points) != len(allQuantiles) {
		t.Fatalf("got %d points, want %d", len(points), len(allQuantiles))
	}
	sorted := slices.Clone(samples)
	slices.SortStableFunc(sorted, func(a, b sample.Sample) int { return cmp.Compare(a.Value, b.Value) })
	byTrace := map[sample.TraceID]sample.Sample{}
	for _, s := range samples {
		if !s.TraceID.IsZero() {
			byTrace[s.TraceID] = s
		}
	}
	for _, p := range points {
		rank := int(math.Ceil(p.Aggregation.Quantile()*float64(n) - 1e-9))
		rank = max(rank, 1)
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
		if !within(ex.Value, want, 0.01) {
			t.Errorf("%s: exemplar value %v is not within 1%% of %v", p.Aggregation, ex.Value, want)
		}
		if !ex.TraceID.IsZero() {
			s, ok := byTrace[ex.TraceID]
			if !ok || s.Value != ex.Value || s.TimestampMs != ex.TimestampMs {
				t.Errorf("%s: exemplar %+v is not a sample of the window (got %+v)", p.Aggregation, ex, s)
			}
		} else if exactMode {
			// No trace: no traced sample may be as good.
			for _, s := range samples {
				if !s.TraceID.IsZero() && agg.q.equivalent(s.Value, want) {
					t.Errorf("%s: exemplar has no trace, but traced sample %v is equivalent to %v", p.Aggregation, s.Value, want)
					break
				}
			}
		}
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
