package shard

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/sample"
)

func testTarget() *aggregator.Target {
	return aggregator.NewTarget("http_latency_by_route", sample.Labels{{Name: "route", Value: "/pay"}, {Name: "service", Value: "checkout"}},
		aggregator.SetOf(aggregator.P99, aggregator.Count), []policy.Policy{
			{Resolution: 10 * time.Second, Retention: 48 * time.Hour},
			{Resolution: time.Minute, Retention: 40 * 24 * time.Hour},
		}, aggregator.NoTransform, aggregator.TransformAdd)
}

// selectedTarget is testTarget selecting P99 traces.
func selectedTarget() *aggregator.Target {
	t := testTarget()
	t.Selects = &aggregator.SelectionSpec{Rule: "latency by route", Aggregations: aggregator.SetOf(aggregator.P99), PerSecond: 2.5, Tenant: "payments", TenantPerSecond: 40}
	return t
}

// ruled returns t naming its rule.
func ruled(t *aggregator.Target, rule string) *aggregator.Target {
	t.Rule = rule
	return t
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tg, other *aggregator.Target
	}{
		{"no rule", selectedTarget(), testTarget()},
		{"rules", ruled(selectedTarget(), "latency by route"), ruled(testTarget(), "mem")},
		{"a rule without a selection spec", selectedTarget(), ruled(testTarget(), "mem")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := tc.tg
			other := aggregator.NewTarget("mem", nil, aggregator.SetOf(aggregator.Max), tg.Policies, aggregator.NoTransform, aggregator.NoTransform)
			other.Rule = tc.other.Rule
			in := []Entry{
				{tg, 42, sample.Sample{Type: sample.Timer, Value: 0.182, TimestampMs: 1763800000123, TraceID: sample.TraceID{0x4b, 0xf9}}},
				{other, 3, sample.Sample{Type: sample.Gauge, Value: -1e300, TimestampMs: -5}},
				{tg, 43, sample.Sample{Type: sample.Timer, Value: 0.2, TimestampMs: 1763800000124}},
				{tg, 42, sample.Sample{Type: sample.Timer, Value: 0.3, TimestampMs: 1763800000125, TraceID: sample.TraceID{15: 1}}},
			}
			var b Batch
			for range 2 { // a reused batch gives the same record
				b.Reset()
				for _, e := range in {
					b.Add(e.Target, e.Input, &e.Sample)
				}
				var d Decoder
				var r, r2 Record
				if err := d.Decode(b.Bytes(), &r); err != nil {
					t.Fatal(err)
				}
				if r.Kind != KindSamples || b.Len() != len(in) || !reflect.DeepEqual(r.Samples, in) {
					t.Fatalf("got %+v, want %+v", r.Samples, in)
				}
				if r.Samples[0].Target != r.Samples[2].Target {
					t.Error("entries of one target do not share it")
				}
				if err := d.Decode(AppendSample(nil, tg, 7, &in[0].Sample), &r2); err != nil || r2.Samples[0].Target != r.Samples[0].Target {
					t.Errorf("a later record of the target: %v; target shared: %v", err, r2.Samples[0].Target == r.Samples[0].Target)
				}
			}
		})
	}
	var d Decoder
	var w Record
	if err := d.Decode(AppendWatermark(nil, "router-1", 1763800010000), &w); err != nil || w.Kind != KindWatermark || w.Router != "router-1" || w.Watermark != 1763800010000 {
		t.Errorf("got %+v, %v; want the watermark of router-1", w, err)
	}
}

