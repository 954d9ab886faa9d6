package chunkenc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"
)

type point struct {
	t  int64
	v  float64
	ex *Exemplar
}

func (p point) String() string {
	s := fmt.Sprintf("(%d, %v [%#016x])", p.t, p.v, math.Float64bits(p.v))
	if p.ex != nil {
		s += fmt.Sprintf(" ex{%x %v %d}", p.ex.TraceID, p.ex.Value, p.ex.TimestampMs)
	}
	return s
}

// encode appends pts to a new chunk.
func encode(t testing.TB, pts []point) []byte {
	t.Helper()
	a := NewAppender()
	for i, p := range pts {
		if err := a.Append(p.t, p.v, p.ex); err != nil {
			t.Fatalf("append point %d %v: %v", i, p, err)
		}
	}
	if a.NumPoints() != len(pts) {
		t.Fatalf("NumPoints() = %d, want %d", a.NumPoints(), len(pts))
	}
	return a.Bytes()
}

// decodeAll returns every point of an encoded chunk.
func decodeAll(b []byte) ([]point, error) {
	c, err := Decode(b)
	if err != nil {
		return nil, err
	}
	var pts []point
	it := c.Iterator(nil)
	for it.Next() {
		t, v := it.At()
		p := point{t: t, v: v}
		if ex, ok := it.Exemplar(); ok {
			p.ex = &ex
		}
		pts = append(pts, p)
	}
	if it.Err() == nil && len(pts) != c.NumPoints() {
		return pts, fmt.Errorf("iterated %d points of %d without error", len(pts), c.NumPoints())
	}
	return pts, it.Err()
}

// samePoint compares timestamps, value bits and exemplars.
func samePoint(a, b point) bool {
	if a.t != b.t || math.Float64bits(a.v) != math.Float64bits(b.v) {
		return false
	}
	if (a.ex == nil) != (b.ex == nil) {
		return false
	}
	return a.ex == nil || a.ex.TraceID == b.ex.TraceID && a.ex.TimestampMs == b.ex.TimestampMs &&
		math.Float64bits(a.ex.Value) == math.Float64bits(b.ex.Value)
}

func checkRoundTrip(t testing.TB, pts []point) []byte {
	t.Helper()
	b := encode(t, pts)
	got, err := decodeAll(b)
	if err != nil {
		t.Fatalf("decode %d points: %v", len(pts), err)
	}
	if len(got) != len(pts) {
		t.Fatalf("decoded %d points, want %d", len(got), len(pts))
	}
	for i := range pts {
		if !samePoint(got[i], pts[i]) {
			t.Fatalf("point %d: got %v, want %v", i, got[i], pts[i])
		}
	}
	return b
}

// grid returns n timestamps every step ms from start.
func grid(start, step int64, vals []float64) []point {
	pts := make([]point, len(vals))
	for i, v := range vals {
		pts[i] = point{t: start + int64(i)*step, v: v}
	}
	return pts
}

