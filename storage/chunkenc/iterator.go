package chunkenc

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Iterator walks the points of a chunk in timestamp order. It is not safe for
// concurrent use. On a corrupt chunk, Next returns false and Err says why;
// the work done is bounded by the point count in the header, whatever the
// bytes.
type Iterator struct {
	r     bitReader
	off   int // offset of the bit stream in the chunk, for errors
	n     int // points in the chunk
	i     int // points decoded
	ok    bool
	t     int64
	delta uint64
	vb    uint64
	cls   uint8
	lead  uint8
	d     decState
	hasEx bool
	ex    Exemplar
	exX   uint64 // exemplar value bits XOR point value bits
	exD   uint64 // zigzag of point timestamp minus exemplar timestamp
	err   error
}

// Flags of readDec and readXOR: what the current point already did, so that a
// corrupt stream cannot make them call each other endlessly.
const (
	flagSwitched = 1 << iota // the point switched mode
	flagK                    // the point changed the exponent
)

func (it *Iterator) reset(c *Chunk) {
	*it = Iterator{r: newBitReader(c.b[c.off:]), off: c.off, n: c.n, t: c.t0}
}

// At returns the current point.
func (it *Iterator) At() (int64, float64) {
	return it.t, math.Float64frombits(it.vb)
}

// Exemplar returns the exemplar of the current point, if it has one.
func (it *Iterator) Exemplar() (Exemplar, bool) {
	return it.ex, it.hasEx
}

// Err returns the error that stopped the iteration, nil at the normal end.
func (it *Iterator) Err() error { return it.err }

// SeekTime moves to the first point at or after t (ms) and reports whether
// there is one. It never moves backwards: if the current point is at or
// after t, it stays there.
func (it *Iterator) SeekTime(t int64) bool {
	if it.ok && it.t >= t {
		return true
	}
	for it.Next() {
		if it.t >= t {
			return true
		}
	}
	return false
}

// Next moves to the next point and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.i >= it.n || it.err != nil {
		it.ok = false
		return false
	}
	r := &it.r
	if r.n < 56 {
		r.refill()
	}
	it.hasEx = false
	// Fast path: a timestamp on the grid and a Rice-coded decimal value in a
	// warm state, decoded in local variables.
	if buf, n := r.buf, r.n; buf>>63 == 0 && it.cls == clsDec && it.d.nd == warm {
		buf <<= 1
		q := uint(bits.LeadingZeros64(buf))
		mag, ema := it.d.mag, it.d.ema
		rr := uint(min(max(bits.Len64(uint64(mag)>>magShift)-1, 0), maxRiceR))
		if q < riceQMax && int(q+rr)+2 <= n {
			buf <<= q + 1
			u := uint64(q)<<rr | buf>>(64-rr)
			delta := unzigzag(u) + ema>>emaShift
			m := it.d.m + delta
			t := it.t + int64(it.delta)
			if t > it.t && m < maxMant && m > -maxMant {
				r.buf = buf << rr
				r.n = n - int(q+rr) - 2
				it.t = t
				it.d.m = m
				it.d.ema = ema + (delta<<emaShift-ema)>>emaShift
				it.d.mag = mag + (int64(u<<magShift)-mag)>>magShift
				it.vb = math.Float64bits(decValue(m, it.d.k))
				it.i++
				if it.i == it.n && !it.finish() {
					return false
				}
				it.ok = true
				return true
			}
		}
	}
	it.ok = false
	switch {
	case it.i == 0:
		flag := r.buf >> 63
		r.buf <<= 1
		r.n--
		if flag != 0 && !it.readExemplar() {
			return false
		}
	case r.buf>>63 == 0:
		r.buf <<= 1
		r.n--
		t := it.t + int64(it.delta)
		if t <= it.t {
			return it.corrupt("timestamp overflow")
		}
		it.t = t
	default:
		if !it.readTime() {
			return false
		}
	}
	var ok bool
	switch {
	case it.i == 0:
		ok = it.readFirstValue()
	case it.cls == clsDec:
		ok = it.readDec(0)
	default:
		ok = it.readXOR(0)
	}
	if !ok {
		return false
	}
	if r.n < 0 {
		return it.corrupt("truncated")
	}
	if it.hasEx {
		it.ex.Value = math.Float64frombits(it.vb ^ it.exX)
		it.ex.TimestampMs = int64(uint64(it.t) - uint64(unzigzag(it.exD)))
	}
	it.i++
	if it.i == it.n && !it.finish() {
		return false
	}
	it.ok = true
	return true
}

