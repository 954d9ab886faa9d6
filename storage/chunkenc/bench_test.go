package chunkenc

import (
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"testing"

	prom "github.com/prometheus/prometheus/tsdb/chunkenc"
)

// The benchmarks run this package and Prometheus' XOR chunk side by side on
// the same points:
//
//	go test -run '^$' -bench . -count 6 ./storage/chunkenc/ | tee /tmp/chunkenc.txt
//	benchstat -col /enc /tmp/chunkenc.txt
//
// Every data set is a long series cut into chunks of 120 points (as
// Prometheus does) and of 1,000 points, on a 10s grid.

const (
	benchPoints = 120_000
	benchStart  = int64(1763800000000)
	benchStep   = int64(10_000)
)

type benchData struct {
	name string
	vals []float64
}

// benchSets returns the data sets, each from its own fixed seed.
func benchSets() []benchData {
	return []benchData{
		{"counter", genCounter(benchPoints, 1)},
		{"latency", genLatency(benchPoints, 2, 3)},
		{"random", genRandom(benchPoints, 3)},
	}
}

// genCounter returns a cumulative request counter sampled every 10s: Poisson
// increments averaging 50 per step, reset to zero about every 500 steps.
func genCounter(n int, seed int64) []float64 {
	r := rand.New(rand.NewSource(seed))
	v := float64(r.Intn(1_000_000))
	out := make([]float64, n)
	for i := range out {
		if r.Intn(500) == 0 {
			v = 0
		}
		v += poisson(r, 50)
		out[i] = v
	}
	return out
}

func poisson(r *rand.Rand, lambda float64) float64 {
	x := math.Round(lambda + math.Sqrt(lambda)*r.NormFloat64())
	return math.Max(x, 0)
}

// genLatency returns the P99 of a request latency every 10s, in seconds,
// rounded to the given number of significant digits: a log-normal latency
// whose median drifts slowly, with 15% noise on each window's percentile.
func genLatency(n int, seed int64, digits int) []float64 {
	r := rand.New(rand.NewSource(seed))
	mu := math.Log(0.02 + r.Float64()*0.2)
	const sigma, z99 = 0.6, 2.326
	out := make([]float64, n)
	for i := range out {
		mu += 0.01 * r.NormFloat64()
		p99 := math.Exp(mu + sigma*z99 + 0.15*r.NormFloat64())
		out[i] = roundSignificant(p99, digits)
	}
	return out
}

func roundSignificant(x float64, digits int) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', digits, 64), 64)
	if err != nil {
		panic(err)
	}
	return v
}

// genRandom returns uniform random floats in [0, 1).
func genRandom(n int, seed int64) []float64 {
	r := rand.New(rand.NewSource(seed))
	out := make([]float64, n)
	for i := range out {
		out[i] = r.Float64()
	}
	return out
}

// codec is one of the two encoders under comparison.
type codec interface {
	encode(ts []int64, vs []float64) []byte
	// decode reads every point of b and returns the sum of the values, so
	// that the work cannot be optimised away.
	decode(b []byte) (float64, error)
	points(b []byte, ts []int64, vs []float64) ([]int64, []float64, error)
}

type tumbleCodec struct{ it Iterator }

func (*tumbleCodec) encode(ts []int64, vs []float64) []byte {
	a := NewAppender()
	for i, t := range ts {
		if err := a.Append(t, vs[i], nil); err != nil {
			panic(err)
		}
	}
	return a.Bytes()
}

func (c *tumbleCodec) decode(b []byte) (float64, error) {
	ch, err := Decode(b)
	if err != nil {
		return 0, err
	}
	it := ch.Iterator(&c.it)
	var sum float64
	for it.Next() {
		_, v := it.At()
		sum += v
	}
	return sum, it.Err()
}

func (c *tumbleCodec) points(b []byte, ts []int64, vs []float64) ([]int64, []float64, error) {
	ch, err := Decode(b)
	if err != nil {
		return nil, nil, err
	}
	it := ch.Iterator(nil)
	for it.Next() {
		t, v := it.At()
		ts, vs = append(ts, t), append(vs, v)
	}
	return ts, vs, it.Err()
}

type promCodec struct {
	c  *prom.XORChunk
	it prom.Iterator
}

func (*promCodec) encode(ts []int64, vs []float64) []byte {
	c := prom.NewXORChunk()
	a, err := c.Appender()
	if err != nil {
		panic(err)
	}
	for i, t := range ts {
		a.Append(0, t, vs[i])
	}
	return c.Bytes()
}

func (c *promCodec) decode(b []byte) (float64, error) {
	if c.c == nil {
		c.c = prom.NewXORChunk()
	}
	c.c.Reset(b)
	c.it = c.c.Iterator(c.it)
	var sum float64
	for c.it.Next() != prom.ValNone {
		_, v := c.it.At()
		sum += v
	}
	return sum, c.it.Err()
}

func (*promCodec) points(b []byte, ts []int64, vs []float64) ([]int64, []float64, error) {
	c := prom.NewXORChunk()
	c.Reset(b)
	it := c.Iterator(nil)
	for it.Next() != prom.ValNone {
		t, v := it.At()
		ts, vs = append(ts, t), append(vs, v)
	}
	return ts, vs, it.Err()
}

