package sample

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tumblemetrics/tumble/sample/samplepb"
)

const (
	jsonA = `{"name":"a","labels":{"k":"1"},"type":"gauge","value":1,"timestamp_ms":5}`
	jsonB = `{"name":"b","type":"timer","value":0.5,"timestamp_ms":6,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`
)

// wantAB is what jsonA and jsonB decode to, in that order.
var wantAB = []Sample{
	{Name: "a", Labels: Labels{{"k", "1"}}, Type: Gauge, Value: 1, TimestampMs: 5},
	{Name: "b", Type: Timer, Value: 0.5, TimestampMs: 6, TraceID: mustTrace("4bf92f3577b34da6a3ce929d0e0e4736")},
}

func mustTrace(s string) TraceID {
	t, err := ParseTraceID(s)
	if err != nil {
		panic(err)
	}
	return t
}

// pbSample returns a valid protobuf Sample, changed by edit.
func pbSample(edit func(*samplepb.Sample)) *samplepb.Sample {
	s := &samplepb.Sample{
		Name:        "m",
		Labels:      []*samplepb.Label{{Name: "k", Value: "v"}},
		Type:        samplepb.Type_TYPE_GAUGE,
		Value:       proto.Float64(1),
		TimestampMs: proto.Int64(5),
	}
	if edit != nil {
		edit(s)
	}
	return s
}

// pbBatch encodes samples as a Batch with the generated code.
func pbBatch(samples ...*samplepb.Sample) []byte {
	b, err := proto.Marshal(&samplepb.Batch{Samples: samples})
	if err != nil {
		panic(err)
	}
	return b
}

