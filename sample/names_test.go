package sample

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/sample/samplepb"
)

// rawJSON returns s in the JSON form as AppendJSON does, but with its
// strings as they are: bytes that are not UTF-8 stay, and a label sent
// twice appears twice.
func rawJSON(s *Sample) []byte {
	str := func(b []byte, v string) []byte {
		b = append(b, '"')
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = fmt.Appendf(b, `\u%04x`, c)
			default:
				b = append(b, c)
			}
		}
		return append(b, '"')
	}
	b := str([]byte(`{"name":`), s.Name)
	b = append(b, `,"labels":{`...)
	for i, l := range s.Labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(str(b, l.Name), ':')
		b = str(b, l.Value)
	}
	b = append(b, `},"type":"`...)
	b = append(b, s.Type.String()...)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, s.Value, 'g', -1, 64)
	b = append(b, `,"timestamp_ms":`...)
	b = strconv.AppendInt(b, s.TimestampMs, 10)
	if !s.TraceID.IsZero() {
		b = append(b, `,"trace_id":"`...)
		b = append(b, s.TraceID.String()...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// TestJSONAndProtobufAlike: the same sample, sent as JSON and as protobuf,
// is refused with the same code, field and reason, or accepted as the same
// sample.
func TestJSONAndProtobufAlike(t *testing.T) {
	base := func(edit func(*Sample)) Sample {
		s := Sample{Name: "m", Labels: Labels{{"k", "v"}}, Type: Gauge, Value: 1, TimestampMs: 5}
		edit(&s)
		return s
	}
	name := func(n string) Sample { return base(func(s *Sample) { s.Name = n }) }
	labels := func(ls ...Label) Sample { return base(func(s *Sample) { s.Labels = ls }) }
	for _, tc := range []struct {
		name   string
		sample Sample // as protobuf when pb is nil, and as JSON when json is ""
		json   string // the same sample in JSON, where escapes tell it
		code   string // "" for a valid sample
		field  string
		why    string
		pb     []byte // the same sample as a Batch, where AppendProto cannot tell it
	}{
		{"name not UTF-8", name("m\xff"), "", CodeBadField, "name", "not valid UTF-8", nil},
		{"name a lone surrogate", name("m\xed\xa0\x80"), `{"name":"m\ud800","labels":{"k":"v"},"type":"gauge","value":1,"timestamp_ms":5}`, CodeBadField, "name", "not valid UTF-8", nil},
		{"name empty", name(""), "", CodeBadField, "name", "missing or empty", nil},
		{"name with a dot", name("http.requests"), "", CodeBadField, "name", `"http.requests" is not a metric name`, nil},
		{"name with a dash", name("http-requests"), "", CodeBadField, "name", "not a metric name", nil},
		{"name with a space", name("a b"), "", CodeBadField, "name", "not a metric name", nil},
		{"name starts with a digit", name("1m"), "", CodeBadField, "name", "not a metric name", nil},
		{"name not ASCII", name("é"), `{"name":"\u00e9","labels":{"k":"v"},"type":"gauge","value":1,"timestamp_ms":5}`, CodeBadField, "name", "not a metric name", nil},
		{"name with a colon", name("job:rate5m"), "", "", "", "", nil},
		{"name starts with a colon or _", name(":_a1"), "", "", "", "", nil},
		{"name starts with __", name("__m"), "", "", "", "", nil},

		{"label name not UTF-8", labels(Label{"k\xc3", "v"}), "", CodeBadField, "labels", `label name "k\xc3" is not valid UTF-8`, nil},
		{"label name a lone surrogate", labels(Label{"\xed\xb0\x80", "v"}), `{"name":"m","labels":{"\udc00":"v"},"type":"gauge","value":1,"timestamp_ms":5}`, CodeBadField, "labels", "not valid UTF-8", nil},
		{"label name empty", labels(Label{"", "v"}), "", CodeBadField, "labels", "a label name is empty", nil},
		{"label name with a dash", labels(Label{"k-8", "v"}), "", CodeBadField, "labels", `label name "k-8" is not a label name`, nil},
		{"label name with a colon", labels(Label{"a:b", "v"}), "", CodeBadField, "labels", "not a label name", nil},
		{"label name starts with a digit", labels(Label{"1a", "v"}), "", CodeBadField, "labels", "not a label name", nil},
		{"label name not ASCII", labels(Label{"é", "v"}), "", CodeBadField, "labels", "not a label name", nil},
		{"label name reserved", labels(Label{"__name__", "v"}), "", CodeBadField, "labels", "reserved", nil},
		{"label name reserved, not a label name", labels(Label{"__a-b", "v"}), "", CodeBadField, "labels", "reserved", nil},
		{"label name twice", labels(Label{"b", "1"}, Label{"a", ""}, Label{"b", "2"}), "", CodeBadField, "labels", `"b" appears twice`, nil},
		{"label value not UTF-8", labels(Label{"k", "\xc3("}), "", CodeBadField, "labels", `the value of label "k" is not valid UTF-8`, nil},
		{"label value a lone surrogate", labels(Label{"k", "a\xed\xb0\x80"}), `{"name":"m","labels":{"k":"a\udc00"},"type":"gauge","value":1,"timestamp_ms":5}`, CodeBadField, "labels", "not valid UTF-8", nil},
		{"label value a high surrogate then a letter", labels(Label{"k", "\xed\xa0\x80a"}), `{"name":"m","labels":{"k":"\ud800a"},"type":"gauge","value":1,"timestamp_ms":5}`, CodeBadField, "labels", "not valid UTF-8", nil},
		{"label value a surrogate pair", labels(Label{"k", "😀"}), `{"name":"m","labels":{"k":"\ud83d\ude00"},"type":"gauge","value":1,"timestamp_ms":5}`, "", "", "", nil},
		{"label value U+FFFD", labels(Label{"k", "\ufffd"}), `{"name":"m","labels":{"k":"\ufffd"},"type":"gauge","value":1,"timestamp_ms":5}`, "", "", "", nil},
		{"label value escapes", labels(Label{"k", "\"\\/\b\f\n\r\t\x00é"}), `{"name":"m","labels":{"k":"\"\\\/\b\f\n\r\t\u0000\u00E9"},"type":"gauge","value":1,"timestamp_ms":5}`, "", "", "", nil},
		{"label value empty, labels unsorted", labels(Label{"z", ""}, Label{"_a", "1"}, Label{"A9", "2"}), "", "", "", "", nil},

		{"type missing", base(func(s *Sample) { s.Type = 0 }), `{"name":"m","labels":{"k":"v"},"value":1,"timestamp_ms":5}`, CodeBadField, "type", "missing", nil},
		{"timestamp before the epoch", base(func(s *Sample) { s.TimestampMs = -1 }), "", CodeBadField, "timestamp_ms", "before the Unix epoch", nil},
		{"trace all zeros", base(func(*Sample) {}), `{"name":"m","labels":{"k":"v"},"type":"gauge","value":1,"timestamp_ms":5,"trace_id":"00000000000000000000000000000000"}`, CodeBadField, "trace_id", "all zeros",
			pbBatch(pbSample(func(s *samplepb.Sample) { s.TraceId = make([]byte, 16) }))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := tc.json
			if js == "" {
				js = string(rawJSON(&tc.sample))
			}
			pb := tc.pb
			if pb == nil {
				pb = AppendProto(nil, []Sample{tc.sample})
			}
			var got [2]*DecodeError
			var samples [2]Sample
			for i, rec := range []struct {
				format Format
				in     []byte
			}{{FormatJSON, []byte(js)}, {FormatProto, pb}} {
				good, bad, err := DecodeRecordSamples(rec.in, rec.format, nil, nil)
				if err != nil || len(good)+len(bad) != 1 {
					t.Fatalf("%s %q: got %d samples, %d bad, %v; want one", rec.format, rec.in, len(good), len(bad), err)
				}
				if len(bad) == 1 {
					got[i] = bad[0].Err
				} else {
					samples[i] = good[0]
				}
			}
			if tc.code == "" {
				if got[0] != nil || got[1] != nil || !sameSample(&samples[0], &samples[1]) {
					t.Fatalf("got JSON %+v, %v and protobuf %+v, %v; want the same valid sample", samples[0], got[0], samples[1], got[1])
				}
				return
			}
			for i, format := range []Format{FormatJSON, FormatProto} {
				if e := got[i]; e == nil || e.Code() != tc.code || e.Field != tc.field || !strings.Contains(e.Reason, tc.why) {
					t.Errorf("%s: got %v, want code %s field %q reason containing %q", format, e, tc.code, tc.field, tc.why)
				}
			}
			if got[0] != nil && got[1] != nil && !sameError(got[0], got[1]) {
				t.Errorf("got JSON %q and protobuf %q, want the same error", got[0].Reason, got[1].Reason)
			}
		})
	}
}

func TestNameRules(t *testing.T) {
	for _, tc := range []struct {
		s             string
		metric, label bool
	}{
		{"a", true, true},
		{"_", true, true},
		{"A_z9", true, true},
		{":", true, false},
		{"a:b", true, false},
		{"__a", true, false},
		{"_a", true, true},
		{"", false, false},
		{"9a", false, false},
		{"a.b", false, false},
		{"a-b", false, false},
		{"a b", false, false},
		{"é", false, false},
		{"a\x00", false, false},
	} {
		if got := isMetricName(tc.s); got != tc.metric || got != metricNameRe.MatchString(tc.s) {
			t.Errorf("isMetricName(%q): got %v, want %v", tc.s, got, tc.metric)
		}
		if got := isLabelName(tc.s); got != tc.label || got != (labelNameRe.MatchString(tc.s) && !strings.HasPrefix(tc.s, "__")) {
			t.Errorf("isLabelName(%q): got %v, want %v", tc.s, got, tc.label)
		}
	}
}

func TestIsGraphiteLabel(t *testing.T) {
	for name, want := range map[string]bool{"__g0__": true, "__g12__": true, "__g999__": true, "__g__": false, "__g01__": false,
		"__g1000__": false, "__gx__": false, "__g1_": false, "g1": false, "__name__": false} {
		if got := IsGraphiteLabel(name); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

// TestValidate: a sample built by hand keeps the decoders' rules.
func TestValidate(t *testing.T) {
	ok := Sample{Name: "m", Labels: Labels{{"b", "2"}, {"a", "1"}}, Type: Gauge, Value: 1, TimestampMs: 0}
	for _, tc := range []struct {
		name  string
		edit  func(s *Sample)
		field string // "" for none
	}{
		{"valid, labels sorted", func(*Sample) {}, ""},
		{"no name", func(s *Sample) { s.Name = "" }, "name"},
		{"reserved label", func(s *Sample) { s.Labels[0].Name = "__b" }, "labels"},
		{"label twice", func(s *Sample) { s.Labels[0].Name = "a" }, "labels"},
		{"no type", func(s *Sample) { s.Type = 0 }, "type"},
		{"before the epoch", func(s *Sample) { s.TimestampMs = -1 }, "timestamp_ms"},
	} {
		s := ok
		s.Labels = slices.Clone(ok.Labels)
		tc.edit(&s)
		err := Validate(&s)
		var de *DecodeError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field == "" && s.Labels[0].Name != "a":
			t.Errorf("%s: labels %v not sorted", tc.name, s.Labels)
		case tc.field != "" && (!errors.As(err, &de) || de.Field != tc.field || de.Index != -1):
			t.Errorf("%s: got %v, want an error of field %s", tc.name, err, tc.field)
		}
	}
}