func (it *Iterator) corrupt(format string, args ...any) bool {
	off := it.off + min(it.r.bitPos()/8, len(it.r.b))
	it.err = &CorruptError{Offset: off, Point: it.i, Reason: fmt.Sprintf(format, args...)}
	it.ok = false
	return false
}

// finish checks that nothing but zero padding follows the last point.
func (it *Iterator) finish() bool {
	r := &it.r
	r.refillSlow()
	if r.pos != len(r.b) || r.n > 7 {
		return it.corrupt("%d bits after the last point", len(r.b)*8-r.bitPos())
	}
	if r.n < 0 {
		return it.corrupt("truncated")
	}
	if r.n > 0 && r.buf>>(64-uint(r.n)) != 0 {
		return it.corrupt("non-zero padding")
	}
	return true
}

// readTime reads a timestamp code that is not a single 0 bit, with the
// exemplar that may precede it.
func (it *Iterator) readTime() bool {
	r := &it.r
	ones := bits.LeadingZeros64(^r.buf)
	if ones >= 5 {
		r.buf <<= 5
		r.n -= 5
		if !it.readExemplar() {
			return false
		}
		if r.n < 5 {
			r.refill()
		}
		if ones = bits.LeadingZeros64(^r.buf); ones >= 5 {
			return it.corrupt("second exemplar for one point")
		}
	}
	var dod int64
	switch ones {
	case 0:
		r.buf <<= 1
		r.n--
	case 1:
		r.buf <<= 2
		r.n -= 2
		dod = signExtend(r.read(8), 8)
	case 2:
		r.buf <<= 3
		r.n -= 3
		dod = signExtend(r.read(16), 16)
	case 3:
		r.buf <<= 4
		r.n -= 4
		dod = signExtend(r.read(24), 24)
	default:
		r.buf <<= 5
		r.n -= 5
		dod = int64(r.read64(64))
	}
	it.delta += uint64(dod)
	t := it.t + int64(it.delta)
	if t <= it.t {
		return it.corrupt("timestamp %d not after %d", t, it.t)
	}
	it.t = t
	return true
}

func signExtend(v uint64, k uint) int64 {
	return int64(v<<(64-k)) >> (64 - k)
}

// readExemplar reads an exemplar; its value and timestamp are completed once
// the point is decoded.
func (it *Iterator) readExemplar() bool {
	r := &it.r
	binary.BigEndian.PutUint64(it.ex.TraceID[:8], r.read64(64))
	binary.BigEndian.PutUint64(it.ex.TraceID[8:], r.read64(64))
	it.exX = 0
	if r.read(1) != 0 {
		w := r.read(12)
		l, n := uint(w>>6), uint(w&63)+1
		if l+n > 64 {
			return it.corrupt("exemplar value of %d+%d bits", l, n)
		}
		x := r.read64(n)
		if x&1 == 0 || x>>(n-1) == 0 {
			return it.corrupt("exemplar value not trimmed")
		}
		it.exX = x << (64 - l - n)
	}
	n := uint(r.read(7))
	if n > 64 {
		return it.corrupt("exemplar timestamp of %d bits", n)
	}
	it.exD = r.read64(n)
	if n > 0 && it.exD>>(n-1) != 1 {
		return it.corrupt("exemplar timestamp not trimmed")
	}
	it.hasEx = true
	return true
}