// pbSeries returns a valid protobuf Series of two points, changed by edit.
func pbSeries(edit func(*samplepb.Series)) *samplepb.Series {
	s := &samplepb.Series{
		Name:   "m",
		Labels: []*samplepb.Label{{Name: "k", Value: "v"}},
		Type:   samplepb.Type_TYPE_GAUGE,
		Points: []*samplepb.Point{
			{Value: proto.Float64(1), TimestampMs: proto.Int64(5)},
			{Value: proto.Float64(2), TimestampMs: proto.Int64(6), TraceId: []byte("0123456789abcdef")},
		},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

// pbSeriesBatch encodes series as a Batch with the generated code.
func pbSeriesBatch(series ...*samplepb.Series) []byte {
	b, err := proto.Marshal(&samplepb.Batch{Series: series})
	if err != nil {
		panic(err)
	}
	return b
}

// pbSeriesBytes returns the encoded valid Series of pbSeries(nil).
func pbSeriesBytes() []byte {
	b, err := proto.Marshal(pbSeries(nil))
	if err != nil {
		panic(err)
	}
	return b
}

// pbSeriesRaw encodes a Batch of one Series whose message is raw.
func pbSeriesRaw(raw []byte) []byte {
	b := protowire.AppendTag(nil, fieldBatchSeries, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

// pbRaw encodes a Batch of one Sample whose message is raw.
func pbRaw(raw []byte) []byte {
	b := protowire.AppendTag(nil, fieldBatchSamples, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

// pbSampleBytes returns the encoded valid Sample of pbSample(nil).
func pbSampleBytes() []byte {
	b, err := proto.Marshal(pbSample(nil))
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeRecord(t *testing.T) {
	proto2 := AppendProto(nil, wantAB)
	for _, tc := range []struct {
		name   string
		format Format
		in     string
	}{
		{"JSON lines", FormatJSON, jsonA + "\n" + jsonB},
		{"JSON lines, CRLF, blank lines, trailing newline", FormatJSON, jsonA + "\r\n\r\n" + jsonB + "\r\n"},
		{"pretty-printed JSON lines", FormatJSON, "{\n  \"name\": \"a\",\n  \"labels\": {\"k\": \"1\"},\n  \"type\": \"gauge\",\n  \"value\": 1,\n  \"timestamp_ms\": 5\n}\n" + jsonB},
		{"array", FormatJSON, "[" + jsonA + ",\n " + jsonB + "]"},
		{"array, auto", FormatAuto, " [" + jsonA + "," + jsonB + "]\n"},
		{"JSON lines, auto", FormatAuto, jsonA + "\n" + jsonB},
		{"protobuf", FormatProto, string(proto2)},
		{"protobuf, auto", FormatAuto, string(proto2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []Sample{{Name: "kept"}}
			got, err := DecodeRecord([]byte(tc.in), tc.format, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].Name != "kept" {
				t.Fatalf("got %d samples starting with %q, want the one given and 2 more", len(got), got[0].Name)
			}
			for i, want := range wantAB {
				if !sameSample(&got[i+1], &want) {
					t.Errorf("sample %d: got %+v, want %+v", i, got[i+1], want)
				}
			}
		})
	}
	got, err := DecodeRecord([]byte(jsonA), FormatAuto, nil)
	if err != nil || len(got) != 1 || !sameSample(&got[0], &wantAB[0]) {
		t.Errorf("one object: got %+v, %v, want %+v", got, err, wantAB[:1])
	}
}

// TestAutoProtoLikeJSON: a Batch whose first field is a Sample 123 bytes
// long starts with "\n{", which a sniffer skipping white space would take
// for JSON. (A Batch of Series starts with 0x12, which no JSON does.)
func TestAutoProtoLikeJSON(t *testing.T) {
	for _, second := range []byte{' ', '[', '{'} {
		s := Sample{Type: Gauge, Value: 1, TimestampMs: 1}
		for s.Name = "m"; len(appendSampleForm(nil, []Sample{s})) < 2+int(second); s.Name += "m" {
		}
		for _, rec := range [][]byte{appendSampleForm(nil, []Sample{s}), AppendProto(nil, []Sample{s})} {
			got, err := DecodeRecord(rec, FormatAuto, nil)
			if err != nil || len(got) != 1 || got[0].Name != s.Name {
				t.Errorf("record starting %q: got %d samples, %v; want the sample", rec[:2], len(got), err)
			}
		}
		if rec := appendSampleForm(nil, []Sample{s}); rec[1] != second {
			t.Fatalf("got a record starting %q, want %q", rec[:2], []byte{'\n', second})
		}
	}
}

// errorCase is a record that DecodeRecord, or a sample that Limits.Check,
// refuses: with code, on sample index (-1 for the record), in field, with a
// reason containing why.
type errorCase struct {
	name   string
	format Format
	in     []byte
	code   string
	index  int
	field  string
	why    string
}

var decodeErrorCases = []errorCase{
	{"empty", FormatAuto, nil, CodeEmptyRecord, -1, "", "no sample"},
	{"empty protobuf", FormatProto, []byte{}, CodeEmptyRecord, -1, "", "no sample"},
	{"white space", FormatJSON, []byte(" \n\t\r\n"), CodeEmptyRecord, -1, "", "no sample"},
	{"empty array", FormatAuto, []byte("[ ]"), CodeEmptyRecord, -1, "", "no sample"},
	{"unsupported", FormatUnsupported, []byte(jsonA), CodeUnsupportedFormat, -1, "", "want application/json"},
	{"unknown format", Format(9), []byte(jsonA), CodeUnsupportedFormat, -1, "", "Format(9)"},

	{"not JSON", FormatJSON, []byte("name=a"), CodeMalformedJSON, -1, "", "want a sample object"},
	{"JSON string", FormatJSON, []byte(`"a"`), CodeMalformedJSON, -1, "", "want a sample object"},
	{"two objects on a line", FormatJSON, []byte(jsonA + " " + jsonB), CodeMalformedJSON, 0, "", "need a newline"},
	{"syntax error in line 2", FormatJSON, []byte(jsonA + "\n{\"name\":}"), CodeMalformedJSON, 1, "", "invalid character '}'"},
	{"truncated", FormatJSON, []byte(jsonA[:20]), CodeMalformedJSON, 0, "", "unexpected EOF"},
	{"array not closed", FormatJSON, []byte("[" + jsonA), CodeMalformedJSON, -1, "", "unexpected EOF"},
	{"array missing comma", FormatJSON, []byte("[" + jsonA + " " + jsonB + "]"), CodeMalformedJSON, 1, "", "after array element"},
	{"array trailing data", FormatJSON, []byte("[" + jsonA + "] x"), CodeMalformedJSON, -1, "", "trailing data"},
	{"array of numbers", FormatJSON, []byte("[1]"), CodeMalformedJSON, 0, "", "JSON number cannot be decoded"},
	{"nested array", FormatJSON, []byte("[" + jsonA + ",[]]"), CodeMalformedJSON, 1, "", "JSON array cannot be decoded"},

	{"JSON unknown field", FormatJSON, []byte(jsonA + "\n" + `{"name":"x","type":"gauge","value":1,"timestamp_ms":5,"unit":"s"}`), CodeBadField, 1, "unit", "unknown field"},
	{"JSON missing type", FormatAuto, []byte("[" + jsonA + `,{"name":"x","value":1,"timestamp_ms":5}]`), CodeBadField, 1, "type", "missing"},
	{"JSON value a string", FormatJSON, []byte(`{"name":"x","type":"gauge","value":"1","timestamp_ms":5}`), CodeBadField, 0, "value", "not a finite number"},
	{"JSON null sample", FormatJSON, []byte(jsonA + "\nnull"), CodeBadField, 1, "name", "missing"},
	{"JSON value overflows", FormatJSON, []byte(`{"name":"x","type":"gauge","value":-1e999,"timestamp_ms":5}`), CodeValueNotFinite, 0, "value", "not a finite number"},

	{"protobuf truncated", FormatProto, pbBatch(pbSample(nil))[:10], CodeMalformedProtobuf, 0, "", "unexpected EOF"},
	{"protobuf bad varint", FormatProto, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, CodeMalformedProtobuf, 0, "", "malformed protobuf Batch"},
	{"protobuf field 0", FormatAuto, []byte{0x00}, CodeMalformedProtobuf, -1, "", "malformed protobuf Batch"},
	{"protobuf sample truncated", FormatProto, pbRaw(pbSampleBytes()[:4]), CodeMalformedProtobuf, 0, "", "malformed protobuf Sample"},
	{"protobuf label truncated", FormatProto, pbRaw([]byte{0x12, 0x02, 0x0a, 0x05}), CodeMalformedProtobuf, 0, "", "malformed protobuf Label"},

	{"protobuf unknown batch field", FormatProto, append(pbBatch(pbSample(nil)), 0x18, 0x01), CodeBadField, -1, "3", "unknown field of Batch"},
	{"protobuf series wire type", FormatProto, append(pbBatch(pbSample(nil)), 0x10, 0x01), CodeBadField, -1, "series", "wire type varint, want bytes"},
	{"series truncated", FormatProto, pbSeriesRaw(pbSeriesBytes()[:4]), CodeMalformedProtobuf, 0, "", "malformed protobuf Series"},
	{"series unknown field", FormatProto, pbSeriesRaw(append(pbSeriesBytes(), 0x28, 0x01)), CodeBadField, 0, "5", "unknown field of Series"},
	{"series points wire type", FormatProto, pbSeriesRaw(append(pbSeriesBytes(), 0x20, 0x01)), CodeBadField, 0, "points", "wire type varint, want bytes"},
	{"series without points", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Points = nil })), CodeBadField, 0, "points", "missing"},
	{"series missing name", FormatProto, pbSeriesBatch(pbSeries(nil), pbSeries(func(s *samplepb.Series) { s.Name = "" })), CodeBadField, 2, "name", "missing"},
	{"series reserved label", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Labels[0].Name = "__x" })), CodeBadField, 0, "labels", "reserved"},
	{"series missing type", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Type = 0 })), CodeBadField, 0, "type", "missing"},
	{"point truncated", FormatProto, pbSeriesRaw(append(pbSeriesBytes(), 0x22, 0x02, 0x09, 0x00)), CodeMalformedProtobuf, 2, "", "malformed protobuf Point"},
	{"point unknown field", FormatProto, pbSeriesRaw(append(pbSeriesBytes(), 0x22, 0x02, 0x20, 0x01)), CodeBadField, 2, "4", "unknown field of Point"},
	{"point missing value", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Points[1].Value = nil })), CodeBadField, 1, "value", "missing"},
	{"point missing timestamp", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Points[0].TimestampMs = nil })), CodeBadField, 0, "timestamp_ms", "missing"},
	{"point NaN", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Points[1].Value = proto.Float64(math.NaN()) })), CodeValueNotFinite, 1, "value", "NaN"},
	{"point zero trace", FormatProto, pbSeriesBatch(pbSeries(func(s *samplepb.Series) { s.Points[0].TraceId = make([]byte, 16) })), CodeBadField, 0, "trace_id", "all zeros"},
	{"protobuf unknown sample field", FormatProto, pbRaw(protowire.AppendVarint(append(pbSampleBytes(), 0x38), 1)), CodeBadField, 0, "7", "unknown field of Sample"},
	{"protobuf unknown label field", FormatProto, pbRaw([]byte{0x12, 0x02, 0x18, 0x01}), CodeBadField, 0, "3", "unknown field of Label"},
	{"protobuf samples wire type", FormatProto, []byte{0x08, 0x01}, CodeBadField, -1, "samples", "wire type varint, want bytes"},
	{"protobuf value wire type", FormatProto, pbRaw([]byte{0x20, 0x01}), CodeBadField, 0, "value", "wire type varint, want fixed64"},
	{"protobuf label wire type", FormatProto, pbRaw([]byte{0x12, 0x02, 0x08, 0x01}), CodeBadField, 0, "labels", "wire type varint, want bytes"},
	{"protobuf missing name", FormatProto, pbBatch(pbSample(nil), pbSample(func(s *samplepb.Sample) { s.Name = "" })), CodeBadField, 1, "name", "missing"},
	{"protobuf name not UTF-8", FormatProto, pbRaw(append([]byte{0x0a, 0x01, 0xff}, pbSampleBytes()[3:]...)), CodeBadField, 0, "name", "UTF-8"},
	{"protobuf empty label name", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Labels[0].Name = "" })), CodeBadField, 0, "labels", "empty"},
	{"protobuf reserved label", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Labels[0].Name = "__name__" })), CodeBadField, 0, "labels", "reserved"},
	{"protobuf label value not UTF-8", FormatProto, pbRaw(append(pbSampleBytes(), 0x12, 0x06, 0x0a, 0x01, 'x', 0x12, 0x01, 0xc3)), CodeBadField, 0, "labels", `label "x" is not valid UTF-8`},
	{"protobuf label twice", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) {
		s.Labels = append(s.Labels, &samplepb.Label{Name: "a"}, &samplepb.Label{Name: "k", Value: "w"})
	})), CodeBadField, 0, "labels", `"k" appears twice`},
	{"protobuf type unspecified", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Type = samplepb.Type_TYPE_UNSPECIFIED })), CodeBadField, 0, "type", "missing"},
	{"protobuf unknown type", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Type = 9 })), CodeBadField, 0, "type", "unknown sample type 9"},
	{"protobuf missing value", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Value = nil })), CodeBadField, 0, "value", "missing"},
	{"protobuf missing timestamp", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.TimestampMs = nil })), CodeBadField, 0, "timestamp_ms", "missing"},
	{"protobuf negative timestamp", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.TimestampMs = proto.Int64(-1) })), CodeBadField, 0, "timestamp_ms", "before the Unix epoch"},
	{"protobuf short trace", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.TraceId = make([]byte, 15) })), CodeBadField, 0, "trace_id", "15 bytes, want 16"},
	{"protobuf zero trace", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.TraceId = make([]byte, 16) })), CodeBadField, 0, "trace_id", "all zeros"},
	{"protobuf NaN", FormatProto, pbBatch(pbSample(func(s *samplepb.Sample) { s.Value = proto.Float64(math.NaN()) })), CodeValueNotFinite, 0, "value", "NaN is not a finite number"},
	{"protobuf Inf", FormatAuto, pbBatch(pbSample(nil), pbSample(nil), pbSample(func(s *samplepb.Sample) { s.Value = proto.Float64(math.Inf(-1)) })), CodeValueNotFinite, 2, "value", "-Inf is not a finite number"},
}