func nanWithPayload(bits uint64) float64 { return math.Float64frombits(bits) }

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	randVals := func(n int, f func(i int) float64) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = f(i)
		}
		return vs
	}
	specials := []float64{
		math.NaN(), nanWithPayload(0x7ff8000000000001), nanWithPayload(0x7ff0000000000001),
		nanWithPayload(0xfff8000000000000), nanWithPayload(0xffffffffffffffff), nanWithPayload(0x7ff4000000dead00),
		math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 5e-324, -5e-324, 2.2250738585072014e-308,
		1.7e308, -1.7e308, math.MaxFloat64, 1 << 53, 1<<53 + 2, 1 << 63, 1e22, 1e23, 1e-22, 1e-23,
		0.1, 0.30000000000000004, 1.0 / 3, 123456789012345.6, 9007199254740993, -1,
	}
	cases := []struct {
		name string
		pts  []point
	}{
		{"one point", grid(1763800000000, 10_000, []float64{0.5})},
		{"one NaN point", grid(0, 1, []float64{math.NaN()})},
		{"one zero point", grid(-1, 1, []float64{0})},
		{"regular grid", grid(1763800000000, 10_000, randVals(120, func(i int) float64 { return float64(i * 3) }))},
		{"irregular timestamps", func() []point {
			pts := make([]point, 500)
			t := int64(1763800000000)
			for i := range pts {
				t += 15_000 + r.Int63n(200) - 100
				pts[i] = point{t: t, v: float64(r.Intn(100))}
			}
			return pts
		}()},
		{"big gaps", func() []point {
			ts := []int64{0, 1, 2, 3, 1 << 20, 1<<20 + 1, 1 << 40, 1<<40 + 7, 1 << 62, 1<<62 + 10_000, 1<<62 + 20_000, math.MaxInt64 - 1, math.MaxInt64}
			pts := make([]point, len(ts))
			for i, t := range ts {
				pts[i] = point{t: t, v: float64(i)}
			}
			return pts
		}()},
		{"extreme timestamps", []point{{t: math.MinInt64, v: 1}, {t: math.MinInt64 + 1, v: 2}, {t: -1, v: 3}, {t: 0, v: 4}, {t: math.MaxInt64, v: 5}}},
		{"negative timestamps", grid(-5_000_000, 10_000, randVals(1000, func(i int) float64 { return float64(i) / 10 }))},
		{"dod buckets", func() []point {
			var pts []point
			t, d := int64(0), int64(1000)
			for _, dod := range []int64{0, 1, -1, 127, -128, 128, -129, 32767, -32768, 32768, -32769, 1<<23 - 1, -1 << 23, 1 << 23, -1<<23 - 1, 1 << 40, -1 << 40} {
				d += dod
				if d <= 0 {
					d = 1
				}
				t += d
				pts = append(pts, point{t: t, v: 1})
			}
			return pts
		}()},
		{"120 points", grid(1763800000000, 10_000, genLatency(120, 7, 3))},
		{"10k points", grid(1763800000000, 10_000, genCounter(10_000, 8))},
		{"counter with resets", grid(0, 10_000, randVals(2000, func() func(int) float64 {
			v := 0.0
			return func(i int) float64 {
				if i%300 == 299 {
					v = 0
				}
				v += float64(r.Intn(1000))
				return v
			}
		}()))},
		{"decimal latencies 1 digit", grid(0, 10_000, genLatency(500, 9, 1))},
		{"decimal latencies 2 digits", grid(0, 10_000, genLatency(500, 10, 2))},
		{"decimal latencies 3 digits", grid(0, 10_000, genLatency(500, 11, 3))},
		{"decimal latencies 4 digits", grid(0, 10_000, genLatency(500, 12, 4))},
		{"decimals across exponents", grid(0, 1000, []float64{
			1, 0.1, 0.01, 123.456, 1e-10, 1.5e-20, 12345678901234, 1e15, 0.000123, 5, 5.5, 5.55, 5.555, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
			-0.25, -1e-22, 1e22, 2251799813685247, 2251799813685248, 0.2251799813685247, 900719925474099.1, 4.5e15, 7,
		})},
		{"decimal and XOR alternating", grid(0, 10_000, randVals(400, func(i int) float64 {
			switch i % 4 {
			case 0:
				return float64(r.Intn(1000)) / 100
			case 1:
				return r.Float64()
			case 2:
				return float64(i)
			default:
				return 1.0 / float64(i)
			}
		}))},
		{"decimal runs and XOR runs", grid(0, 10_000, randVals(600, func(i int) float64 {
			if (i/50)%2 == 0 {
				return float64(r.Intn(100000)) / 1000
			}
			return r.NormFloat64()
		}))},
		{"special values", grid(1, 1, specials)},
		{"special values repeated", grid(1, 1, func() []float64 {
			var vs []float64
			for _, v := range specials {
				vs = append(vs, v, v, v)
			}
			return vs
		}())},
		{"random special values", grid(1, 1, randVals(2000, func(int) float64 { return specials[r.Intn(len(specials))] }))},
		{"random floats", grid(0, 10_000, genRandom(1000, 13))},
		{"random bits", grid(0, 10_000, randVals(1000, func(int) float64 { return math.Float64frombits(r.Uint64()) }))},
		{"float32 values", grid(0, 10_000, randVals(500, func(int) float64 { return float64(r.Float32() * 1000) }))},
		{"constant value", grid(0, 10_000, randVals(300, func(int) float64 { return 42 }))},
		{"constant non-decimal value", grid(0, 10_000, randVals(300, func(int) float64 { return math.Pi }))},
		{"slow drift", grid(0, 60_000, randVals(1000, func() func(int) float64 {
			v := 100.0
			return func(int) float64 { v += r.NormFloat64() * 1e-3; return v }
		}()))},
		{"exemplars on some points", func() []point {
			pts := grid(1763800000000, 10_000, genLatency(300, 14, 3))
			for i := range pts {
				var ex *Exemplar
				switch i % 5 {
				case 0:
					ex = &Exemplar{Value: pts[i].v, TimestampMs: pts[i].t - 4211}
				case 1:
					ex = &Exemplar{Value: pts[i].v * 0.97, TimestampMs: pts[i].t - 9999}
				case 3:
					ex = &Exemplar{Value: math.NaN(), TimestampMs: math.MinInt64}
				}
				if ex != nil {
					r.Read(ex.TraceID[:])
					pts[i].ex = ex
				}
			}
			return pts
		}()},
		{"exemplar on every point", func() []point {
			pts := grid(-20_000, 10_000, randVals(50, func(int) float64 { return r.Float64() }))
			for i := range pts {
				ex := &Exemplar{Value: float64(i), TimestampMs: pts[i].t + int64(i)*1000}
				r.Read(ex.TraceID[:])
				if i%7 == 0 {
					ex.TraceID = [16]byte{}
				}
				if i%11 == 0 {
					ex.TimestampMs = math.MaxInt64
				}
				pts[i].ex = ex
			}
			return pts
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := checkRoundTrip(t, tc.pts)
			t.Logf("%d points, %d bytes, %.2f bytes/point", len(tc.pts), len(b), float64(len(b))/float64(len(tc.pts)))
		})
	}
}