// readFirstValue reads the value of point 0.
func (it *Iterator) readFirstValue() bool {
	r := &it.r
	w := r.read(1 + firstKBits + firstNBits)
	if w>>(firstKBits+firstNBits) != 0 {
		it.cls = clsXOR
		const low = 64 - firstKBits - firstNBits
		it.vb = (w&(1<<(firstKBits+firstNBits)-1))<<low | r.read64(low)
		return true
	}
	k, n := int(w>>firstNBits), uint(w&(1<<firstNBits-1))
	if k > maxK || n > 54 {
		return it.corrupt("invalid first value")
	}
	u := r.read(n)
	if n > 0 && u>>(n-1) != 1 {
		return it.corrupt("first value not trimmed")
	}
	m := unzigzag(u)
	it.d = decState{k: k, m: m, nd: 1}
	it.vb = math.Float64bits(decValue(m, k))
	return true
}

// readDec reads a value in decimal mode.
func (it *Iterator) readDec(flags int) bool {
	r := &it.r
	if r.n < riceQMax+1 {
		r.refill()
	}
	rr := it.d.riceR()
	if q := uint(bits.LeadingZeros64(r.buf)); q < riceQMax {
		r.buf <<= q + 1
		r.n -= int(q + 1)
		u := uint64(q)<<rr | r.read(rr)
		delta := unzigzag(u) + it.d.pred()
		m := it.d.m + delta
		if m >= maxMant || m <= -maxMant {
			return it.corrupt("decimal mantissa %d out of range", m)
		}
		it.d.update(m, delta, u)
		it.vb = math.Float64bits(decValue(m, it.d.k))
		return true
	}
	r.buf <<= riceQMax
	r.n -= riceQMax
	switch r.read(escBits) {
	case escRaw:
		n := uint(r.read(rawLenBits)) + 1
		u := r.read64(n)
		if u>>(n-1) != 1 || u>>rr < riceQMax {
			return it.corrupt("raw residual not minimal")
		}
		delta := unzigzag(u) + it.d.pred()
		m := it.d.m + delta
		if m >= maxMant || m <= -maxMant {
			return it.corrupt("decimal mantissa %d out of range", m)
		}
		it.d.updateRaw(m, delta, u, rr)
		it.vb = math.Float64bits(decValue(m, it.d.k))
		return true
	case escK:
		k := int(r.read(kBits))
		if flags&flagK != 0 || k > maxK || k == it.d.k {
			return it.corrupt("invalid exponent change to %d", k)
		}
		it.d.setK(k)
		return it.readDec(flags | flagK)
	case escXOR:
		if flags != 0 {
			return it.corrupt("invalid switch to XOR mode")
		}
		it.cls = clsXOR
		return it.readXOR(flagSwitched)
	default:
		return it.corrupt("invalid escape")
	}
}

// readXOR reads a value in XOR mode.
func (it *Iterator) readXOR(flags int) bool {
	r := &it.r
	if r.n < 4 {
		r.refill()
	}
	var x uint64
	switch top := r.buf >> 60; {
	case top < 0b1000: // xorSame
		r.buf <<= 1
		r.n--
		x = r.read64(64 - uint(it.lead))
	case top < 0b1100: // xorNew
		r.buf <<= 2
		r.n -= 2
		it.lead = leadTable[r.read(leadBits)]
		x = r.read64(64 - uint(it.lead))
	case top < 0b1110: // xorTrail
		r.buf <<= 3
		r.n -= 3
		w := r.read(leadBits + centerBits)
		lead, n := uint(leadTable[w>>centerBits]), uint(w&(1<<centerBits-1))+1
		if lead+n > 64 {
			return it.corrupt("XOR value of %d+%d bits", lead, n)
		}
		x = r.read64(n)
		if x&1 == 0 {
			return it.corrupt("XOR value not trimmed")
		}
		x <<= 64 - lead - n
		it.lead = uint8(lead)
	case top == xorEqual:
		r.buf <<= 4
		r.n -= 4
		return true
	default: // xorDec
		r.buf <<= 4
		r.n -= 4
		if flags != 0 {
			return it.corrupt("invalid switch to decimal mode")
		}
		it.cls = clsDec
		return it.readDec(flagSwitched)
	}
	if x == 0 {
		return it.corrupt("XOR with zero")
	}
	it.vb ^= x
	return true
}