func TestDecodeRecordErrors(t *testing.T) {
	for _, tc := range decodeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []Sample{{Name: "kept"}}
			got, err := DecodeRecord(tc.in, tc.format, prefix)
			if len(got) != 1 || got[0].Name != "kept" {
				t.Errorf("got %d samples back, want only the one given", len(got))
			}
			checkError(t, err, tc)
		})
	}
}

// checkError holds err to tc.
func checkError(t *testing.T, err error, tc errorCase) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("got error %v, want a *DecodeError", err)
	}
	if de.Code() != tc.code || de.Index != tc.index || de.Field != tc.field || !strings.Contains(de.Reason, tc.why) {
		t.Errorf("got code %s index %d field %q reason %q, want code %s index %d field %q reason containing %q",
			de.Code(), de.Index, de.Field, de.Reason, tc.code, tc.index, tc.field, tc.why)
	}
}

// TestEveryCodeTested: each reason code has a case in the tables.
func TestEveryCodeTested(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range decodeErrorCases {
		seen[tc.code] = true
	}
	for _, tc := range limitErrorCases {
		seen[tc.code] = true
	}
	for _, code := range Codes() {
		if !seen[code] {
			t.Errorf("code %s: got no test case, want one at least", code)
		}
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{mustFail(DecodeJSON([]byte(`{"name":"x"}`))), `decode sample: field "type": missing`},
		{mustFail(DecodeJSON([]byte(`x`))), `decode sample: malformed JSON: invalid character 'x' looking for beginning of value`},
		{mustFailRecord(DecodeRecord([]byte(jsonA+"\n"+`{"name":"x"}`), FormatJSON, nil)), `decode sample 1: field "type": missing`},
		{mustFailRecord(DecodeRecord(nil, FormatJSON, nil)), `decode sample: the record holds no sample`},
		{DefaultLimits().CheckAll([]Sample{{Name: "a"}, {Name: "b", Value: math.NaN()}}, 0), `check sample 1: field "value": NaN is not a finite number`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func mustFail(_ Sample, err error) error {
	if err == nil {
		panic("no error")
	}
	return err
}

func mustFailRecord(_ []Sample, err error) error {
	if err == nil {
		panic("no error")
	}
	return err
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{
		{"", FormatAuto},
		{"  ", FormatAuto},
		{"application/json", FormatJSON},
		{"Application/JSON; charset=UTF-8", FormatJSON},
		{"application/x-ndjson", FormatJSON},
		{"application/jsonl", FormatJSON},
		{"application/json; charset=latin1", FormatUnsupported},
		{ContentTypeJSON, FormatJSON},
		{ContentTypeProto, FormatProto},
		{"application/x-protobuf", FormatProto},
		{"application/x-protobuf;messagetype=tumble.sample.v1.Batch", FormatProto},
		{"application/protobuf; proto=tumble.sample.v1.Batch", FormatProto},
		{"application/vnd.google.protobuf", FormatProto},
		{"application/x-protobuf; proto=io.prometheus.write.v2.Request", FormatUnsupported},
		{"application/x-protobuf; messageType=tumble.sample.v1.Sample", FormatUnsupported},
		{"text/plain", FormatUnsupported},
		{"application/json; =", FormatUnsupported},
	} {
		if got := ParseFormat(tc.in); got != tc.want {
			t.Errorf("ParseFormat(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

// sameSample reports whether a and b are equal, values bit for bit.
func sameSample(a, b *Sample) bool {
	return a.Name == b.Name && a.Labels.Equal(b.Labels) && a.Type == b.Type &&
		math.Float64bits(a.Value) == math.Float64bits(b.Value) &&
		a.TimestampMs == b.TimestampMs && a.TraceID == b.TraceID
}

// checkInvariants holds a decoded sample to what DecodeRecord promises.
func checkInvariants(t *testing.T, s *Sample) {
	t.Helper()
	if !metricNameRe.MatchString(s.Name) || s.Type < Counter || s.Type > Timer || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.TimestampMs < 0 {
		t.Fatalf("decoded an invalid sample %+v", *s)
	}
	if !slices.IsSortedFunc(s.Labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("decoded unsorted labels %s", s.Labels)
	}
	for i, l := range s.Labels {
		if !labelNameRe.MatchString(l.Name) || strings.HasPrefix(l.Name, "__") || !utf8.ValidString(l.Value) || i > 0 && s.Labels[i-1].Name == l.Name {
			t.Fatalf("decoded bad labels %s", s.Labels)
		}
	}
}

// FuzzDecodeRecord: no record panics. DecodeRecordSamples splits a record
// as encoding/json or protowire do, or refuses it whole with a *DecodeError
// of a known code, leaving dst and bad as they were; each sample it refuses
// alone has its position and its bytes, which decode alone to the same
// error, and each valid sample is what its bytes decode to alone. Limits.Filter
// refuses what Check does, at the sample's position. DecodeRecord agrees;
// what decodes meets the invariants, re-encodes in both formats and decodes
// equal, and a protobuf record decodes as the generated code reads it.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(jsonA), uint8(FormatAuto))
	f.Add([]byte(jsonA+"\n"+jsonB+"\n"), uint8(FormatJSON))
	f.Add([]byte("["+jsonA+","+jsonB+"]"), uint8(FormatAuto))
	f.Add([]byte(`{"name":"\u00e9","labels":{"k":"\n\"v"},"type":"cumulative","value":-0,"timestamp_ms":0}`), uint8(FormatJSON))
	f.Add([]byte(`{"name":"a:b","labels":{"k":"\u00e9\ud83d\ude00\ud800","l":null},"type":"cumulative","value":-0,"timestamp_ms":0}`), uint8(FormatJSON))
	f.Add([]byte("["+jsonBad+",\n"+jsonA+",1,null,{}]"), uint8(FormatJSON))
	f.Add([]byte(jsonA+"\n"+jsonBad+"\n"+`{"name":"m","labels":{"k":"\xff"},"type":"gauge","value":1,"timestamp_ms":7200000}`), uint8(FormatJSON))
	f.Add(AppendProto(nil, wantAB), uint8(FormatAuto))
	f.Add(AppendProto(nil, wantAB), uint8(FormatProto))
	f.Add(append(pbBatch(pbSample(nil), pbBad), AppendProto(nil, wantAB)...), uint8(FormatProto))
	for _, tc := range sharedSeriesCases {
		f.Add(tc.record, uint8(FormatProto))
	}
	f.Add(append(append(appendSampleForm(nil, wantAB[:1]), pbSeriesBatch(pbSeries(nil), pbSeries(func(s *samplepb.Series) {
		s.Points[0].Value = nil
	}))...), AppendProto(nil, wantAB)...), uint8(FormatAuto))
	f.Add(pbBatch(pbSample(nil), pbSample(func(s *samplepb.Sample) {
		s.Labels = append(s.Labels, &samplepb.Label{Name: "b", Value: "é"}, &samplepb.Label{Name: "a"})
		s.TraceId = []byte("0123456789abcdef")
	})), uint8(FormatAuto))
	for _, tc := range decodeErrorCases {
		f.Add(tc.in, uint8(tc.format))
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		fm := Format(format % 3)
		whole, wholeErr := DecodeRecord(data, fm, []Sample{{Name: "kept"}})
		if wholeErr != nil && (len(whole) != 1 || whole[0].Name != "kept") {
			t.Fatalf("got %d samples back after an error, want only the one given", len(whole))
		}
		if fm.Of(data) == FormatProto {
			compareGenerated(t, data, whole[1:], wholeErr)
			compareOneByOne(t, data, whole[1:], wholeErr)
		}
		got, bad, err := checkRecordSamples(t, data, fm)
		checkDecoder(t, data, fm, got, bad, err)
		if err != nil {
			return
		}
		checkFilter(t, data, fm, got, bad)
		for i := range got {
			checkInvariants(t, &got[i])
		}
		var lines []byte
		for i := range got {
			lines = append(AppendJSON(lines, &got[i]), '\n')
		}
		for _, re := range []struct {
			format Format
			data   []byte
		}{{FormatAuto, AppendProto(nil, got)}, {FormatAuto, lines}} {
			if len(got) == 0 {
				break
			}
			again, err := DecodeRecord(re.data, re.format, nil)
			if err != nil {
				t.Fatalf("decode re-encoded %q: %v", re.data, err)
			}
			if len(again) != len(got) {
				t.Fatalf("re-encoded: got %d samples, want %d", len(again), len(got))
			}
			for i := range got {
				if !sameSample(&again[i], &got[i]) {
					t.Fatalf("re-encoded sample %d: got %+v, want %+v", i, again[i], got[i])
				}
			}
		}
	})
}

// compareOneByOne requires DecodeRecord's result for the protobuf record
// data, got and err, to be what decoding each of its samples alone gives:
// the samples of a record that share a series share its decoded name and
// labels, and that must change nothing.
func compareOneByOne(t *testing.T, data []byte, got []Sample, err error) {
	t.Helper()
	var want []Sample
	var wantErr error
	for off, i := 0, 0; off < len(data) && wantErr == nil; {
		num, typ, n := protowire.ConsumeTag(data[off:])
		if n < 0 || num != fieldBatchSamples && num != fieldBatchSeries || typ != protowire.BytesType {
			return // the record is malformed before the samples
		}
		v, m := protowire.ConsumeBytes(data[off+n:])
		if m < 0 {
			return
		}
		off += n + m
		one := protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
		var ss []Sample
		if ss, wantErr = DecodeRecord(one, FormatProto, nil); wantErr == nil {
			want = append(want, ss...)
			i += len(ss)
		} else if de, ok := wantErr.(*DecodeError); ok {
			de.Index += i
		}
	}
	if wantErr == nil && len(want) == 0 {
		return // no sample: the record is refused as a whole
	}
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("record %q: got error %v, one by one %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("record %q: got %+v, one by one %+v", data, got, want)
	}
}

// sharedSeriesCases are protobuf records whose samples repeat a series.
var sharedSeriesCases = func() []struct {
	name   string
	record []byte
	code   string // "" for a valid record
	shares bool   // its samples share their labels
} {
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	label := func(name, value string) []byte {
		return field(field(nil, fieldLabelName, []byte(name)), fieldLabelValue, []byte(value))
	}
	scalars := func(b []byte, ts int64) []byte {
		b = protowire.AppendVarint(protowire.AppendTag(b, fieldSampleType, protowire.VarintType), uint64(Gauge))
		b = protowire.AppendFixed64(protowire.AppendTag(b, fieldSampleValue, protowire.Fixed64Type), math.Float64bits(1.5))
		return protowire.AppendVarint(protowire.AppendTag(b, fieldSampleTimestampMs, protowire.VarintType), uint64(ts))
	}
	series := field(field(nil, fieldSampleName, []byte("m")), fieldSampleLabels, label("a", "1"))
	withB := field(scalars(append([]byte(nil), series...), 1), fieldSampleLabels, label("b", "2"))
	record := func(samples ...[]byte) []byte {
		var b []byte
		for _, s := range samples {
			b = field(b, fieldBatchSamples, s)
		}
		return b
	}
	noValue := append(append([]byte(nil), series...), protowire.AppendVarint(protowire.AppendTag(nil, fieldSampleType, protowire.VarintType), uint64(Gauge))...)
	return []struct {
		name   string
		record []byte
		code   string
		shares bool
	}{
		{"one series thrice", record(scalars(append([]byte(nil), series...), 1), scalars(append([]byte(nil), series...), 2), scalars(append([]byte(nil), series...), 3)), "", true},
		{"a label after the scalars, then the same first fields without it", record(withB, scalars(append([]byte(nil), series...), 2), withB), "", false},
		{"the series again, its value missing", record(scalars(append([]byte(nil), series...), 1), noValue), CodeBadField, false},
		{"the series again, a label after the scalars duplicated", record(scalars(append([]byte(nil), series...), 1), field(scalars(append([]byte(nil), series...), 2), fieldSampleLabels, label("a", "1"))), CodeBadField, false},
	}
}()

func TestSharedSeries(t *testing.T) {
	for _, tc := range sharedSeriesCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRecord(tc.record, FormatProto, nil)
			compareOneByOne(t, tc.record, got, err)
			compareGenerated(t, tc.record, got, err)
			var de *DecodeError
			if tc.code != "" {
				if !errors.As(err, &de) || de.Code() != tc.code || de.Index != 1 {
					t.Fatalf("got %v, want %s at sample 1", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Samples of one series share its labels.
			for i := 1; tc.shares && i < len(got); i++ {
				if &got[i].Labels[0] != &got[0].Labels[0] {
					t.Errorf("sample %d repeats sample 0's series without sharing its labels", i)
				}
			}
		})
	}
}
