package chunkenc

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and the Iterator: they must
// neither panic nor loop, must report corruption as ErrCorrupt, must yield
// strictly increasing timestamps, and a chunk that decodes cleanly must
// survive a round trip through the Appender.
func FuzzDecode(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b)
	}
	f.Add([]byte{Version, 0, 0})
	f.Add([]byte{Version, 0, 1, 0, 0})
	f.Add([]byte{Version, 0, 2, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{Version, 0, 3, 0x80, 0x01, 0xf8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode: got %v, want an error matching ErrCorrupt", err)
			}
			return
		}
		var pts []point
		it := c.Iterator(nil)
		for it.Next() {
			ts, v := it.At()
			if len(pts) > 0 && ts <= pts[len(pts)-1].t {
				t.Fatalf("point %d at %d after %d", len(pts), ts, pts[len(pts)-1].t)
			}
			p := point{t: ts, v: v}
			if ex, ok := it.Exemplar(); ok {
				p.ex = &ex
			}
			pts = append(pts, p)
			if len(pts) > c.NumPoints() {
				t.Fatalf("more than %d points", c.NumPoints())
			}
		}
		if err := it.Err(); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Err: got %v, want an error matching ErrCorrupt", err)
			}
			return
		}
		if len(pts) != c.NumPoints() {
			t.Fatalf("got %d points without error, want %d", len(pts), c.NumPoints())
		}
		checkRoundTrip(t, pts)
		it = c.Iterator(it)
		if len(pts) > 0 && (!it.SeekTime(pts[len(pts)-1].t) || it.Next()) {
			t.Fatalf("SeekTime to the last point: %v", it.Err())
		}
	})
}

// FuzzRoundTrip appends points derived from the fuzzer's bytes and checks
// that they come back bit for bit.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07})
	f.Add([]byte("\x21\x10\x00\x7f\x05\x05\x05\x05\x25\x10\xff\xff\x07\x06\x05\x04\x03\x02\x01\x00\x3b\x01\x02"))
	f.Add([]byte("\x09\x09\x09\x09\x09\x09\x0d\x0d\x0d\x0d\x11\x11\x11\x15\x15\x19\x19\x1d\x1d\x35\x35\x35"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, fuzzPoints(data))
	})
}

// fuzzBytes hands out the fuzzer's bytes, then zeros.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func (b *fuzzBytes) uint64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = b.byte()
	}
	return binary.BigEndian.Uint64(buf[:])
}

var fuzzSpecials = []float64{
	math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000abc),
	math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 5e-324, 1.7e308, 1e22, 1e-22, 1 << 53, 0.1,
}

// fuzzPoints turns bytes into at most 2,000 points: each starts with an
// opcode byte choosing how the timestamp advances, where the value comes from
// and whether an exemplar follows.
func fuzzPoints(data []byte) []point {
	b := fuzzBytes(data)
	var pts []point
	t := int64(b.uint64())
	delta := int64(10_000)
	v := 0.0
	for len(b) > 0 && len(pts) < 2000 {
		op := b.byte()
		if len(pts) > 0 {
			switch op & 3 {
			case 1:
				delta = int64(b.byte()) + 1
			case 2:
				delta = int64(b.uint64()>>1) | 1
			case 3:
				delta += int64(int8(b.byte()))
				if delta <= 0 {
					delta = 1
				}
			}
			next := t + delta
			if next <= t {
				break
			}
			t = next
		}
		switch op >> 2 & 7 {
		case 1: // a short decimal
			v = float64(int16(binary.BigEndian.Uint16([]byte{b.byte(), b.byte()}))) / pow10f[b.byte()%8]
		case 2: // any bits
			v = math.Float64frombits(b.uint64())
		case 3: // a decimal step
			v += float64(int8(b.byte())) / pow10f[b.byte()%4]
		case 4:
			v = 1 / (v + 3)
		case 5:
			v = fuzzSpecials[int(b.byte())%len(fuzzSpecials)]
		case 6:
			v = float64(math.Float32frombits(uint32(b.uint64())))
		case 7:
			v = -v
		}
		p := point{t: t, v: v}
		if op&0x20 != 0 {
			ex := &Exemplar{Value: v, TimestampMs: t - int64(b.byte())*100}
			for i := range ex.TraceID {
				ex.TraceID[i] = b.byte()
			}
			if c := b.byte(); c&1 != 0 {
				ex.Value = math.Float64frombits(b.uint64())
			}
			if c := b.byte(); c&1 != 0 {
				ex.TimestampMs = int64(b.uint64())
			}
			p.ex = ex
		}
		pts = append(pts, p)
	}
	return pts
}