// TestRecordRule: the rule name rides with the target's spec; targets that
// differ only in it are the same series (one Key) but distinct specs, each
// with its own shared Target.
func TestRecordRule(t *testing.T) {
	s := sample.Sample{Type: sample.Timer, Value: 1, TimestampMs: 5}
	var d Decoder
	var r Record
	decode := func(tg *aggregator.Target) *aggregator.Target {
		t.Helper()
		if err := d.Decode(AppendSample(nil, tg, 1, &s), &r); err != nil {
			t.Fatal(err)
		}
		return r.Samples[0].Target
	}
	a, b, none := decode(ruled(testTarget(), "a")), decode(ruled(testTarget(), "b")), decode(testTarget())
	if a.Rule != "a" || b.Rule != "b" || none.Rule != "" {
		t.Errorf("rules: got %q, %q, %q, want a, b and none", a.Rule, b.Rule, none.Rule)
	}
	if a == b || a == none || a.Key != b.Key || a.Key != none.Key {
		t.Errorf("got targets %p, %p, %p with keys %x, %x, %x; want three targets of one key", a, b, none, a.Key, b.Key, none.Key)
	}
	if again := decode(ruled(testTarget(), "a")); again != a {
		t.Error("a second record of the same spec gives another Target")
	}
}

// oldRecord is a samples record written before records named rules: a
// sample of selectedTarget, then one of testTarget. It decodes, and targets
// without a rule are still written so.
const oldRecord = "0100007615687474705f6c6174656e63795f62795f726f7574650205726f757465042f706179077365727669636508636865636b6f7574c080800202904e80f0b252e0d40380c0f9ef0c000380808002106c6174656e637920627920726f7574650000000000000440087061796d656e747300000000000044402a0000000000000084b29defa7c64bc73ff699e1aad5664bf9000000000000000000000000000000004815687474705f6c6174656e63795f62795f726f7574650205726f757465042f706179077365727669636508636865636b6f7574c080800202904e80f0b252e0d40380c0f9ef0c00032b0000000000000084b29defa7c64bc73ff699e1aad5664bf90000000000000000000000000000"

func TestRecordOldSpec(t *testing.T) {
	b, err := hex.DecodeString(oldRecord)
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var r Record
	if err := d.Decode(b, &r); err != nil {
		t.Fatal(err)
	}
	s := sample.Sample{Type: sample.Timer, Value: 0.182, TimestampMs: 1763800000123, TraceID: sample.TraceID{0x4b, 0xf9}}
	want := []Entry{{selectedTarget(), 42, s}, {testTarget(), 43, s}}
	if !reflect.DeepEqual(r.Samples, want) {
		t.Fatalf("got %+v, want %+v", r.Samples, want)
	}
	if again := hex.EncodeToString(reencode(&r)); again != oldRecord {
		t.Errorf("re-encoded: got %s, want %s", again, oldRecord)
	}
}

func TestPartitionsRoundTrip(t *testing.T) {
	topics := []RawTopic{{"metrics", 4}, {"idle", 2}, {"events", 8}}
	in := []PartitionWatermark{
		{"events", 7, 1763800010000},
		{"metrics", 3, NoWatermark},
		{"metrics", 0, -5},
	}
	b := AppendPartitions(nil, "router-1", topics, in)
	var d Decoder
	var r Record
	if err := d.Decode(b, &r); err != nil {
		t.Fatal(err)
	}
	want := []PartitionWatermark{{"metrics", 0, -5}, {"metrics", 3, NoWatermark}, {"events", 7, 1763800010000}}
	if r.Kind != KindPartitions || r.Router != "router-1" || !reflect.DeepEqual(r.Topics, topics) || !reflect.DeepEqual(r.Partitions, want) {
		t.Fatalf("got %+v, want router-1, %v, %v", r, topics, want)
	}
	// A samples record decoded into the same Record leaves no partition.
	s := sample.Sample{Type: sample.Gauge}
	if err := d.Decode(AppendSample(nil, testTarget(), 1, &s), &r); err != nil || len(r.Partitions) != 0 || len(r.Topics) != 0 {
		t.Errorf("got %+v, %v; want one sample and no partition", r, err)
	}
}

