package shard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/sample"
)

// The kinds of shard record: the first byte of the value (FORMAT.md).
const (
	KindSample    byte = 1
	KindWatermark byte = 2
)

// AppendSample appends the shard record of sample s, of input series input,
// for output series t: what a replica needs to aggregate it without the
// rules. The record's key is Key(t).
func AppendSample(dst []byte, t *aggregator.Target, input uint64, s *sample.Sample) []byte {
	dst = append(dst, KindSample)
	lenAt := len(dst)
	dst = append(dst, 0, 0) // the spec's length, fixed up below
	start := len(dst)
	dst = appendString(dst, t.Name)
	dst = binary.AppendUvarint(dst, uint64(len(t.Labels)))
	for _, l := range t.Labels {
		dst = appendString(dst, l.Name)
		dst = appendString(dst, l.Value)
	}
	dst = binary.AppendUvarint(dst, uint64(t.Aggregations))
	dst = binary.AppendUvarint(dst, uint64(len(t.Policies)))
	for _, p := range t.Policies {
		dst = binary.AppendUvarint(dst, uint64(p.Resolution.Milliseconds()))
		dst = binary.AppendUvarint(dst, uint64(p.Retention.Milliseconds()))
	}
	dst = append(dst, byte(t.Pre), byte(t.Post))
	n := len(dst) - start
	if n > math.MaxUint16 {
		// A spec this long is refused by Decode; the router's limits on
		// names and labels keep it far below.
		n = math.MaxUint16
	}
	binary.BigEndian.PutUint16(dst[lenAt:], uint16(n))
	dst = binary.LittleEndian.AppendUint64(dst, input)
	dst = append(dst, byte(s.Type))
	dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.Value))
	dst = binary.AppendVarint(dst, s.TimestampMs)
	dst = append(dst, s.TraceID[:]...)
	return dst
}

// AppendWatermark appends a watermark record: router has routed every
// sample it will route with event times up to wm (ms) — later ones are late.
func AppendWatermark(dst []byte, router string, wm int64) []byte {
	dst = append(dst, KindWatermark)
	dst = appendString(dst, router)
	return binary.AppendVarint(dst, wm)
}

// Key returns the Kafka key of t's records: its output series ID, big endian.
func Key(t *aggregator.Target) []byte {
	return binary.BigEndian.AppendUint64(nil, t.ID)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Record is a decoded shard record.
type Record struct {
	Kind byte
	// KindSample:
	Target *aggregator.Target // shared with other records of the same target
	Input  uint64
	Sample sample.Sample // Type, Value, TimestampMs and TraceID
	// KindWatermark:
	Router    string
	Watermark int64
}

// ErrRecord is what a malformed record's error matches with errors.Is.
var ErrRecord = errors.New("malformed shard record")

// Decoder decodes shard records, keeping one Target per distinct output
// series and pipeline so that records of one target share it. It is used by
// one goroutine (the replica's).
type Decoder struct {
	targets map[uint64][]cached
	n       int
}

type cached struct {
	spec []byte
	t    *aggregator.Target
}

// maxCachedTargets bounds the Decoder's cache; past it, the cache starts
// over (the aggregator keys its state by Target.Key, not by pointer).
const maxCachedTargets = 1 << 20

// Decode decodes b into r. The Target it sets is shared: do not modify it.
func (d *Decoder) Decode(b []byte, r *Record) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrRecord)
	}
	dec := reader{b: b, off: 1}
	switch b[0] {
	case KindWatermark:
		r.Kind = KindWatermark
		r.Router = dec.string("router")
		r.Watermark = dec.varint("watermark")
		return dec.end()
	case KindSample:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrRecord, b[0])
	}
	r.Kind = KindSample
	specLen := int(binary.BigEndian.Uint16(dec.bytes(2, "spec length")))
	spec := dec.bytes(specLen, "target")
	if dec.err != nil {
		return dec.err
	}
	t, err := d.target(spec)
	if err != nil {
		return err
	}
	r.Target = t
	r.Input = binary.LittleEndian.Uint64(dec.bytes(8, "input series"))
	typ := dec.bytes(1, "sample type")
	if typ != nil {
		r.Sample.Type = sample.Type(typ[0])
		if r.Sample.Type < sample.Counter || r.Sample.Type > sample.Timer {
			dec.fail("unknown sample type")
		}
	}
	r.Sample.Value = math.Float64frombits(binary.LittleEndian.Uint64(dec.bytes(8, "value")))
	r.Sample.TimestampMs = dec.varint("timestamp")
	copy(r.Sample.TraceID[:], dec.bytes(16, "trace ID"))
	return dec.end()
}

// target returns the Target of spec, from the cache or decoded.
func (d *Decoder) target(spec []byte) (*aggregator.Target, error) {
	h := xxhash.Sum64(spec)
	for _, c := range d.targets[h] {
		if bytes.Equal(c.spec, spec) {
			return c.t, nil
		}
	}
	dec := reader{b: spec}
	name := dec.string("target name")
	n := dec.count("label count", 2)
	ls := make(sample.Labels, 0, n)
	for range n {
		ls = append(ls, sample.Label{Name: dec.string("label name"), Value: dec.string("label value")})
	}
	aggs := aggregator.Set(dec.uvarint("aggregations"))
	np := dec.count("policy count", 2)
	ps := make([]policy.Policy, 0, np)
	for range np {
		res := dec.uvarint("resolution")
		ret := dec.uvarint("retention")
		ps = append(ps, policy.Policy{Resolution: msDuration(res), Retention: msDuration(ret)})
	}
	tr := dec.bytes(2, "transforms")
	if err := dec.end(); err != nil {
		return nil, err
	}
	for i := 1; i < len(ls); i++ {
		if ls[i-1].Name >= ls[i].Name {
			return nil, fmt.Errorf("%w: labels not sorted and unique at %q", ErrRecord, ls[i].Name)
		}
	}
	if !aggs.Valid() {
		return nil, fmt.Errorf("%w: unknown aggregations %#x", ErrRecord, uint32(aggs))
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: no storage policy", ErrRecord)
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%w: policy: %w", ErrRecord, err)
		}
	}
	pre, post := aggregator.Transform(tr[0]), aggregator.Transform(tr[1])
	if !pre.Valid() || !post.Valid() {
		return nil, fmt.Errorf("%w: unknown transform", ErrRecord)
	}
	t := aggregator.NewTarget(name, ls, aggs, ps, pre, post)
	if d.targets == nil || d.n >= maxCachedTargets {
		d.targets, d.n = map[uint64][]cached{}, 0
	}
	d.targets[h] = append(d.targets[h], cached{spec: bytes.Clone(spec), t: t})
	d.n++
	return t, nil
}

func msDuration(ms uint64) time.Duration {
	if ms > math.MaxInt64/uint64(time.Millisecond) {
		return -1 // Validate refuses it
	}
	return time.Duration(ms) * time.Millisecond
}

// reader reads the fields of a record, keeping the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrRecord, what, r.off)
	}
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.off {
		r.fail(what + " past the end")
		return make([]byte, max(n, 0))
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) count(what string, min int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(len(r.b)-r.off)/uint64(min) {
		r.fail(what + " larger than the record")
		return 0
	}
	return int(n)
}

func (r *reader) string(what string) string {
	n := r.uvarint(what + " length")
	if r.err == nil && n > uint64(len(r.b)-r.off) {
		r.fail(what + " past the end")
		return ""
	}
	return string(r.bytes(int(n), what))
}

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	return r.err
}