func TestEmptyChunk(t *testing.T) {
	a := NewAppender()
	b := a.Bytes()
	if got, want := b, []byte{Version, 0, 0}; !bytes.Equal(got, want) {
		t.Fatalf("Bytes() = %x, want %x", got, want)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	it := c.Iterator(nil)
	if it.Next() || it.SeekTime(math.MinInt64) || it.Err() != nil {
		t.Fatalf("empty chunk iterated: Err() = %v", it.Err())
	}
}

func TestAppendErrors(t *testing.T) {
	a := NewAppender()
	if err := a.Append(100, 1, nil); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, ts := range []int64{100, 99, math.MinInt64} {
		if err := a.Append(ts, 2, nil); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("Append(%d) after 100: got %v, want %v", ts, err, ErrOutOfOrder)
		}
	}
	if got, want := a.NumPoints(), 1; got != want {
		t.Errorf("NumPoints() = %d, want %d", got, want)
	}
	if got, want := a.MaxTime(), int64(100); got != want {
		t.Errorf("MaxTime() = %d, want %d", got, want)
	}
}

func TestFull(t *testing.T) {
	a := NewAppender()
	for i := range MaxPoints {
		if err := a.Append(int64(i)*10, float64(i%100), nil); err != nil {
			t.Fatalf("append point %d: %v", i, err)
		}
	}
	if err := a.Append(MaxPoints*10, 1, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("append past MaxPoints: got %v, want %v", err, ErrFull)
	}
	pts, err := decodeAll(a.Bytes())
	if err != nil || len(pts) != MaxPoints {
		t.Fatalf("decode full chunk: got %d points, %v; want %d, nil", len(pts), err, MaxPoints)
	}
	if got, want := a.MinTime(), int64(0); got != want {
		t.Errorf("MinTime() = %d, want %d", got, want)
	}
	if got, want := a.MaxTime(), int64(MaxPoints-1)*10; got != want {
		t.Errorf("MaxTime() = %d, want %d", got, want)
	}
}

// TestBytesWhileAppending checks that every slice returned by Bytes stays a
// valid chunk of the points appended before it, unchanged by later appends.
func TestBytesWhileAppending(t *testing.T) {
	pts := grid(1763800000000, 10_000, genLatency(300, 15, 3))
	for i := range pts {
		if i%3 == 0 {
			pts[i].ex = &Exemplar{TraceID: [16]byte{byte(i)}, Value: pts[i].v, TimestampMs: pts[i].t - 1}
		}
		if i%17 == 0 {
			pts[i].v = 1.0 / float64(i+3)
		}
	}
	a := NewAppender()
	var snaps [][]byte
	var copies [][]byte
	for i, p := range pts {
		if err := a.Append(p.t, p.v, p.ex); err != nil {
			t.Fatalf("append point %d: %v", i, err)
		}
		if i%4 == 0 {
			b := a.Bytes()
			if b2 := a.Bytes(); &b2[0] != &b[0] || len(b2) != len(b) {
				t.Fatalf("second Bytes() without an append returned a different slice")
			}
			snaps = append(snaps, b)
			copies = append(copies, bytes.Clone(b))
		}
	}
	for j, b := range snaps {
		if !bytes.Equal(b, copies[j]) {
			t.Fatalf("snapshot %d changed after later appends", j)
		}
		got, err := decodeAll(b)
		if err != nil {
			t.Fatalf("decode snapshot %d: %v", j, err)
		}
		if want := j*4 + 1; len(got) != want {
			t.Fatalf("snapshot %d: got %d points, want %d", j, len(got), want)
		}
		for i := range got {
			if !samePoint(got[i], pts[i]) {
				t.Fatalf("snapshot %d point %d: got %v, want %v", j, i, got[i], pts[i])
			}
		}
	}
}

