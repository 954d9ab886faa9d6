package sample

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tumblemetrics/tumble/internal/protosync"
	"github.com/tumblemetrics/tumble/sample/samplepb"
)

// toGenerated returns batch as a message of the generated code, each run of
// samples of one series a Series, as AppendProto writes it.
func toGenerated(batch []Sample) *samplepb.Batch {
	var b samplepb.Batch
	for i, s := range batch {
		if i == 0 || !SameSeries(&batch[i-1], &batch[i]) {
			ser := &samplepb.Series{Name: s.Name, Type: samplepb.Type(s.Type)}
			for _, l := range s.Labels {
				ser.Labels = append(ser.Labels, &samplepb.Label{Name: l.Name, Value: l.Value})
			}
			b.Series = append(b.Series, ser)
		}
		p := &samplepb.Point{Value: proto.Float64(s.Value), TimestampMs: proto.Int64(s.TimestampMs)}
		if !s.TraceID.IsZero() {
			p.TraceId = bytes.Clone(s.TraceID[:])
		}
		ser := b.Series[len(b.Series)-1]
		ser.Points = append(ser.Points, p)
	}
	return &b
}

// appendSampleForm appends batch to dst as a Batch of Sample messages, the
// form that carries each sample's series itself.
func appendSampleForm(dst []byte, batch []Sample) []byte {
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
		dst = append(dst, pbField(p)...)
	}
	return dst
}

// The rules of names, as Prometheus states them.
var (
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// fromGenerated returns the samples of the Batch data, and false if the
// generated code or the contract refuses any: it states the contract's rules
// anew, apart from the codec's. The Batch's fields are taken one by one, in
// the order of the record, which the generated Batch does not keep between
// its two fields.
func fromGenerated(data []byte) ([]Sample, bool) {
	var out []Sample
	for off := 0; off < len(data); {
		num, typ, n := protowire.ConsumeTag(data[off:])
		if n < 0 || typ != protowire.BytesType || num != fieldBatchSamples && num != fieldBatchSeries {
			return nil, false
		}
		v, m := protowire.ConsumeBytes(data[off+n:])
		if m < 0 {
			return nil, false
		}
		off += n + m
		if num == fieldBatchSamples {
			var p samplepb.Sample
			if proto.Unmarshal(v, &p) != nil || hasUnknown(&p) {
				return nil, false
			}
			s, ok := fromGeneratedSeries(p.Name, p.Type, p.Labels)
			if !ok || !fromGeneratedPoint(&s, p.Value, p.TimestampMs, p.TraceId) {
				return nil, false
			}
			out = append(out, s)
			continue
		}
		var ser samplepb.Series
		if proto.Unmarshal(v, &ser) != nil || hasUnknown(&ser) || len(ser.Points) == 0 {
			return nil, false
		}
		head, ok := fromGeneratedSeries(ser.Name, ser.Type, ser.Labels)
		if !ok {
			return nil, false
		}
		for _, p := range ser.Points {
			s := head
			if !fromGeneratedPoint(&s, p.Value, p.TimestampMs, p.TraceId) {
				return nil, false
			}
			out = append(out, s)
		}
	}
	return out, len(out) > 0
}

// fromGeneratedSeries holds a series' fields to the contract.
func fromGeneratedSeries(name string, typ samplepb.Type, labels []*samplepb.Label) (Sample, bool) {
	if !metricNameRe.MatchString(name) || typ < 1 || typ > 4 {
		return Sample{}, false
	}
	m := map[string]string{}
	for _, l := range labels {
		if _, dup := m[l.Name]; dup || !labelNameRe.MatchString(l.Name) || strings.HasPrefix(l.Name, "__") {
			return Sample{}, false
		}
		m[l.Name] = l.Value
	}
	return Sample{Name: name, Type: Type(typ), Labels: FromMap(m)}, true
}

// fromGeneratedPoint holds a sample's value, timestamp and trace ID to the
// contract, and sets them in s.
func fromGeneratedPoint(s *Sample, value *float64, ts *int64, trace []byte) bool {
	if value == nil || ts == nil || math.IsNaN(*value) || math.IsInf(*value, 0) || *ts < 0 {
		return false
	}
	s.Value, s.TimestampMs = *value, *ts
	switch len(trace) {
	case 0:
	case 16:
		copy(s.TraceID[:], trace)
		return !s.TraceID.IsZero()
	default:
		return false
	}
	return true
}

// hasUnknown reports whether m or a message in it holds a field that its
// type does not declare, or one of another wire type.
func hasUnknown(m proto.Message) bool {
	unknown := false
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if len(m.GetUnknown()) > 0 {
			unknown = true
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() == protoreflect.MessageKind && fd.IsList() {
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			}
			return true
		})
	}
	walk(m.ProtoReflect())
	return unknown
}

