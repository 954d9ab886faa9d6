package chunkenc

import (
	"math"
	"math/bits"
)

// Value coding shared by the Appender and the Iterator: both run the same
// state transitions, so that the decoder recomputes every prediction and
// parameter the encoder used. See FORMAT.md for the meaning of each constant.

const (
	clsDec = 0 // the previous value was coded in decimal mode
	clsXOR = 1 // the previous value was coded in XOR mode

	maxK       = 22      // largest decimal exponent: 1e22 is the largest exact power of ten
	maxMant    = 1 << 53 // decimal mantissas are below this in absolute value
	riceQMax   = 12      // a run of riceQMax zero bits escapes from the Rice code
	emaShift   = 3       // the predicted delta is ema >> emaShift
	magShift   = 2       // the Rice parameter follows mag >> magShift
	maxRiceR   = 56      // the Rice parameter never exceeds this
	maxEMA     = 1 << 58 // bounds of ema and mag after a rescale
	firstKBits = 5       // point 0: size of the exponent
	firstNBits = 6       // point 0: size of the length of the zigzag mantissa
	escRaw     = 0b00    // escape: the residual follows, length-prefixed
	escK       = 0b01    // escape: a new exponent follows, then a decimal value
	escXOR     = 0b10    // escape: the value follows in XOR mode
	escBits    = 2       // size of the escape selector
	kBits      = 5       // size of an exponent
	rawLenBits = 6       // size of the length of a raw residual, minus one
)

// pow10f[k] is 10^k, exact in float64 for k <= 22.
var pow10f = [maxK + 1]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// pow10i[k] is 10^k for k <= 18, the largest power of ten in an int64.
var pow10i = [19]int64{
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
	1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000,
}

// decValue returns the value of mantissa m at exponent k, m·10^-k. It is the
// only way the decoder turns a mantissa into a float64: a division of two
// exact float64 values, correctly rounded, identical on every platform.
func decValue(m int64, k int) float64 {
	if k == 0 {
		return float64(m)
	}
	return float64(m) / pow10f[k]
}

// atK returns the mantissa of v at exponent k if decValue gives v back
// bit for bit.
func atK(v float64, vb uint64, k int) (int64, bool) {
	x := v * pow10f[k]
	if !(x > -maxMant && x < maxMant) { // also rejects NaN
		return 0, false
	}
	m := int64(math.RoundToEven(x))
	if math.Float64bits(decValue(m, k)) != vb {
		return 0, false
	}
	return m, true
}

// findDecimal returns the smallest exponent k and its mantissa m such that
// decValue(m, k) is v bit for bit. It finds every such v whose mantissa at
// that k is below 2^51 in absolute value, and every integer below 2^53.
//
// If v = m·10^-j exactly for some j, then v is also m·10^(k-j)·10^-k for any
// k >= j with the same rounding, so trying the largest k at which the
// mantissa stays below 2^51 finds every such v (below 2^51, v·10^k rounds to
// the right integer despite the rounding of the product); trailing decimal
// zeros of that mantissa are then stripped.
func findDecimal(v float64, vb uint64) (int, int64, bool) {
	e := int(vb>>52&0x7ff) - 1023 // |v| is in [2^e, 2^(e+1)) for normal v
	if e > 52 {
		return 0, 0, false // |v| >= 2^53, or Inf, or NaN
	}
	k := 0
	if e <= 50 {
		// 78913/2^18 is just below log10(2), so 10^k <= 2^(50-e) and
		// |v|·10^k < 2^51.
		k = min((50-e)*78913>>18, maxK)
	}
	m, ok := atK(v, vb, k)
	if !ok {
		return 0, 0, false
	}
	for _, s := range [...]struct {
		d int
		p int64
	}{{16, 1e16}, {8, 1e8}, {4, 1e4}, {2, 1e2}, {1, 1e1}} {
		if k >= s.d && m%s.p == 0 {
			m /= s.p
			k -= s.d
		}
	}
	return k, m, true
}

