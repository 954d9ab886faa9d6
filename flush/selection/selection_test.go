package selection

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// full returns a valid selection with every field set.
func full() Selection {
	return Selection{
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		Reason:      Final,
		Name:        "http_request_duration_seconds_by_route",
		Labels:      map[string]string{"route": "/pay", "service": "checkout", "team": "payments"},
		Aggregation: "P99",
		Policy:      "10s:2d",
		StartMs:     1763800000000,
		EndMs:       1763800010000,
		Value:       0.873,
		SampleValue: 0.873,
		SampleMs:    1763800004211,
		Rule:        "http latency by route",
		Tenant:      "payments",
		Shard:       3,
		Leader:      "node-a",
		Term:        1234,
	}
}

func TestEncodeDecode(t *testing.T) {
	minimal := full()
	minimal.Reason, minimal.Labels, minimal.Tenant, minimal.Leader, minimal.Term = Candidate, nil, "", "", 0
	minimal.Shard, minimal.StartMs, minimal.EndMs, minimal.SampleMs = 0, -10_000, 0, -1
	for _, tc := range []struct {
		name string
		s    Selection
	}{
		{"full", full()},
		{"candidate without labels, tenant or leader", minimal},
		{"empty labels", func() Selection { s := full(); s.Labels = map[string]string{}; return s }()},
		{"unicode and escapes", func() Selection {
			s := full()
			s.Name, s.Labels = `lat"ency<&>`, map[string]string{"ключ": "значение\n", "e": ""}
			return s
		}()},
		{"extreme values", func() Selection {
			s := full()
			s.Value, s.SampleValue = math.MaxFloat64, -math.SmallestNonzeroFloat64
			s.StartMs, s.EndMs, s.Term = math.MinInt64, math.MaxInt64, math.MaxInt64
			s.Shard = math.MaxInt32
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.s.Encode()
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.s) {
				t.Errorf("round trip of %s:\ngot  %+v\nwant %+v", b, got, tc.s)
			}
			if k := string(tc.s.Key()); k != tc.s.TraceID {
				t.Errorf("Key() = %q, want the trace ID %q", k, tc.s.TraceID)
			}
		})
	}
}

