package aggregator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/tumblemetrics/tumble/sample"
)

// The state an aggregator carries from window to window — the type of each
// output series, the last value of each cumulative input series, running
// totals, the state of post-rollup transforms — is saved in two parts taken
// at different moments (see the package documentation, "Restarts"):
//
//   - AppendInputState, at input position S: the watermark, the input state
//     of every series, and what decides when series are forgotten;
//   - AppendOutputState, later, once every window open at S has been
//     emitted: the watermark up to which windows were emitted and the state
//     of the post-rollup transforms.
//
// Restore on a new aggregator, then the same input again from S, gives the
// points of every window emitted after the output state was taken, exactly
// as the first run did; windows emitted before are not opened again.

const stateVersion = 1

// savedSeries is the input state of a series saved by AppendInputState and
// not seen again since Restore.
type savedSeries struct {
	typ     sample.Type
	lastEnd int64
	born    uint64
	inputs  []savedInput // the first is the series' first input
}

type savedInput struct {
	id uint64
	inputState
}

// savedPost is the post-transform state of a series saved by
// AppendOutputState and not seen again since Restore.
type savedPost struct {
	born uint64
	post []postState
}

// restore gives sr the saved state.
func (sv *savedSeries) restore(sr *series) {
	sr.lastEnd, sr.born = sv.lastEnd, sv.born
	for i, in := range sv.inputs {
		if i == 0 {
			sr.hasIn0, sr.in0ID, sr.in0 = true, in.id, in.inputState
			continue
		}
		if sr.inMore == nil {
			sr.inMore = make(map[uint64]*inputState, len(sv.inputs)-1)
		}
		st := in.inputState
		sr.inMore[in.id] = &st
	}
}

// Emitted returns the watermark up to which windows have been emitted:
// Watermark, or after Restore the emitted watermark of the saved state if
// that is later.
func (a *Aggregator) Emitted() int64 { return max(a.wm, a.emitted) }

// AppendInputState appends the encoding of the state that samples change
// as they are added: the watermark, the count of samples added, and per
// output series its type, the end of its latest window, when it was created
// and the last value and running total of each of its input series. Open
// windows are not part of it.
func (a *Aggregator) AppendInputState(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendVarint(dst, a.wm)
	dst = binary.AppendVarint(dst, a.nextSweep)
	dst = binary.AppendUvarint(dst, a.adds)
	n := len(a.savedIn)
	for _, head := range a.series {
		for sr := head; sr != nil; sr = sr.collided {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, head := range a.series {
		for sr := head; sr != nil; sr = sr.collided {
			dst = appendSeries(dst, sr.target.Key, sr.typ, sr.lastEnd, sr.born)
			var ids []uint64
			if sr.hasIn0 {
				ids = append(ids, sr.in0ID)
			}
			ids = append(ids, slices.Sorted(maps.Keys(sr.inMore))...)
			dst = binary.AppendUvarint(dst, uint64(len(ids)))
			for i, id := range ids {
				in := &sr.in0
				if i > 0 {
					in = sr.inMore[id]
				}
				dst = appendInput(dst, id, in)
			}
		}
	}
	for key, sv := range a.savedIn {
		dst = appendSeries(dst, key, sv.typ, sv.lastEnd, sv.born)
		dst = binary.AppendUvarint(dst, uint64(len(sv.inputs)))
		for i := range sv.inputs {
			dst = appendInput(dst, sv.inputs[i].id, &sv.inputs[i].inputState)
		}
	}
	return dst
}

func appendSeries(dst []byte, key uint64, typ sample.Type, lastEnd int64, born uint64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, key)
	dst = append(dst, byte(typ))
	dst = binary.AppendVarint(dst, lastEnd)
	return binary.AppendUvarint(dst, born)
}

func appendInput(dst []byte, id uint64, in *inputState) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, id)
	return appendState(dst, in.set, in.ts, in.v, in.total)
}

// appendState appends what inputState and postState share.
func appendState(dst []byte, set bool, t int64, v, total float64) []byte {
	var b byte
	if set {
		b = 1
	}
	dst = append(dst, b)
	dst = binary.AppendVarint(dst, t)
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(total))
}