// decState is the decimal-mode state: the current exponent, the mantissa of
// the last decimal value, the predictor of the next mantissa delta and the
// running magnitude of residuals that sets the Rice parameter.
type decState struct {
	k   int
	m   int64
	ema int64 // moving average of mantissa deltas, times 2^emaShift
	mag int64 // moving average of zigzag residuals, times 2^magShift
	// nd counts the values coded since the state started, up to warm: the
	// first only sets m, the next ones adapt ema and mag faster.
	nd uint8
}

// warm is the value of decState.nd once the averages run at their steady
// rates.
const warm = 4

func (d *decState) pred() int64 { return d.ema >> emaShift }

// riceR returns the Rice parameter for the next residual.
func (d *decState) riceR() uint {
	r := bits.Len64(uint64(d.mag) >> magShift)
	if r > 0 {
		r--
	}
	return uint(min(r, maxRiceR))
}

// update records a value with mantissa m, mantissa delta and zigzag residual
// u coded with the Rice code.
func (d *decState) update(m, delta int64, u uint64) {
	d.m = m
	switch {
	case d.nd == warm:
		d.ema += (delta<<emaShift - d.ema) >> emaShift
		d.mag += (int64(u<<magShift) - d.mag) >> magShift
	case d.nd == 0:
		d.nd = 1
	default:
		sh := d.nd - 1
		d.ema += (delta<<emaShift - d.ema) >> sh
		d.mag += (int64(u<<magShift) - d.mag) >> min(sh, magShift)
		d.nd++
	}
}

// updateRaw records a value coded with a raw residual. Once the state is
// warm, that is an outlier (a counter reset, a jump): it leaves the predictor
// alone and raises the Rice parameter by a bounded step.
func (d *decState) updateRaw(m, delta int64, u uint64, r uint) {
	if d.nd != warm {
		d.update(m, delta, u)
		return
	}
	d.m = m
	d.mag += (riceQMax<<(r+magShift) - d.mag) >> magShift
}

// setK moves the state to exponent k, rescaling the mantissa, the predictor
// and the magnitude by 10^(k-d.k). If a rescaled quantity would leave its
// bounds, the state starts afresh instead.
func (d *decState) setK(k int) {
	diff := k - d.k
	d.k = k
	switch {
	case diff > 0:
		if diff > 18 {
			*d = decState{k: k}
			return
		}
		p := pow10i[diff]
		m, ok1 := scaleUp(d.m, p, maxMant)
		ema, ok2 := scaleUp(d.ema, p, maxEMA)
		mag, ok3 := scaleUp(d.mag, p, maxEMA)
		if !ok1 || !ok2 || !ok3 {
			*d = decState{k: k}
			return
		}
		d.m, d.ema, d.mag = m, ema, mag
	case diff < 0:
		if diff < -18 {
			*d = decState{k: k}
			return
		}
		p := pow10i[-diff]
		d.m /= p
		d.ema /= p
		d.mag /= p
	}
}

// scaleUp returns x·p if its absolute value stays below lim.
func scaleUp(x, p, lim int64) (int64, bool) {
	if x >= lim/p || x <= -lim/p {
		return 0, false
	}
	return x * p, true
}

func zigzag(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// XOR mode. A value is XORed with the previous one; the number of leading
// zeros of the result is rounded down to an entry of leadTable and sent as a
// 4-bit index. Like pow10f and pow10i, these tables are never written.
var leadTable = [16]uint8{0, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32}

// leadIndex[l] is the index of the largest entry of leadTable <= l.
var leadIndex = [65]uint8{
	0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15,
}

const (
	xorSame    = 0b0    // XOR with the current leading-zero count
	xorNew     = 0b10   // XOR with a new leading-zero count
	xorTrail   = 0b110  // XOR with a new leading-zero count and trailing zeros cut
	xorEqual   = 0b1110 // the value of the previous point
	xorDec     = 0b1111 // escape: the value follows in decimal mode
	leadBits   = 4
	centerBits = 6
)