// TestConcurrentRead reads snapshots from other goroutines while appends go
// on; run with -race.
func TestConcurrentRead(t *testing.T) {
	a := NewAppender()
	vals := genCounter(2000, 16)
	done := make(chan error)
	snaps := make(chan []byte, 16)
	go func() {
		var firstErr error
		for b := range snaps {
			if _, err := decodeAll(b); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		done <- firstErr
	}()
	for i, v := range vals {
		if err := a.Append(int64(i)*1000, v, nil); err != nil {
			t.Fatalf("append: %v", err)
		}
		if i%50 == 0 {
			snaps <- a.Bytes()
		}
	}
	close(snaps)
	if err := <-done; err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
}

func TestSeekTime(t *testing.T) {
	pts := grid(1000, 10, []float64{1, 2, 3, 4, 5})
	b := encode(t, pts)
	c, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	cases := []struct {
		seeks []int64
		want  []int64 // timestamp after each seek, -1 for false
	}{
		{[]int64{0}, []int64{1000}},
		{[]int64{1000}, []int64{1000}},
		{[]int64{1001}, []int64{1010}},
		{[]int64{1040}, []int64{1040}},
		{[]int64{1041}, []int64{-1}},
		{[]int64{1020, 1000}, []int64{1020, 1020}}, // never backwards
		{[]int64{1015, 1021, 1030}, []int64{1020, 1030, 1030}},
		{[]int64{1041, 0}, []int64{-1, -1}},
		{[]int64{math.MinInt64, math.MaxInt64}, []int64{1000, -1}},
	}
	var it *Iterator
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.seeks), func(t *testing.T) {
			it = c.Iterator(it)
			for i, s := range tc.seeks {
				got := int64(-1)
				if it.SeekTime(s) {
					got, _ = it.At()
				}
				if got != tc.want[i] {
					t.Fatalf("SeekTime(%d): got %d, want %d", s, got, tc.want[i])
				}
			}
			if it.Err() != nil {
				t.Fatalf("Err() = %v", it.Err())
			}
		})
	}
	// Next after SeekTime continues from the point found.
	it = c.Iterator(it)
	if !it.SeekTime(1025) || !it.Next() {
		t.Fatalf("SeekTime then Next failed: %v", it.Err())
	}
	if ts, v := it.At(); ts != 1040 || v != 5 {
		t.Fatalf("after SeekTime(1025), Next: got (%d, %v), want (1040, 5)", ts, v)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := encode(t, grid(1000, 10, []float64{1, 2, 3}))
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"short", []byte{Version, 0}},
		{"version 0", []byte{0, 0, 0}},
		{"version 2", append([]byte{2}, valid[1:]...)},
		{"empty with trailing bytes", []byte{Version, 0, 0, 0}},
		{"missing first timestamp", []byte{Version, 0, 1}},
		{"unterminated first timestamp", []byte{Version, 0, 1, 0x80, 0x80}},
		{"count beyond the stream", []byte{Version, 0xff, 0xff, 0x02, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode(tc.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x): got (%v, %v), want error %v", tc.b, c, err, ErrCorrupt)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Point != -1 {
				t.Fatalf("Decode(%x): got %#v, want a header CorruptError", tc.b, err)
			}
		})
	}
}

// corpus returns chunks exercising every code of the format.
func corpus(t testing.TB) [][]byte {
	var out [][]byte
	r := rand.New(rand.NewSource(5))
	for _, vals := range [][]float64{
		genCounter(200, 1), genLatency(200, 2, 3), genRandom(200, 3),
		{math.NaN(), math.Inf(1), 0.1, 0.1, 1.0 / 3, 1.0 / 3, 0.25, float64(float32(0.1)), 1e-300, 12, 12.5, 13},
	} {
		pts := grid(1763800000000, 10_000, vals)
		for i := range pts {
			pts[i].t += int64(r.Intn(3)) * int64(r.Intn(40000))
			if i > 0 && pts[i].t <= pts[i-1].t {
				pts[i].t = pts[i-1].t + 1
			}
			if r.Intn(6) == 0 {
				pts[i].ex = &Exemplar{TraceID: [16]byte{byte(i), 1}, Value: pts[i].v + float64(r.Intn(2)), TimestampMs: pts[i].t - int64(r.Intn(10000))}
			}
		}
		out = append(out, encode(t, pts))
	}
	return out
}

