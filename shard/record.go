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

// The kinds of shard record: the first byte of the value (see the package
// documentation).
const (
	KindSamples   byte = 1
	KindWatermark byte = 2 // written by earlier versions; see KindPartitions
)

// Batch builds one samples record: samples, each for an output series with
// its whole pipeline, which a replica aggregates without the rules. Each
// target's spec is written once per record; later samples of the same
// target refer to it. A Batch is reused across records (Reset).
type Batch struct {
	buf   []byte
	n     int
	specs map[*aggregator.Target]uint64 // the targets written, numbered from 1
}

// Add adds sample s of input series input for output series t.
func (b *Batch) Add(t *aggregator.Target, input uint64, s *sample.Sample) {
	if b.n == 0 {
		b.buf = append(b.buf[:0], KindSamples)
	}
	b.n++
	if ref, ok := b.specs[t]; ok {
		b.buf = binary.AppendUvarint(b.buf, ref)
	} else {
		if b.specs == nil {
			b.specs = map[*aggregator.Target]uint64{}
		}
		b.specs[t] = uint64(len(b.specs) + 1)
		b.buf = append(b.buf, 0)
		b.buf = appendSpec(b.buf, t)
	}
	b.buf = binary.LittleEndian.AppendUint64(b.buf, input)
	typ := byte(s.Type)
	if !s.TraceID.IsZero() {
		typ |= hasTrace
	}
	b.buf = append(b.buf, typ)
	b.buf = binary.LittleEndian.AppendUint64(b.buf, math.Float64bits(s.Value))
	b.buf = binary.AppendVarint(b.buf, s.TimestampMs)
	if typ&hasTrace != 0 {
		b.buf = append(b.buf, s.TraceID[:]...)
	}
}

// hasTrace, in a sample's type byte, says a trace ID follows.
const hasTrace = 0x80

// Len returns the number of samples added since the last Reset.
func (b *Batch) Len() int { return b.n }

// Size returns the record's size in bytes so far.
func (b *Batch) Size() int { return len(b.buf) }

// Bytes returns the record; it is valid until the next Add or Reset.
func (b *Batch) Bytes() []byte {
	if b.n == 0 {
		return nil
	}
	return b.buf
}

// Reset empties the batch for the next record.
func (b *Batch) Reset() {
	b.n = 0
	b.buf = b.buf[:0]
	clear(b.specs)
}

// AppendSample appends a samples record of the one sample s, of input
// series input, for output series t.
func AppendSample(dst []byte, t *aggregator.Target, input uint64, s *sample.Sample) []byte {
	var b Batch
	b.Add(t, input, s)
	return append(dst, b.Bytes()...)
}

// appendSpec appends t's spec with its length.
func appendSpec(dst []byte, t *aggregator.Target) []byte {
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
	if t.Rule != "" {
		dst = append(dst, specRule)
		dst = appendString(dst, t.Rule)
	}
	if ss := t.Selects; ss != nil {
		dst = binary.AppendUvarint(dst, uint64(ss.Aggregations))
		dst = appendString(dst, ss.Rule)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(ss.PerSecond))
		dst = appendString(dst, ss.Tenant)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(ss.TenantPerSecond))
	}
	n := len(dst) - start
	if n > math.MaxUint16 {
		// A spec this long is refused by Decode; the router's limits on
		// names and labels keep it far below.
		n = math.MaxUint16
	}
	binary.BigEndian.PutUint16(dst[lenAt:], uint16(n))
	return dst
}

// specRule, after a spec's transforms, says the name of the target's rule
// follows. A selection spec cannot start with it: it would be a uvarint 0,
// no trace aggregation, which no valid selection spec has. Specs written
// before rules were named go from the transforms to the selection spec, if
// any, and still decode, with no rule.
const specRule = 0

// RouterLeft is the watermark a router of an earlier version wrote when it
// stopped for good: the replicas stop waiting for its watermark. Today's
// routers write partition watermarks (AppendPartitions), which need none.
const RouterLeft = math.MinInt64