var benchCodecs = []struct {
	name string
	new  func() codec
}{
	{"tumble", func() codec { return &tumbleCodec{} }},
	{"prometheus", func() codec { return &promCodec{} }},
}

// benchChunks cuts a data set into chunks of size points.
type benchChunks struct {
	ts      [][]int64
	vals    [][]float64
	encoded [][]byte
	bytes   int
}

func cutChunks(b *testing.B, c codec, vals []float64, size int) *benchChunks {
	ch := &benchChunks{}
	for s := 0; s+size <= len(vals); s += size {
		ts := make([]int64, size)
		for i := range ts {
			ts[i] = benchStart + int64(s+i)*benchStep
		}
		vs := vals[s : s+size]
		enc := c.encode(ts, vs)
		gotT, gotV, err := c.points(enc, nil, nil)
		if err != nil {
			b.Fatalf("decode chunk %d: %v", len(ch.encoded), err)
		}
		for i := range ts {
			if gotT[i] != ts[i] || math.Float64bits(gotV[i]) != math.Float64bits(vs[i]) {
				b.Fatalf("chunk %d point %d: got (%d, %v), want (%d, %v)", len(ch.encoded), i, gotT[i], gotV[i], ts[i], vs[i])
			}
		}
		ch.ts = append(ch.ts, ts)
		ch.vals = append(ch.vals, vs)
		ch.encoded = append(ch.encoded, enc)
		ch.bytes += len(enc)
	}
	return ch
}

func forEachBench(b *testing.B, fn func(b *testing.B, c codec, ch *benchChunks, size int)) {
	for _, d := range benchSets() {
		for _, size := range []int{120, 1000} {
			for _, cd := range benchCodecs {
				b.Run(fmt.Sprintf("data=%s/points=%d/enc=%s", d.name, size, cd.name), func(b *testing.B) {
					c := cd.new()
					ch := cutChunks(b, c, d.vals, size)
					b.ReportAllocs()
					b.SetBytes(int64(size) * 16) // a timestamp and a value per point
					fn(b, c, ch, size)
					n := len(ch.encoded) * size
					b.ReportMetric(float64(ch.bytes)/float64(n), "B/sample")
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/sample")
				})
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	forEachBench(b, func(b *testing.B, c codec, ch *benchChunks, size int) {
		i := 0
		for b.Loop() {
			c.encode(ch.ts[i], ch.vals[i])
			if i++; i == len(ch.ts) {
				i = 0
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	forEachBench(b, func(b *testing.B, c codec, ch *benchChunks, size int) {
		i := 0
		var sum float64
		for b.Loop() {
			s, err := c.decode(ch.encoded[i])
			if err != nil {
				b.Fatal(err)
			}
			sum += s
			if i++; i == len(ch.encoded) {
				i = 0
			}
		}
		if math.IsInf(sum, 0) {
			b.Log(sum)
		}
	})
}

// BenchmarkEncodeExemplars measures a percentile series as tumble writes it:
// every point carries the exemplar of a sample of its window, whose value is
// the point's in half the windows and a nearby sample's in the others.
// Prometheus' chunk has no exemplars, so there is nothing to compare with.
func BenchmarkEncodeExemplars(b *testing.B) {
	r := rand.New(rand.NewSource(4))
	vals := genLatency(benchPoints, 2, 3)
	exs := make([]Exemplar, len(vals))
	for i := range exs {
		r.Read(exs[i].TraceID[:])
		exs[i].Value = vals[i]
		if r.Intn(2) == 0 {
			exs[i].Value = roundSignificant(vals[i]*(0.98+0.02*r.Float64()), 3)
		}
		exs[i].TimestampMs = benchStart + int64(i)*benchStep - 1 - r.Int63n(benchStep)
	}
	for _, size := range []int{120, 1000} {
		b.Run(fmt.Sprintf("points=%d", size), func(b *testing.B) {
			total := 0
			for s := 0; s+size <= len(vals); s += size {
				a := NewAppender()
				for i := s; i < s+size; i++ {
					if err := a.Append(benchStart+int64(i)*benchStep, vals[i], &exs[i]); err != nil {
						b.Fatal(err)
					}
				}
				pts, err := decodeAll(a.Bytes())
				if err != nil || len(pts) != size || *pts[size-1].ex != exs[s+size-1] {
					b.Fatalf("round trip of chunk at %d: %v", s, err)
				}
				total += len(a.Bytes())
			}
			b.ReportAllocs()
			b.SetBytes(int64(size) * (16 + 32))
			s := 0
			for b.Loop() {
				a := NewAppender()
				for i := s; i < s+size; i++ {
					if err := a.Append(benchStart+int64(i)*benchStep, vals[i], &exs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if s += size; s+size > len(vals) {
					s = 0
				}
			}
			b.ReportMetric(float64(total)/float64(len(vals)/size*size), "B/sample")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/sample")
		})
	}
}