// TestTruncated checks that every truncation and extension of a valid chunk
// is reported.
func TestTruncated(t *testing.T) {
	for ci, b := range corpus(t) {
		for n := 0; n < len(b); n++ {
			if _, err := decodeAll(b[:n:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("chunk %d cut to %d of %d bytes: got error %v, want %v", ci, n, len(b), err, ErrCorrupt)
			}
		}
		for _, tail := range [][]byte{{0}, {0x80}, {0, 0, 0, 0, 0, 0, 0, 0, 0}} {
			if _, err := decodeAll(append(bytes.Clone(b), tail...)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("chunk %d with %x appended: got error %v, want %v", ci, tail, err, ErrCorrupt)
			}
		}
		// One point fewer in the header leaves the last point's bits over.
		short := bytes.Clone(b)
		short[2]--
		if _, err := decodeAll(short); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("chunk %d with its count lowered: got error %v, want %v", ci, err, ErrCorrupt)
		}
	}
}

// TestBitFlips flips bits of valid chunks (every third one, one at a time)
// and checks what FORMAT.md promises of a damaged chunk: decoding neither
// panics nor runs past the count, and it either reports a *CorruptError
// (matching ErrCorrupt) that points inside the chunk, or yields exactly
// the header's count of points with strictly increasing timestamps. A flip
// of the version or the count is always reported. A flip that leaves the
// stream well formed decodes to other values: only a checksum, kept by the
// layer that stores chunks, catches those. The corpus has a fixed seed.
func TestBitFlips(t *testing.T) {
	flips, caught := 0, 0
	var it *Iterator
	for ci, b := range corpus(t) {
		b = bytes.Clone(b)
		for i := 0; i < len(b)*8; i += 3 {
			b[i/8] ^= 0x80 >> (i % 8)
			var err error
			it, err = checkFlipped(b, it)
			b[i/8] ^= 0x80 >> (i % 8)
			flips++
			var ce *CorruptError
			switch {
			case err == nil && i/8 < headerSize:
				t.Errorf("chunk %d, bit %d flipped in the header: got no error, want one matching %v", ci, i, ErrCorrupt)
			case err == nil:
			case errors.As(err, &ce):
				caught++
				if !errors.Is(err, ErrCorrupt) || ce.Offset < 0 || ce.Offset > len(b) || ce.Point < -1 {
					t.Errorf("chunk %d (%d bytes), bit %d flipped: got %#v, want a CorruptError matching %v within the chunk",
						ci, len(b), i, ce, ErrCorrupt)
				}
			default:
				t.Errorf("chunk %d, bit %d flipped: got %v, want nil or a *CorruptError", ci, i, err)
			}
		}
	}
	if caught == 0 {
		t.Errorf("got 0 of %d single-bit flips reported as corrupt, want some", flips)
	}
	t.Logf("%d of %d single-bit flips reported as corrupt", caught, flips)
}

// checkFlipped decodes a damaged chunk with it (reused if not nil) and
// returns the decoding error, or an error not matching ErrCorrupt when the
// decoder panicked or broke a promise of FORMAT.md: more points than the
// count, fewer without an error, or a timestamp not after the one before.
func checkFlipped(b []byte, it *Iterator) (_ *Iterator, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	c, err := Decode(b)
	if err != nil {
		return it, err
	}
	it = c.Iterator(it)
	n, last := 0, int64(math.MinInt64)
	for it.Next() {
		ts, _ := it.At()
		if n++; n > c.NumPoints() {
			return it, fmt.Errorf("more than the %d points of the header", c.NumPoints())
		}
		if n > 1 && ts <= last {
			return it, fmt.Errorf("point %d at %d, not after %d", n-1, ts, last)
		}
		last = ts
	}
	if err := it.Err(); err != nil {
		return it, err
	}
	if n != c.NumPoints() {
		return it, fmt.Errorf("%d points without an error, want the header's %d", n, c.NumPoints())
	}
	return it, nil
}

