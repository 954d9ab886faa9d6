package chunkenc

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// zrunMax is how many consecutive decimal values must be representable at a
// smaller exponent before the encoder lowers the exponent.
const zrunMax = 8

// Appender encodes points into a chunk. Its methods are not safe for
// concurrent use; the slices returned by Bytes are never written again and may
// be read by any goroutine while appends go on.
type Appender struct {
	w      bitWriter
	n      int
	t0     int64
	t      int64  // last timestamp
	delta  uint64 // last timestamp delta
	vb     uint64 // bits of the last value
	cls    uint8  // clsDec or clsXOR
	lead   uint8  // current leading-zero count of XOR mode
	d      decState
	zrun   int // consecutive values with trailing decimal zeros at d.k
	zmin   int // fewest trailing decimal zeros in that run
	shared bool
	snap   []byte // last result of Bytes, valid until the next Append
}

// NewAppender returns an Appender of an empty chunk.
func NewAppender() *Appender {
	a := &Appender{}
	a.w.buf = make([]byte, headerSize, 128)
	a.w.buf[0] = Version
	return a
}

// NumPoints returns the number of points appended.
func (a *Appender) NumPoints() int { return a.n }

// MinTime returns the timestamp of the first point, or 0 if there is none.
func (a *Appender) MinTime() int64 { return a.t0 }

// MaxTime returns the timestamp of the last point, or 0 if there is none.
func (a *Appender) MaxTime() int64 { return a.t }

// Bytes returns the chunk as it stands: a complete chunk that Decode accepts,
// holding every point appended so far. The Appender never writes to a slice it
// has returned (the next Append after a call to Bytes first copies the chunk
// to a new buffer), so the result stays valid and unchanged while appends go
// on; the caller must not modify it.
func (a *Appender) Bytes() []byte {
	if a.snap != nil {
		return a.snap
	}
	binary.BigEndian.PutUint16(a.w.buf[1:], uint16(a.n))
	b := a.w.pending(a.w.buf)
	a.snap = b
	a.shared = true
	return b
}

// Append adds a point with an optional exemplar (nil for none). The
// timestamp must be after the last one.
func (a *Appender) Append(t int64, v float64, ex *Exemplar) error {
	if a.n >= MaxPoints {
		return fmt.Errorf("append point %d: %w", a.n, ErrFull)
	}
	if a.n > 0 && t <= a.t {
		return fmt.Errorf("append point at %d after %d: %w", t, a.t, ErrOutOfOrder)
	}
	if a.shared {
		b := make([]byte, len(a.w.buf), 2*len(a.w.buf)+16)
		copy(b, a.w.buf)
		a.w.buf = b
		a.shared = false
	}
	a.snap = nil
	vb := math.Float64bits(v)
	if a.n == 0 {
		a.w.buf = binary.AppendVarint(a.w.buf, t)
		a.t0 = t
		if ex != nil {
			a.w.write(1, 1)
			a.putExemplar(ex, t, vb)
		} else {
			a.w.write(0, 1)
		}
	} else {
		delta := uint64(t) - uint64(a.t)
		dod := int64(delta - a.delta)
		a.delta = delta
		if ex != nil {
			a.w.write(0b11111, 5)
			a.putExemplar(ex, t, vb)
		}
		a.putDod(dod)
	}
	if a.n == 0 {
		a.putFirstValue(v, vb)
	} else {
		a.putValue(v, vb)
	}
	a.t = t
	a.vb = vb
	a.n++
	return nil
}

// putDod writes a delta of timestamp deltas.
func (a *Appender) putDod(dod int64) {
	switch {
	case dod == 0:
		a.w.write(0, 1)
	case dod >= -1<<7 && dod < 1<<7:
		a.w.write(0b10<<8|uint64(dod)&(1<<8-1), 10)
	case dod >= -1<<15 && dod < 1<<15:
		a.w.write(0b110<<16|uint64(dod)&(1<<16-1), 19)
	case dod >= -1<<23 && dod < 1<<23:
		a.w.write(0b1110<<24|uint64(dod)&(1<<24-1), 28)
	default:
		a.w.write(0b11110, 5)
		a.w.write(uint64(dod), 64)
	}
}

