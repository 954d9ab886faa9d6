package aggregator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/sample"
)

// timerAggs is the benchmark's timer rule: four percentiles, count and sum.
var timerAggs = SetOf(P50, P90, P99, P999, Count, Sum)

// BenchmarkAdd measures aggregation alone (targets already matched): 100k
// input timer series rolled up by two labels into 1,000 output series, ten
// samples per series and window.
func BenchmarkAdd(b *testing.B) {
	const inputs, outputs, perWindow = 100_000, 1_000, 10
	r := rand.New(rand.NewPCG(1, 2))
	tgs := make([]*Target, outputs)
	for i := range tgs {
		ls := sample.Labels{{Name: "route", Value: fmt.Sprintf("/r%d", i%50)}, {Name: "service", Value: fmt.Sprintf("svc%d", i/50)}}
		tgs[i] = NewTarget("http_request_duration_seconds", ls, timerAggs, []Policy{p10s}, NoTransform, NoTransform)
	}
	samples := make([]sample.Sample, inputs*perWindow)
	for i := range samples {
		samples[i] = sample.Sample{Type: sample.Timer, Value: math.Exp(r.NormFloat64() - 2), TraceID: sample.TraceID{byte(i), 1}}
	}
	for _, limit := range []int{256, DefaultExactLimit} {
		b.Run(fmt.Sprintf("exact-limit=%d", limit), func(b *testing.B) {
			benchAdd(b, Options{ExactLimit: limit}, tgs, samples, inputs, outputs)
		})
	}
}

func benchAdd(b *testing.B, opts Options, tgs []*Target, samples []sample.Sample, inputs, outputs int) {
	agg, _ := New(opts)
	var points []Point
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(samples)
		window := int64(i/len(samples)) * 10_000
		s := &samples[j]
		s.TimestampMs = window + int64(j%10_000)
		agg.Add(tgs[(j%inputs)%outputs], uint64(j%inputs), s)
		if j == len(samples)-1 {
			points = agg.Advance(window+10_000, points[:0])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkMemoryPerTimerSeries measures the heap held per active low-rate
// timer output series (five samples in its open window, four percentiles,
// count and sum), including its target's name and labels.
func BenchmarkMemoryPerTimerSeries(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		agg, _ := New(Options{})
		for k := range n {
			ls := sample.Labels{{Name: "pod", Value: fmt.Sprintf("checkout-%08x", k)}, {Name: "route", Value: "/pay"}, {Name: "service", Value: "checkout"}}
			tg := NewTarget("http_request_duration_seconds", ls, timerAggs, []Policy{p10s}, NoTransform, NoTransform)
			for j := range 5 {
				s := sample.Sample{Type: sample.Timer, Value: float64(j) / 10, TimestampMs: int64(j), TraceID: sample.TraceID{byte(j), 1}}
				agg.Add(tg, uint64(k), &s)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/series")
		runtime.KeepAlive(agg)
	}
}

// BenchmarkHighRateWindow measures a window that leaves exact mode: 100k
// samples into one series, then its close.
func BenchmarkHighRateWindow(b *testing.B) {
	tg := NewTarget("x", nil, timerAggs, []Policy{{Resolution: time.Minute, Retention: time.Hour}}, NoTransform, NoTransform)
	r := rand.New(rand.NewPCG(3, 4))
	vals := make([]float64, 100_000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64())
	}
	agg, _ := New(Options{})
	var points []Point
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(vals)
		w := int64(i/len(vals)) * 60_000
		s := sample.Sample{Type: sample.Timer, Value: vals[j], TimestampMs: w + int64(j%60_000), TraceID: sample.TraceID{byte(j), 2}}
		agg.Add(tg, 1, &s)
		if j == len(vals)-1 {
			points = agg.Advance(w+120_000, points[:0])
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkSparseTraces measures windows in which one sample in fifty has
// a trace ID, so that most percentiles take as exemplar a traced sample
// away from their rank: one series, windows of 1,000 samples (exact) and
// 3,000 (past the exact limit), each closed once full.
func BenchmarkSparseTraces(b *testing.B) {
	tg := NewTarget("x", nil, timerAggs, []Policy{p10s}, NoTransform, NoTransform)
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]float64, 3_000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64() - 2)
	}
	for _, n := range []int{1_000, 3_000} {
		b.Run(fmt.Sprintf("window=%d", n), func(b *testing.B) {
			agg, _ := New(Options{})
			var points []Point
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % n
				w := int64(i/n) * 10_000
				s := sample.Sample{Type: sample.Timer, Value: vals[j], TimestampMs: w + int64(j%10_000)}
				if (i/n+j)%50 == 0 {
					s.TraceID = sample.TraceID{byte(j), byte(j >> 8), 3}
				}
				agg.Add(tg, 1, &s)
				if j == n-1 {
					points = agg.Advance(w+20_000, points[:0])
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