func TestIteratorReuse(t *testing.T) {
	b1 := encode(t, grid(0, 10, []float64{1, 2, 3}))
	b2 := encode(t, grid(5, 10, []float64{0.5, math.NaN()}))
	c1, _ := Decode(b1)
	c2, _ := Decode(b2)
	it := c1.Iterator(nil)
	for it.Next() {
	}
	if it2 := c2.Iterator(it); it2 != it {
		t.Fatalf("Iterator(it) did not reuse it")
	}
	var got []int64
	for it.Next() {
		ts, _ := it.At()
		got = append(got, ts)
	}
	if fmt.Sprint(got) != "[5 15]" || it.Err() != nil {
		t.Fatalf("reused iterator: got %v, %v; want [5 15], nil", got, it.Err())
	}
}

func TestFindDecimal(t *testing.T) {
	cases := []struct {
		v     float64
		k     int
		m     int64
		isDec bool
	}{
		{0, 0, 0, true},
		{math.Copysign(0, -1), 0, 0, false},
		{1, 0, 1, true},
		{-7, 0, -7, true},
		{0.1, 1, 1, true},
		{0.182, 3, 182, true},
		{12.5, 1, 125, true},
		{1e-22, 22, 1, true},
		{1.5e-22, 0, 0, false},
		{1e15, 0, 1e15, true},
		{1 << 52, 0, 1 << 52, true},
		{1 << 53, 0, 0, false},
		{0.30000000000000004, 0, 0, false},
		{1.0 / 3, 0, 0, false},
		{123456789.123456, 6, 123456789123456, true},
		{math.NaN(), 0, 0, false},
		{math.Inf(-1), 0, 0, false},
		{5e-324, 0, 0, false},
		{float64(float32(0.1)), 0, 0, false},
	}
	for _, tc := range cases {
		k, m, ok := findDecimal(tc.v, math.Float64bits(tc.v))
		if ok != tc.isDec || ok && (k != tc.k || m != tc.m) {
			t.Errorf("findDecimal(%v): got (%d, %d, %v), want (%d, %d, %v)", tc.v, k, m, ok, tc.k, tc.m, tc.isDec)
		}
		if ok && math.Float64bits(decValue(m, k)) != math.Float64bits(tc.v) {
			t.Errorf("decValue(%d, %d) = %v, want %v", m, k, decValue(m, k), tc.v)
		}
	}
}

// TestDecimalExhaustive checks that every short decimal is found and comes
// back bit for bit.
func TestDecimalExhaustive(t *testing.T) {
	for k := 0; k <= 8; k++ {
		for m := int64(-20000); m <= 20000; m++ {
			v := float64(m) / pow10f[k]
			km, mm, ok := findDecimal(v, math.Float64bits(v))
			if !ok {
				t.Fatalf("findDecimal(%d·10^-%d = %v) not found", m, k, v)
			}
			if math.Float64bits(decValue(mm, km)) != math.Float64bits(v) {
				t.Fatalf("findDecimal(%v) = (%d, %d), which is %v", v, km, mm, decValue(mm, km))
			}
		}
	}
}

// TestCompression pins the size of typical series, so that a change to the
// encoder that costs bytes is noticed.
func TestCompression(t *testing.T) {
	cases := []struct {
		name string
		vals []float64
		max  float64 // bytes per point
	}{
		{"counter", genCounter(12_000, 1), 1.0},
		{"latency 3 digits", genLatency(12_000, 2, 3), 2.0},
		{"latency 2 digits", genLatency(12_000, 2, 2), 1.5},
		{"random", genRandom(12_000, 3), 7.4},
		{"constant", make([]float64, 12_000), 0.4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for s := 0; s < len(tc.vals); s += 120 {
				total += len(encode(t, grid(benchStart+int64(s)*benchStep, benchStep, tc.vals[s:s+120])))
			}
			got := float64(total) / float64(len(tc.vals))
			t.Logf("%.3f bytes/point", got)
			if got > tc.max {
				t.Errorf("got %.3f bytes/point, want at most %.3f", got, tc.max)
			}
		})
	}
}

func TestLeadIndex(t *testing.T) {
	for l := range 65 {
		want := 0
		for i, x := range leadTable {
			if int(x) <= l {
				want = i
			}
		}
		if got := int(leadIndex[l]); got != want {
			t.Errorf("leadIndex[%d] = %d, want %d", l, got, want)
		}
	}
}