// putExemplar writes an exemplar relative to its point at t with value bits
// vb.
func (a *Appender) putExemplar(ex *Exemplar, t int64, vb uint64) {
	a.w.write(binary.BigEndian.Uint64(ex.TraceID[:8]), 64)
	a.w.write(binary.BigEndian.Uint64(ex.TraceID[8:]), 64)
	if x := math.Float64bits(ex.Value) ^ vb; x == 0 {
		a.w.write(0, 1)
	} else {
		l := uint(bits.LeadingZeros64(x))
		n := 64 - l - uint(bits.TrailingZeros64(x))
		a.w.write(1<<12|uint64(l)<<6|uint64(n-1), 13)
		a.w.write(x>>(64-l-n), n)
	}
	u := zigzag(int64(uint64(t) - uint64(ex.TimestampMs)))
	n := uint(bits.Len64(u))
	a.w.write(uint64(n), 7)
	if n > 0 {
		a.w.write(u, n)
	}
}

// decPlan is a decimal coding of a value: the exponent, the state after it,
// the Rice parameter, zigzag residual and the cost in bits.
type decPlan struct {
	k    int
	m    int64
	d    decState
	u    uint64
	r    uint
	raw  bool
	cost int
}

// planDec computes how a decimal value m·10^-k would be coded from the
// current state, without writing it.
func (a *Appender) planDec(m int64, k int) decPlan {
	p := decPlan{k: k, m: m, d: a.d}
	if a.cls != clsDec {
		p.cost = 4
	}
	if k != p.d.k {
		p.cost += riceQMax + escBits + kBits
		p.d.setK(k)
	}
	delta := m - p.d.m
	p.u = zigzag(delta - p.d.pred())
	p.r = p.d.riceR()
	if q := p.u >> p.r; q < riceQMax {
		p.cost += int(q) + 1 + int(p.r)
		p.d.update(m, delta, p.u)
	} else {
		p.raw = true
		p.cost += riceQMax + escBits + rawLenBits + bits.Len64(p.u)
		p.d.updateRaw(m, delta, p.u, p.r)
	}
	return p
}

// putDec writes a planned decimal value.
func (a *Appender) putDec(p *decPlan) {
	if a.cls != clsDec {
		a.w.write(xorDec, 4)
		a.cls = clsDec
	}
	if p.k != a.d.k {
		a.w.write(escK, riceQMax+escBits)
		a.w.write(uint64(p.k), kBits)
	}
	if p.raw {
		n := uint(bits.Len64(p.u))
		a.w.write(escRaw, riceQMax+escBits)
		a.w.write(uint64(n-1), rawLenBits)
		a.w.write(p.u, n)
	} else {
		q := uint(p.u >> p.r)
		if q+1+p.r <= 64 {
			a.w.write(1<<p.r|p.u&(1<<p.r-1), q+1+p.r)
		} else {
			a.w.write(1, q+1)
			a.w.write(p.u&(1<<p.r-1), p.r)
		}
	}
	a.d = p.d
}

// xorPlan is an XOR coding of a value: one of xorSame, xorNew, xorTrail
// or xorEqual, the leading zeros kept, the bits written after the code and
// the cost in bits, the switch from decimal mode included.
type xorPlan struct {
	code uint8
	lead uint8
	n    uint8
	cost int
}

func (a *Appender) planXOR(x uint64) xorPlan {
	sw := 0
	if a.cls == clsDec {
		sw = riceQMax + escBits
	}
	if x == 0 {
		return xorPlan{code: xorEqual, cost: sw + 4}
	}
	l := bits.LeadingZeros64(x)
	t := bits.TrailingZeros64(x)
	lr := int(leadTable[leadIndex[l]])
	p := xorPlan{code: xorNew, lead: uint8(lr), n: uint8(64 - lr), cost: sw + 2 + leadBits + 64 - lr}
	if cur := int(a.lead); l >= cur && sw+1+64-cur <= p.cost {
		p = xorPlan{code: xorSame, lead: uint8(cur), n: uint8(64 - cur), cost: sw + 1 + 64 - cur}
	}
	if c := sw + 3 + leadBits + centerBits + 64 - lr - t; c < p.cost {
		p = xorPlan{code: xorTrail, lead: uint8(lr), n: uint8(64 - lr - t), cost: c}
	}
	return p
}