func TestRecordMalformed(t *testing.T) {
	tg := testTarget()
	s := sample.Sample{Type: sample.Gauge, Value: math.Inf(1)}
	good := AppendSample(nil, tg, 1, &s)
	withTrace := sample.Sample{Type: sample.Gauge, TraceID: sample.TraceID{1}}
	traced := AppendSample(nil, tg, 1, &withTrace)
	badSpec := selectedTarget()
	badSpec.Selects.Aggregations = aggregator.SetOf(aggregator.Sum)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte{9}},
		{"no sample", []byte{KindSamples}},
		{"cut short", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"bad sample type", func() []byte { b := append([]byte{}, good...); b[len(b)-1-8-1] = 0; return b }()},
		{"zero trace ID", func() []byte { b := append([]byte{}, traced...); b[len(b)-16] = 0; return b }()},
		{"reference to an unknown target", append(append([]byte{}, good...), 2)},
		{"watermark cut", AppendWatermark(nil, "r", 5)[:3]},
		{"partitions cut", AppendPartitions(nil, "r", []RawTopic{{"raw", 4}}, []PartitionWatermark{{"raw", 1, 5}})[:6]},
		{"topic twice", AppendPartitions(nil, "r", []RawTopic{{"raw", 1}, {"raw", 1}}, nil)},
		{"partitions out of order", []byte{KindPartitions, 1, 'r', 1, 1, 'x', 8, 2, 4, 10, 3, 10}},
		{"too many partitions", AppendPartitions(nil, "r", []RawTopic{{"raw", MaxRawPartitions + 1}}, nil)},
		{"selection spec of an aggregation without a sample", AppendSample(nil, badSpec, 1, &s)},
		{"empty rule", specTail(good, specRule, 0)},
		{"rule past the spec", specTail(good, specRule, 5, 'a', 'b')},
		{"rule marker twice", specTail(good, specRule, 1, 'a', specRule, 1, 'b')},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var r Record
			if err := d.Decode(tc.b, &r); !errors.Is(err, ErrRecord) {
				t.Fatalf("got %v, want ErrRecord", err)
			} else if len(r.Samples) > 0 {
				t.Fatalf("%v, and %d samples", err, len(r.Samples))
			} else {
				t.Log(err)
			}
		})
	}
}

// specTail returns rec, a samples record whose first sample's target
// names no rule and selects no trace, with tail added to the end of that
// target's spec (after its transforms).
func specTail(rec []byte, tail ...byte) []byte {
	specLen := int(binary.BigEndian.Uint16(rec[2:]))
	end := 4 + specLen
	out := append(append([]byte{}, rec[:end]...), tail...)
	binary.BigEndian.PutUint16(out[2:], uint16(specLen+len(tail)))
	return append(out, rec[end:]...)
}

// reencode encodes r again.
func reencode(r *Record) []byte {
	switch r.Kind {
	case KindWatermark:
		return AppendWatermark(nil, r.Router, r.Watermark)
	case KindPartitions:
		return AppendPartitions(nil, r.Router, r.Topics, r.Partitions)
	}
	var b Batch
	for _, e := range r.Samples {
		b.Add(e.Target, e.Input, &e.Sample)
	}
	return b.Bytes()
}

// FuzzRecord: no input panics the decoder; a decoded record encodes to
// bytes that decode and encode to the same bytes again.
func FuzzRecord(f *testing.F) {
	s := sample.Sample{Type: sample.Timer, Value: 1.5, TimestampMs: -3, TraceID: sample.TraceID{2}}
	var b Batch
	b.Add(testTarget(), 9, &s)
	b.Add(testTarget(), 10, &s)
	b.Add(selectedTarget(), 11, &s)
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	b.Add(ruled(testTarget(), "by route"), 9, &s)
	b.Add(ruled(selectedTarget(), "latency by route"), 10, &s)
	b.Add(ruled(testTarget(), "by route"), 11, &s)
	f.Add(append([]byte(nil), b.Bytes()...))
	f.Add(AppendWatermark(nil, "x", 100))
	f.Add(AppendPartitions(nil, "x", []RawTopic{{"raw", 3}, {"other", 0}}, []PartitionWatermark{{"raw", 2, 100}, {"raw", 0, NoWatermark}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var r Record
		if d.Decode(b, &r) != nil {
			return
		}
		again := reencode(&r)
		// Values may be NaN: compare encodings, not structs.
		var r2 Record
		if err := d.Decode(again, &r2); err != nil {
			t.Fatalf("re-decode %x: %v", again, err)
		}
		if third := reencode(&r2); !bytes.Equal(third, again) {
			t.Fatalf("re-encoded %x, want %x", third, again)
		}
	})
}