// AppendOutputState appends the encoding of the state that emitting
// windows changes: the emitted watermark and, per output series with a
// post-rollup transform, when it was created and the transform's state.
func (a *Aggregator) AppendOutputState(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendVarint(dst, a.Emitted())
	n := len(a.savedPost)
	for _, head := range a.series {
		for sr := head; sr != nil; sr = sr.collided {
			if sr.post != nil {
				n++
			}
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, head := range a.series {
		for sr := head; sr != nil; sr = sr.collided {
			if sr.post != nil {
				dst = appendPost(dst, sr.target.Key, sr.born, sr.post)
			}
		}
	}
	for key, sp := range a.savedPost {
		dst = appendPost(dst, key, sp.born, sp.post)
	}
	return dst
}

func appendPost(dst []byte, key, born uint64, post []postState) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, key)
	dst = binary.AppendUvarint(dst, born)
	dst = binary.AppendUvarint(dst, uint64(len(post)))
	for _, ps := range post {
		dst = appendState(dst, ps.set, ps.endMs, ps.v, ps.total)
	}
	return dst
}

// Restore sets a new aggregator's state to the input state in and the
// output state out that AppendInputState and AppendOutputState encoded.
// Series get their saved state back when a sample reaches them again. Two
// targets whose 64-bit keys collide share one saved state.
func (a *Aggregator) Restore(in, out []byte) error {
	if len(a.series) > 0 || a.adds > 0 {
		return errors.New("aggregator: restore into an aggregator in use")
	}
	d := newStateDecoder(in)
	wm, nextSweep, adds := d.varint(), d.varint(), d.uvarint()
	n := d.count(8 + 1 + 1 + 1 + 1)
	savedIn := make(map[uint64]*savedSeries, n)
	for range n {
		key := d.uint64()
		sv := &savedSeries{typ: sample.Type(d.byte()), lastEnd: d.varint(), born: d.uvarint()}
		sv.inputs = make([]savedInput, d.count(8+1+1+8+8))
		for i := range sv.inputs {
			in := &sv.inputs[i]
			in.id = d.uint64()
			in.set, in.ts, in.v, in.total = d.state()
		}
		if d.err == nil && (sv.typ < sample.Counter || sv.typ > sample.Timer) {
			d.err = fmt.Errorf("series %016x has type %d", key, sv.typ)
		}
		if _, dup := savedIn[key]; !dup {
			savedIn[key] = sv
		}
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("aggregator: input state: %w", err)
	}
	d = newStateDecoder(out)
	emitted := d.varint()
	n = d.count(8 + 1 + 1)
	posts := make(map[uint64]*savedPost, n)
	for range n {
		key := d.uint64()
		sp := &savedPost{born: d.uvarint()}
		sp.post = make([]postState, d.count(1+1+8+8))
		for i := range sp.post {
			ps := &sp.post[i]
			ps.set, ps.endMs, ps.v, ps.total = d.state()
		}
		if _, dup := posts[key]; !dup {
			posts[key] = sp
		}
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("aggregator: output state: %w", err)
	}
	a.wm, a.nextSweep, a.adds, a.emitted = wm, nextSweep, adds, emitted
	a.savedIn, a.savedPost = savedIn, posts
	return nil
}

// stateDecoder reads a saved state; the first error sticks and every read
// after it returns zero.
type stateDecoder struct {
	b   []byte
	err error
}

// newStateDecoder reads the version byte of b.
func newStateDecoder(b []byte) *stateDecoder {
	d := &stateDecoder{b: b}
	if v := d.byte(); v != stateVersion && d.err == nil {
		d.err = fmt.Errorf("version %d, want %d", v, stateVersion)
	}
	return d
}

// finish returns the first error, or an error if bytes are left.
func (d *stateDecoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.b))
	}
	return d.err
}

// state reads what inputState and postState share: a flag, a time, a value
// and a total.
func (d *stateDecoder) state() (set bool, t int64, v, total float64) {
	return d.byte() == 1, d.varint(), d.float(), d.float()
}

func (d *stateDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or malformed %s", what)
	}
	d.b = nil
}

func (d *stateDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *stateDecoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("fixed 64-bit field")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *stateDecoder) float() float64 { return math.Float64frombits(d.uint64()) }

func (d *stateDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items of at least minSize bytes each, refusing
// counts the rest of the input cannot hold.
func (d *stateDecoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.b))
		d.b = nil
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}