// AppendWatermark appends a watermark record: router has routed every
// sample it will route with event times up to wm (ms) — later ones are late
// — or, if wm is RouterLeft, it has left.
func AppendWatermark(dst []byte, router string, wm int64) []byte {
	dst = append(dst, KindWatermark)
	dst = appendString(dst, router)
	return binary.AppendVarint(dst, wm)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Record is a decoded shard record.
type Record struct {
	Kind byte
	// KindSamples:
	Samples []Entry
	// KindWatermark and KindPartitions:
	Router string
	// KindWatermark:
	Watermark int64
	// KindPartitions: the raw topics the router reads, and the watermark
	// of each raw partition it owns.
	Topics     []RawTopic
	Partitions []PartitionWatermark
}

// Entry is one sample of a samples record.
type Entry struct {
	Target *aggregator.Target // shared with other entries of the same target
	Input  uint64
	Sample sample.Sample // Type, Value, TimestampMs and TraceID
}

// ErrRecord is what a malformed record's error matches with errors.Is.
var ErrRecord = errors.New("malformed shard record")

// Decoder decodes shard records, keeping one Target per distinct output
// series and pipeline so that records of one target share it. It is used by
// one goroutine (the replica's).
type Decoder struct {
	targets map[uint64][]cached
	n       int
	refs    []*aggregator.Target // the targets of the record being decoded
}

type cached struct {
	spec []byte
	t    *aggregator.Target
}

// maxCachedTargets bounds the Decoder's cache; past it, the cache starts
// over (the aggregator keys its state by Target.Key, not by pointer).
const maxCachedTargets = 1 << 20

// Decode decodes b into r, reusing r's slice of samples. The Targets it
// sets are shared: do not modify them. A malformed record leaves no
// sample in r.
func (d *Decoder) Decode(b []byte, r *Record) error {
	r.Samples = r.Samples[:0]
	r.Topics, r.Partitions = r.Topics[:0], r.Partitions[:0]
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
	case KindPartitions:
		r.Kind = KindPartitions
		decodePartitions(&dec, r)
		if err := dec.end(); err != nil {
			r.Topics, r.Partitions = r.Topics[:0], r.Partitions[:0]
			return err
		}
		return nil
	case KindSamples:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrRecord, b[0])
	}
	r.Kind = KindSamples
	d.refs = d.refs[:0]
	for dec.err == nil && dec.off < len(b) {
		var e Entry
		switch ref := dec.uvarint("target reference"); {
		case dec.err != nil:
		case ref == 0:
			specLen := int(binary.BigEndian.Uint16(dec.bytes(2, "spec length")))
			spec := dec.bytes(specLen, "target")
			if dec.err != nil {
				break
			}
			t, err := d.target(spec)
			if err != nil {
				r.Samples = r.Samples[:0]
				return err
			}
			d.refs = append(d.refs, t)
			e.Target = t
		case ref > uint64(len(d.refs)):
			dec.fail(fmt.Sprintf("reference to target %d of %d", ref, len(d.refs)))
		default:
			e.Target = d.refs[ref-1]
		}
		e.Input = binary.LittleEndian.Uint64(dec.bytes(8, "input series"))
		var typ byte
		if b := dec.bytes(1, "sample type"); dec.err == nil {
			typ = b[0]
		}
		e.Sample.Type = sample.Type(typ &^ hasTrace)
		if dec.err == nil && (e.Sample.Type < sample.Counter || e.Sample.Type > sample.Timer) {
			dec.fail("unknown sample type")
		}
		e.Sample.Value = math.Float64frombits(binary.LittleEndian.Uint64(dec.bytes(8, "value")))
		e.Sample.TimestampMs = dec.varint("timestamp")
		if typ&hasTrace != 0 {
			copy(e.Sample.TraceID[:], dec.bytes(16, "trace ID"))
			if dec.err == nil && e.Sample.TraceID.IsZero() {
				dec.fail("zero trace ID")
			}
		}
		r.Samples = append(r.Samples, e)
	}
	if dec.err == nil && len(r.Samples) == 0 {
		dec.fail("no sample")
	}
	if err := dec.end(); err != nil {
		r.Samples = r.Samples[:0]
		return err
	}
	return nil
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
	var ls sample.Labels // nil when there is none, as the rules make it
	if n > 0 {
		ls = make(sample.Labels, 0, n)
	}
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
	var rule string
	if dec.err == nil && dec.off < len(spec) && spec[dec.off] == specRule {
		dec.off++
		if rule = dec.string("rule"); dec.err == nil && rule == "" {
			dec.fail("empty rule")
		}
	}
	var ss *aggregator.SelectionSpec
	if dec.err == nil && dec.off < len(spec) {
		ss = &aggregator.SelectionSpec{Aggregations: aggregator.Set(dec.uvarint("trace aggregations"))}
		ss.Rule = dec.string("rule")
		ss.PerSecond = math.Float64frombits(binary.LittleEndian.Uint64(dec.bytes(8, "traces per second")))
		ss.Tenant = dec.string("tenant")
		ss.TenantPerSecond = math.Float64frombits(binary.LittleEndian.Uint64(dec.bytes(8, "tenant traces per second")))
	}
	if err := dec.end(); err != nil {
		return nil, err
	}
	if ss != nil && !ss.Valid() {
		return nil, fmt.Errorf("%w: invalid selection spec %+v", ErrRecord, *ss)
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
	t.Selects, t.Rule = ss, rule
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