// TestDecodeDocExample decodes the record shown in doc.go.
func TestDecodeDocExample(t *testing.T) {
	doc := `{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "reason": "final",
	 "name": "http_request_duration_seconds_by_route", "labels": {"route": "/pay", "service": "checkout"},
	 "aggregation": "P99", "policy": "10s:2d", "window_start_ms": 1763800000000, "window_end_ms": 1763800010000,
	 "value": 0.873, "sample_value": 0.873, "sample_timestamp_ms": 1763800004211,
	 "rule": "http latency by route", "shard": 3, "leader": "node-a", "term": 1234}`
	want := full()
	want.Labels = map[string]string{"route": "/pay", "service": "checkout"}
	want.Tenant = ""
	got, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("Decode of the doc.go example: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := full()
	encoded := string(good.Encode())
	for _, tc := range []struct {
		name   string
		value  string           // the record, if not set by edit
		edit   func(*Selection) // applied to full() to make the record
		errHas string           // what the error must name
	}{
		{name: "empty", value: ``, errHas: "selection record: unexpected end of JSON input"},
		{name: "truncated", value: encoded[:40], errHas: "selection record: unexpected end"},
		{name: "not an object", value: `[1, 2]`, errHas: "selection record: json: cannot unmarshal array"},
		{name: "trailing data", value: encoded + "x", errHas: "selection record: invalid character 'x' after top-level value"},
		{name: "string shard", value: `{"shard": "3"}`, errHas: "selection record: json: cannot unmarshal string"},
		{name: "fractional time", value: `{"window_start_ms": 1.5}`, errHas: "selection record: json: cannot unmarshal number 1.5"},
		{name: "value out of range", value: `{"value": 1e400}`, errHas: "selection record: json: cannot unmarshal number 1e400"},
		{name: "shard beyond int32", value: `{"shard": 2147483648}`, errHas: "selection record: json: cannot unmarshal number 2147483648"},
		{name: "labels not strings", value: `{"labels": {"a": 1}}`, errHas: "selection record: json: cannot unmarshal number"},
		{name: "empty object", value: `{}`, errHas: `trace ID "": want 32 lowercase hex digits`},
		{name: "null", value: `null`, errHas: `trace ID "": want 32 lowercase hex digits`},
		{name: "trace ID short", edit: func(s *Selection) { s.TraceID = s.TraceID[:31] }, errHas: `trace ID "4bf92f3577b34da6a3ce929d0e0e473":`},
		{name: "trace ID long", edit: func(s *Selection) { s.TraceID += "6" }, errHas: `trace ID "4bf92f3577b34da6a3ce929d0e0e47366":`},
		{name: "trace ID of 16 bytes", edit: func(s *Selection) { s.TraceID = s.TraceID[:16] }, errHas: `trace ID "4bf92f3577b34da6":`},
		{name: "trace ID uppercase", edit: func(s *Selection) { s.TraceID = strings.ToUpper(s.TraceID) }, errHas: `trace ID "4BF92F3577B34DA6A3CE929D0E0E4736":`},
		{name: "trace ID all zero", edit: func(s *Selection) { s.TraceID = strings.Repeat("0", 32) }, errHas: `trace ID "00000000000000000000000000000000": want 32 lowercase hex digits, not all zero`},
		{name: "trace ID not hex", edit: func(s *Selection) { s.TraceID = "4bf92f3577b34da6a3ce929d0e0e473g" }, errHas: `trace ID "4bf92f3577b34da6a3ce929d0e0e473g":`},
		{name: "trace ID with dashes", edit: func(s *Selection) { s.TraceID = "4bf92f35-77b3-4da6-a3ce-929d0e0e" }, errHas: `trace ID "4bf92f35-77b3-4da6-a3ce-929d0e0e":`},
		{name: "no reason", edit: func(s *Selection) { s.Reason = "" }, errHas: `reason "": want final or candidate`},
		{name: "unknown reason", edit: func(s *Selection) { s.Reason = "Final" }, errHas: `reason "Final": want final or candidate`},
		{name: "empty name", edit: func(s *Selection) { s.Name = "" }, errHas: `series name ""`},
		{name: "empty aggregation", edit: func(s *Selection) { s.Aggregation = "" }, errHas: "no aggregation or policy"},
		{name: "empty policy", edit: func(s *Selection) { s.Policy = "" }, errHas: "no aggregation or policy"},
		{name: "window start = end", edit: func(s *Selection) { s.EndMs = s.StartMs }, errHas: "window [1763800000000, 1763800000000) is empty"},
		{name: "window start > end", edit: func(s *Selection) { s.StartMs, s.EndMs = 10, 5 }, errHas: "window [10, 5) is empty"},
		{name: "negative shard", edit: func(s *Selection) { s.Shard = -1 }, errHas: "shard -1"},
		{name: "empty label name", edit: func(s *Selection) { s.Labels[""] = "x" }, errHas: `label ""="x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.value)
			if tc.edit != nil {
				s := full()
				tc.edit(&s)
				b = s.Encode()
			}
			got, err := Decode(b)
			if err == nil {
				t.Fatalf("Decode(%s) = %+v, want an error naming %q", b, got, tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Decode(%s): got error %q, want one containing %q", b, err, tc.errHas)
			}
			if !strings.HasPrefix(err.Error(), "selection record: ") {
				t.Errorf("Decode(%s): got error %q, want it to start with %q", b, err, "selection record: ")
			}
			if !reflect.DeepEqual(got, Selection{}) {
				t.Errorf("Decode(%s) returned %+v with its error, want the zero Selection", b, got)
			}
		})
	}
}

// TestValidErrors covers the faults JSON cannot carry (non-finite numbers,
// invalid UTF-8: encoding/json replaces it), so only Valid can see them.
func TestValidErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*Selection)
		errHas string
	}{
		{"NaN value", func(s *Selection) { s.Value = math.NaN() }, "value NaN, sample value 0.873"},
		{"infinite value", func(s *Selection) { s.Value = math.Inf(1) }, "value +Inf, sample value 0.873"},
		{"NaN sample value", func(s *Selection) { s.SampleValue = math.NaN() }, "value 0.873, sample value NaN"},
		{"-Inf sample value", func(s *Selection) { s.SampleValue = math.Inf(-1) }, "value 0.873, sample value -Inf"},
		{"invalid UTF-8 name", func(s *Selection) { s.Name = "lat\xff" }, `series name "lat\xff"`},
		{"invalid UTF-8 label name", func(s *Selection) { s.Labels["k\xfe"] = "v" }, `label "k\xfe"="v"`},
		{"invalid UTF-8 label value", func(s *Selection) { s.Labels["k"] = "v\xc3" }, `label "k"="v\xc3"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := full()
			tc.edit(&s)
			err := s.Valid()
			if err == nil {
				t.Fatalf("Valid() of %+v = nil, want an error naming %q", s, tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Valid(): got error %q, want one containing %q", err, tc.errHas)
			}
		})
	}
	s := full()
	if err := s.Valid(); err != nil {
		t.Errorf("Valid() of the full selection: %v", err)
	}
}

func TestValidTraceID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"00000000000000000000000000000001", true},
		{"10000000000000000000000000000000", true},
		{"0123456789abcdef0123456789abcdef", true},
		{"ffffffffffffffffffffffffffffffff", true},
		{"", false},
		{"00000000000000000000000000000000", false},
		{"4bf92f3577b34da6a3ce929d0e0e473", false},   // 31 digits
		{"4bf92f3577b34da6a3ce929d0e0e47360", false}, // 33 digits
		{"4bf92f3577b34da6", false},                  // a 64-bit ID
		{"4BF92F3577B34DA6A3CE929D0E0E4736", false},
		{"4bf92f3577b34da6a3ce929d0e0e473A", false},
		{"4bf92f3577b34da6a3ce929d0e0e473g", false},
		{"4bf92f3577b34da6a3ce929d0e0e473 ", false},
		{" bf92f3577b34da6a3ce929d0e0e4736", false},
		{"4bf92f35-77b3-4da6-a3ce-929d0e0e", false},
		{"0x0000000000000000000000000000ab", false},
		{"4bf92f3577b34da6a3ce929d0e0e47é", false}, // 32 bytes, not 32 digits
		{"4bf92f3577b34da6a3ce929d0e0e473\x00", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if got := ValidTraceID(tc.id); got != tc.want {
				t.Errorf("ValidTraceID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestTraceID(t *testing.T) {
	for _, tc := range []struct {
		id    [16]byte
		want  string
		valid bool
	}{
		{[16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}, "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{[16]byte{15: 1}, "00000000000000000000000000000001", true},
		{[16]byte{0: 0xab, 15: 0xcd}, "ab0000000000000000000000000000cd", true},
		{[16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "ffffffffffffffffffffffffffffffff", true},
		{[16]byte{}, "00000000000000000000000000000000", false}, // text, but not a trace ID selections write
	} {
		t.Run(tc.want, func(t *testing.T) {
			got := TraceID(tc.id)
			if got != tc.want {
				t.Errorf("TraceID(%x) = %q, want %q", tc.id, got, tc.want)
			}
			if v := ValidTraceID(got); v != tc.valid {
				t.Errorf("ValidTraceID(TraceID(%x)) = %v, want %v", tc.id, v, tc.valid)
			}
		})
	}
}

// FuzzDecode: Decode never panics; what it accepts is valid, encodes to a
// record that decodes to the same selection, and that encoding is stable.
func FuzzDecode(f *testing.F) {
	valid := full()
	f.Add(valid.Encode())
	noLabels := valid
	noLabels.Labels, noLabels.Tenant, noLabels.Leader, noLabels.Term, noLabels.Reason = nil, "", "", 0, Candidate
	f.Add(noLabels.Encode())
	for _, edit := range []func(*Selection){
		func(s *Selection) { s.TraceID = strings.ToUpper(s.TraceID) },
		func(s *Selection) { s.TraceID = strings.Repeat("0", 32) },
		func(s *Selection) { s.Reason = "maybe" },
		func(s *Selection) { s.EndMs = s.StartMs },
		func(s *Selection) { s.Shard = -2 },
		func(s *Selection) { s.Labels = map[string]string{"": "x"} },
	} {
		s := full()
		edit(&s)
		f.Add(s.Encode())
	}
	for _, b := range []string{
		``, `{}`, `null`, `[]`, `{"trace_id":`, `{"labels":{"a":"\ud800"}}`,
		`{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","reason":"final","name":"n\u00ff","labels":{"k":"v\u0000"},` +
			`"aggregation":"Max","policy":"1m:40d","window_start_ms":-60000,"window_end_ms":0,"value":-0,"sample_value":1e308,"shard":0}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if !reflect.DeepEqual(s, Selection{}) {
				t.Fatalf("Decode(%q) returned %+v with error %v, want the zero Selection", b, s, err)
			}
			return
		}
		if err := s.Valid(); err != nil {
			t.Fatalf("Decode(%q) accepted %+v, which Valid refuses: %v", b, s, err)
		}
		e1 := s.Encode()
		s2, err := Decode(e1)
		if err != nil {
			t.Fatalf("Decode of the encoding %s of %+v (from %q): %v", e1, s, b, err)
		}
		if !reflect.DeepEqual(s2, s) {
			t.Fatalf("round trip of %s:\ngot  %+v\nwant %+v", e1, s2, s)
		}
		if e2 := s2.Encode(); string(e2) != string(e1) {
			t.Fatalf("encoding again: got %s, want %s", e2, e1)
		}
	})
}
