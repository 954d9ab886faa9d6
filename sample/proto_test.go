package sample

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tumblemetrics/tumble/internal/protosync"
	"github.com/tumblemetrics/tumble/sample/samplepb"
)

// toGenerated returns batch as a message of the generated code.
func toGenerated(batch []Sample) *samplepb.Batch {
	var b samplepb.Batch
	for _, s := range batch {
		p := &samplepb.Sample{
			Name:        s.Name,
			Type:        samplepb.Type(s.Type),
			Value:       proto.Float64(s.Value),
			TimestampMs: proto.Int64(s.TimestampMs),
		}
		for _, l := range s.Labels {
			p.Labels = append(p.Labels, &samplepb.Label{Name: l.Name, Value: l.Value})
		}
		if !s.TraceID.IsZero() {
			p.TraceId = bytes.Clone(s.TraceID[:])
		}
		b.Samples = append(b.Samples, p)
	}
	return &b
}

// The rules of names, as Prometheus states them.
var (
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// fromGenerated returns the samples of b, and false if the contract refuses
// any: it states the contract's rules anew, apart from the codec's.
func fromGenerated(b *samplepb.Batch) ([]Sample, bool) {
	var out []Sample
	for _, p := range b.Samples {
		if !metricNameRe.MatchString(p.Name) || p.Type < 1 || p.Type > 4 || p.Value == nil || p.TimestampMs == nil ||
			math.IsNaN(*p.Value) || math.IsInf(*p.Value, 0) || *p.TimestampMs < 0 {
			return nil, false
		}
		s := Sample{Name: p.Name, Type: Type(p.Type), Value: *p.Value, TimestampMs: *p.TimestampMs}
		switch len(p.TraceId) {
		case 0:
		case 16:
			copy(s.TraceID[:], p.TraceId)
			if s.TraceID.IsZero() {
				return nil, false
			}
		default:
			return nil, false
		}
		m := map[string]string{}
		for _, l := range p.Labels {
			if _, dup := m[l.Name]; dup || !labelNameRe.MatchString(l.Name) || strings.HasPrefix(l.Name, "__") {
				return nil, false
			}
			m[l.Name] = l.Value
		}
		s.Labels = FromMap(m)
		out = append(out, s)
	}
	return out, len(out) > 0
}

// hasUnknown reports whether b or a message in it holds a field that its
// type does not declare, or one of another wire type.
func hasUnknown(b *samplepb.Batch) bool {
	if len(b.ProtoReflect().GetUnknown()) > 0 {
		return true
	}
	for _, s := range b.Samples {
		if len(s.ProtoReflect().GetUnknown()) > 0 {
			return true
		}
		for _, l := range s.Labels {
			if len(l.ProtoReflect().GetUnknown()) > 0 {
				return true
			}
		}
	}
	return false
}

// compareGenerated holds what DecodeRecord made of the protobuf record data,
// got and err, to what the generated code and the contract make of it.
func compareGenerated(t *testing.T, data []byte, got []Sample, err error) {
	t.Helper()
	var ref samplepb.Batch
	refErr := proto.Unmarshal(data, &ref)
	var want []Sample
	valid := false
	if refErr == nil && !hasUnknown(&ref) {
		want, valid = fromGenerated(&ref)
	}
	if valid != (err == nil) {
		t.Fatalf("record %q: got error %v, want valid=%v (generated code: error %v, unknown fields %v)",
			data, err, valid, refErr, refErr == nil && hasUnknown(&ref))
	}
	if !valid {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("record %q: got %d samples, want %d", data, len(got), len(want))
	}
	for i := range want {
		if !sameSample(&got[i], &want[i]) {
			t.Fatalf("record %q: sample %d: got %+v, want %+v", data, i, got[i], want[i])
		}
	}
}

func TestAppendProtoMatchesGenerated(t *testing.T) {
	batch := []Sample{
		wantAB[0], wantAB[1],
		{Name: "z", Labels: Labels{{"a", ""}, {"b", strings.Repeat("v", 200)}}, Type: Cumulative, Value: math.Copysign(0, -1), TimestampMs: 0},
		{Name: "big", Type: Counter, Value: -math.MaxFloat64, TimestampMs: math.MaxInt64, TraceID: TraceID{15: 1}},
	}
	for n := range len(batch) + 1 {
		got := AppendProto([]byte("prefix"), batch[:n])
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(toGenerated(batch[:n]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Fatalf("%d samples: got %x, want prefix then %x", n, got, want)
		}
		if n > 0 {
			back, err := DecodeRecord(got[6:], FormatProto, nil)
			compareGenerated(t, got[6:], back, err)
		}
	}
	buf := make([]byte, 0, 1024)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendProto(buf[:0], batch) }); allocs != 0 {
		t.Errorf("AppendProto into a large enough buffer: got %v allocations, want 0", allocs)
	}
}

