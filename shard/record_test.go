package shard

import (
	"bytes"
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

func TestRecordRoundTrip(t *testing.T) {
	tg := testTarget()
	s := sample.Sample{Type: sample.Timer, Value: 0.182, TimestampMs: 1763800000123, TraceID: sample.TraceID{0x4b, 0xf9}}
	var d Decoder
	var r, r2 Record
	if err := d.Decode(AppendSample(nil, tg, 42, &s), &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindSample || r.Input != 42 || !reflect.DeepEqual(r.Sample, s) {
		t.Errorf("got %+v, want input 42 and %+v", r, s)
	}
	if !reflect.DeepEqual(r.Target, tg) {
		t.Errorf("got target %+v, want %+v", r.Target, tg)
	}
	if err := d.Decode(AppendSample(nil, tg, 7, &s), &r2); err != nil || r2.Target != r.Target {
		t.Errorf("second record of the target: %v; target shared: %v", err, r2.Target == r.Target)
	}
	var w Record
	if err := d.Decode(AppendWatermark(nil, "router-1", 1763800010000), &w); err != nil || w.Kind != KindWatermark || w.Router != "router-1" || w.Watermark != 1763800010000 {
		t.Errorf("got %+v, %v; want the watermark of router-1", w, err)
	}
}

func TestRecordMalformed(t *testing.T) {
	tg := testTarget()
	s := sample.Sample{Type: sample.Gauge, Value: math.Inf(1)}
	good := AppendSample(nil, tg, 1, &s)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown kind", []byte{9}},
		{"cut short", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"bad sample type", func() []byte { b := append([]byte{}, good...); b[len(b)-8-1-1-8-16+8] = 0; return b }()},
		{"watermark cut", AppendWatermark(nil, "r", 5)[:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var r Record
			if err := d.Decode(tc.b, &r); !errors.Is(err, ErrRecord) {
				t.Fatalf("got %v, want ErrRecord", err)
			} else {
				t.Log(err)
			}
		})
	}
}

// FuzzRecord: no input panics the decoder; a decoded sample record encodes
// back to the same bytes.
func FuzzRecord(f *testing.F) {
	s := sample.Sample{Type: sample.Timer, Value: 1.5, TimestampMs: -3}
	f.Add(AppendSample(nil, testTarget(), 9, &s))
	f.Add(AppendWatermark(nil, "x", 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var r Record
		if d.Decode(b, &r) != nil {
			return
		}
		var again []byte
		if r.Kind == KindSample {
			again = AppendSample(nil, r.Target, r.Input, &r.Sample)
		} else {
			again = AppendWatermark(nil, r.Router, r.Watermark)
		}
		// Values may be NaN: compare encodings, not structs.
		var r2 Record
		if err := d.Decode(again, &r2); err != nil {
			t.Fatalf("re-decode %x: %v", again, err)
		}
		var third []byte
		if r2.Kind == KindSample {
			third = AppendSample(nil, r2.Target, r2.Input, &r2.Sample)
		} else {
			third = AppendWatermark(nil, r2.Router, r2.Watermark)
		}
		if !bytes.Equal(third, again) {
			t.Fatalf("re-encoded %x, want %x", third, again)
		}
	})
}