// putXOR writes x, the XOR of the value with the previous one, as planned.
func (a *Appender) putXOR(x uint64, p xorPlan) {
	if a.cls != clsXOR {
		a.w.write(escXOR, riceQMax+escBits)
		a.cls = clsXOR
	}
	n := uint(p.n)
	switch p.code {
	case xorSame:
		a.w.write(xorSame, 1)
		a.w.write(x, n)
	case xorNew:
		a.w.write(xorNew<<leadBits|uint64(leadIndex[p.lead]), 2+leadBits)
		a.w.write(x, n)
		a.lead = p.lead
	case xorTrail:
		a.w.write(xorTrail<<(leadBits+centerBits)|uint64(leadIndex[p.lead])<<centerBits|uint64(n-1), 3+leadBits+centerBits)
		a.w.write(x>>(64-uint(p.lead)-n), n)
		a.lead = p.lead
	default:
		a.w.write(xorEqual, 4)
	}
}

// putFirstValue writes the value of point 0: a decimal mantissa and
// exponent, or the 64 bits of the value.
func (a *Appender) putFirstValue(v float64, vb uint64) {
	k, m, ok := findDecimal(v, vb)
	if !ok {
		a.w.write(1, 1)
		a.w.write(vb, 64)
		a.cls = clsXOR
		return
	}
	u := zigzag(m)
	n := uint(bits.Len64(u))
	a.w.write(uint64(k)<<firstNBits|uint64(n), 1+firstKBits+firstNBits)
	if n > 0 {
		a.w.write(u, n)
	}
	a.d = decState{k: k, m: m, nd: 1}
	a.cls = clsDec
}

// putValue chooses between decimal and XOR mode and writes the value.
func (a *Appender) putValue(v float64, vb uint64) {
	var (
		k  = a.d.k
		m  int64
		ok bool
	)
	if a.cls == clsDec {
		m, ok = atK(v, vb, k)
	}
	if ok {
		if k > 0 && m%10 == 0 {
			k, m = a.lowerK(k, m)
		} else {
			a.zrun = 0
		}
		if k == a.d.k {
			// The common case: a Rice-coded residual at the current
			// exponent, cheaper than any XOR coding could be.
			delta := m - a.d.m
			u := zigzag(delta - a.d.pred())
			r := a.d.riceR()
			if q := u >> r; q < riceQMax && q+1+uint64(r) <= riceQMax+escBits+4 {
				a.w.write(1<<r|u&(1<<r-1), uint(q)+1+r)
				a.d.update(m, delta, u)
				return
			}
		}
	} else {
		a.zrun = 0
		var km int
		if km, m, ok = findDecimal(v, vb); ok {
			k = km
			// Keep the current exponent if the mantissa fits.
			if d := a.d.k - km; d > 0 && d <= 18 && m < maxMant/pow10i[d] && m > -maxMant/pow10i[d] {
				k, m = a.d.k, m*pow10i[d]
			}
		}
	}
	x := vb ^ a.vb
	xp := a.planXOR(x)
	if ok {
		if dp := a.planDec(m, k); dp.cost <= xp.cost {
			a.putDec(&dp)
			return
		}
	}
	a.putXOR(x, xp)
}

// lowerK counts the values in a row whose mantissa m at exponent k ends in
// decimal zeros, and once there are zrunMax of them returns the smallest
// exponent they all fit, with m at that exponent.
func (a *Appender) lowerK(k int, m int64) (int, int64) {
	z := 1
	for z < k && z < 18 && m%pow10i[z+1] == 0 {
		z++
	}
	if a.zrun == 0 || z < a.zmin {
		a.zmin = z
	}
	a.zrun++
	if a.zrun < zrunMax {
		return k, m
	}
	a.zrun = 0
	return k - a.zmin, m / pow10i[a.zmin]
}