// TestCodecMatchesDescriptor: the field numbers and types that the codec
// uses are those of the generated code.
func TestCodecMatchesDescriptor(t *testing.T) {
	fd := samplepb.File_sample_samplepb_sample_proto
	if got := string(fd.Messages().ByName("Batch").FullName()); got != BatchMessage {
		t.Errorf("Batch message: got %s, want %s", got, BatchMessage)
	}
	for _, tc := range []struct {
		msg, field string
		num        protoreflect.FieldNumber
		kind       protoreflect.Kind
	}{
		{"Batch", "samples", fieldBatchSamples, protoreflect.MessageKind},
		{"Sample", "name", fieldSampleName, protoreflect.StringKind},
		{"Sample", "labels", fieldSampleLabels, protoreflect.MessageKind},
		{"Sample", "type", fieldSampleType, protoreflect.EnumKind},
		{"Sample", "value", fieldSampleValue, protoreflect.DoubleKind},
		{"Sample", "timestamp_ms", fieldSampleTimestampMs, protoreflect.Int64Kind},
		{"Sample", "trace_id", fieldSampleTraceID, protoreflect.BytesKind},
		{"Label", "name", fieldLabelName, protoreflect.StringKind},
		{"Label", "value", fieldLabelValue, protoreflect.StringKind},
	} {
		f := fd.Messages().ByName(protoreflect.Name(tc.msg)).Fields().ByName(protoreflect.Name(tc.field))
		if f == nil || f.Number() != tc.num || f.Kind() != tc.kind {
			t.Errorf("%s.%s: got %v, want number %d of kind %v", tc.msg, tc.field, f, tc.num, tc.kind)
		}
	}
	for _, tc := range []struct {
		pb   samplepb.Type
		want Type
	}{{samplepb.Type_TYPE_COUNTER, Counter}, {samplepb.Type_TYPE_CUMULATIVE, Cumulative}, {samplepb.Type_TYPE_GAUGE, Gauge}, {samplepb.Type_TYPE_TIMER, Timer}} {
		if Type(tc.pb) != tc.want {
			t.Errorf("%v: got number %d, want %d (%v)", tc.pb, tc.pb, tc.want, tc.want)
		}
	}
	if n := fd.Enums().ByName("Type").Values().Len(); n != 5 {
		t.Errorf("enum Type: got %d values, want 5", n)
	}
}

// TestGeneratedMatchesProtoFile: sample.pb.go was generated from the
// sample.proto beside it, as it is now (`make proto` regenerates it).
func TestGeneratedMatchesProtoFile(t *testing.T) {
	protosync.CheckFile(t, "samplepb/sample.proto", samplepb.File_sample_samplepb_sample_proto)
}

// FuzzProtoRoundTrip: AppendProto writes what the generated code writes, and
// DecodeRecord returns a valid batch as it was and refuses an invalid one.
func FuzzProtoRoundTrip(f *testing.F) {
	f.Add("http_requests_total", "service", "checkout", uint8(Counter), 1.5, int64(1763800000123), []byte("0123456789abcdef"))
	f.Add("m", "", "", uint8(Gauge), math.Copysign(0, -1), int64(0), []byte(nil))
	f.Add("m", "__name__", "x", uint8(0), math.NaN(), int64(-1), make([]byte, 16))
	f.Add("\xff", "k", "\xc3", uint8(7), math.Inf(1), int64(math.MaxInt64), []byte("short"))
	f.Fuzz(func(t *testing.T, name, lname, lvalue string, typ uint8, value float64, ts int64, trace []byte) {
		s := Sample{Name: name, Type: Type(typ), Value: value, TimestampMs: ts}
		if lname != "" || lvalue != "" {
			s.Labels = Labels{{Name: lname, Value: lvalue}}
		}
		copy(s.TraceID[:], trace)
		batch := []Sample{wantAB[0], s, wantAB[1]}
		enc := AppendProto(nil, batch)
		if want, err := (proto.MarshalOptions{Deterministic: true}).Marshal(toGenerated(batch)); err == nil && !bytes.Equal(enc, want) {
			t.Fatalf("AppendProto: got %x, want %x as the generated code writes", enc, want)
		}
		got, err := DecodeRecord(enc, FormatProto, nil)
		compareGenerated(t, enc, got, err)
		if err == nil {
			for i := range batch {
				if !sameSample(&got[i], &batch[i]) {
					t.Fatalf("sample %d: got %+v, want %+v", i, got[i], batch[i])
				}
			}
		}
		// Valid or not, s does not cost the samples around it.
		good, bad, err := DecodeRecordSamples(enc, FormatProto, nil, nil)
		if err != nil || len(good) < 2 || !sameSample(&good[0], &batch[0]) || !sameSample(&good[len(good)-1], &batch[2]) {
			t.Fatalf("got %+v, %v; want samples 0 and 2 at least", good, err)
		}
		if len(bad) == 1 {
			one := AppendProto(nil, batch[1:2])
			if len(good) != 2 || bad[0].Index != 1 || !bytes.Equal(bad[0].Raw, one) || !errors.Is(bad[0], bad[0].Err) {
				t.Fatalf("got bad samples %v, want sample 1 whose bytes are %x", bad, one)
			}
			if _, derr := DecodeRecord(one, FormatProto, nil); derr == nil || derr.Error() != strings.Replace(bad[0].Error(), "sample 1:", "sample 0:", 1) {
				t.Fatalf("sample 1 alone: got %v, in the batch %v", derr, bad[0])
			}
		} else if len(bad) != 0 || len(good) != 3 {
			t.Fatalf("got %d samples and bad ones %v, want 3 samples or sample 1 bad", len(good), bad)
		}
	})
}
