package chunkenc

import "encoding/binary"

// bitWriter appends bits, most significant first, to buf. Up to 63 bits wait
// in acc (right-aligned) and go to buf eight bytes at a time, so that a write
// is a shift and an or in the common case.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint // bits pending in acc, 0..63
}

// write appends the k low bits of v, 1 <= k <= 64. Bits of v above k must
// be zero.
func (w *bitWriter) write(v uint64, k uint) {
	free := 64 - w.nacc
	if k < free {
		w.acc = w.acc<<k | v
		w.nacc += k
		return
	}
	over := k - free // 0..63
	// acc<<64 is 0 in Go, which is what an empty accumulator needs.
	w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc<<free|v>>over)
	w.acc = v & (1<<over - 1)
	w.nacc = over
}

// bitLen returns the number of bits written so far, header included.
func (w *bitWriter) bitLen() int {
	return len(w.buf)*8 + int(w.nacc)
}

// pending returns the bits waiting in the accumulator as whole bytes, the
// last one padded with zero bits.
func (w *bitWriter) pending(dst []byte) []byte {
	if w.nacc == 0 {
		return dst
	}
	v := w.acc << (64 - w.nacc)
	for i := uint(0); i < w.nacc; i += 8 {
		dst = append(dst, byte(v>>56))
		v <<= 8
	}
	return dst
}

// bitReader reads the bits of b, most significant first. buf holds the next
// bits left-aligned; the n top bits of buf are counted as loaded. Bits below
// them are either further bits of b or zeros, never anything else, so reading
// past the end of b yields zeros and drives n below zero: callers check n < 0
// once per point instead of checking every read.
type bitReader struct {
	b   []byte
	pos int // next byte of b to load
	buf uint64
	n   int
}

func newBitReader(b []byte) bitReader {
	return bitReader{b: b}
}

// refill loads bytes until at least 56 bits are counted or b is exhausted.
// It keeps the invariant n < 0 implies pos == len(b).
func (r *bitReader) refill() {
	if r.pos+8 <= len(r.b) {
		w := binary.BigEndian.Uint64(r.b[r.pos:])
		r.buf |= w >> uint(r.n)
		r.pos += (63 - r.n) >> 3
		r.n |= 56
		return
	}
	r.refillSlow()
}

func (r *bitReader) refillSlow() {
	for r.n <= 56 && r.pos < len(r.b) {
		r.buf |= uint64(r.b[r.pos]) << uint(56-r.n)
		r.pos++
		r.n += 8
	}
}

// read returns the next k bits, 0 <= k <= 56.
func (r *bitReader) read(k uint) uint64 {
	if r.n < int(k) {
		r.refill()
	}
	v := r.buf >> (64 - k)
	r.buf <<= k
	r.n -= int(k)
	return v
}

// read64 returns the next k bits, 0 <= k <= 64.
func (r *bitReader) read64(k uint) uint64 {
	if k > 56 {
		hi := r.read(k - 32)
		return hi<<32 | r.read(32)
	}
	return r.read(k)
}

// bitPos returns the number of bits consumed so far.
func (r *bitReader) bitPos() int {
	return r.pos*8 - r.n
}