// compareGenerated holds what DecodeRecord made of the protobuf record data,
// got and err, to what the generated code and the contract make of it.
func compareGenerated(t *testing.T, data []byte, got []Sample, err error) {
	t.Helper()
	want, valid := fromGenerated(data)
	if valid != (err == nil) {
		t.Fatalf("record %q: got error %v, want valid=%v", data, err, valid)
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
		{"Batch", "series", fieldBatchSeries, protoreflect.MessageKind},
		{"Series", "name", fieldSeriesName, protoreflect.StringKind},
		{"Series", "labels", fieldSeriesLabels, protoreflect.MessageKind},
		{"Series", "type", fieldSeriesType, protoreflect.EnumKind},
		{"Series", "points", fieldSeriesPoints, protoreflect.MessageKind},
		{"Point", "value", fieldPointValue, protoreflect.DoubleKind},
		{"Point", "timestamp_ms", fieldPointTimestampMs, protoreflect.Int64Kind},
		{"Point", "trace_id", fieldPointTraceID, protoreflect.BytesKind},
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
		if n := ProtoSize(batch); n != len(enc) {
			t.Fatalf("ProtoSize: %d, want %d, the length AppendProto wrote", n, len(enc))
		}
		checkSeriesHeads(t, batch, enc)
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

// TestSameSeries: keys decide when they can, labels otherwise.
func TestSameSeries(t *testing.T) {
	d1, d2 := NewDecoder(0), NewDecoder(0)
	keyed := func(d *Decoder, s Sample) Sample {
		got, _, err := d.DecodeRecordSamples(AppendProto(nil, []Sample{s}), FormatProto, nil, nil)
		if err != nil || len(got) != 1 || got[0].Key == (SeriesKey{}) {
			t.Fatalf("decoding %+v: %+v, %v", s, got, err)
		}
		return got[0]
	}
	a := Sample{Name: "m", Labels: Labels{{"k", "a"}}, Type: Gauge, Value: 1, TimestampMs: 1}
	a2 := Sample{Name: "m", Labels: Labels{{"k", "a"}}, Type: Gauge, Value: 2, TimestampMs: 2}
	b := Sample{Name: "m", Labels: Labels{{"k", "b"}}, Type: Gauge, Value: 1, TimestampMs: 1}
	timer := a
	timer.Type = Timer
	forged := keyed(d1, b)
	forged.Labels = a.Labels // a Key left stale
	for _, tc := range []struct {
		name string
		x, y Sample
		want bool
	}{
		{"plain, same", a, a2, true},
		{"plain, other labels", a, b, false},
		{"plain, other type", a, timer, false},
		{"keyed, same", keyed(d1, a), keyed(d1, a2), true},
		{"keyed, other labels", keyed(d1, a), keyed(d1, b), false},
		{"keyed by two decoders, same", keyed(d1, a), keyed(d2, a2), true},
		{"keyed by two decoders, other labels", keyed(d1, a), keyed(d2, b), false},
		{"one keyed, same", keyed(d1, a), a2, true},
		{"one keyed, other labels", keyed(d1, a), b, false},
		{"keyed, other type", keyed(d1, a), keyed(d1, timer), false},
		{"a stale key decides", forged, keyed(d1, a), false},
	} {
		if got := SameSeries(&tc.x, &tc.y); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if got := SameSeries(&tc.y, &tc.x); got != tc.want {
			t.Errorf("%s, swapped: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// checkSeriesHeads holds AppendSeries, with the AppendSeriesHead of each
// run's series, to enc, what AppendProto wrote for batch.
func checkSeriesHeads(t *testing.T, batch []Sample, enc []byte) {
	t.Helper()
	var got []byte
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && SameSeries(&batch[i], &batch[j]) {
			j++
		}
		s := &batch[i]
		head := AppendSeriesHead(nil, s.Name, s.Labels)
		n := len(got)
		got = AppendSeries(got, head, batch[i:j])
		if size := SeriesSize(head, batch[i:j]); size != len(got)-n {
			t.Fatalf("SeriesSize of %+v: %d, want %d, the length AppendSeries wrote", s, size, len(got)-n)
		}
		i = j
	}
	if !bytes.Equal(got, enc) {
		t.Fatalf("AppendSeries: got %x, want %x as AppendProto writes", got, enc)
	}
}
