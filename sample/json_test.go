package sample

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"math"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		field, why  string // want a DecodeError on field with reason containing why
		wantLabels  string
		wantTrace   string
		wantValue   float64
		wantType    Type
		wantTsMilli int64
	}{
		{
			name:       "contract example",
			in:         `{"name":"http_request_duration_seconds","labels":{"service":"checkout","route":"/pay","pod":"checkout-7f9c"},"type":"timer","value":0.182,"timestamp_ms":1763800000123,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`,
			wantLabels: `{pod="checkout-7f9c", route="/pay", service="checkout"}`, wantTrace: "4bf92f3577b34da6a3ce929d0e0e4736",
			wantValue: 0.182, wantType: Timer, wantTsMilli: 1763800000123,
		},
		{name: "no labels, no trace", in: `{"name":"up","type":"gauge","value":1,"timestamp_ms":5}`, wantLabels: "{}", wantValue: 1, wantType: Gauge, wantTsMilli: 5},
		{name: "empty trace is no trace", in: `{"name":"c","type":"counter","value":-2.5e3,"timestamp_ms":5,"trace_id":""}`, wantLabels: "{}", wantValue: -2500, wantType: Counter, wantTsMilli: 5},
		{name: "missing name", in: `{"type":"gauge","value":1,"timestamp_ms":5}`, field: "name", why: "missing"},
		{name: "unknown type", in: `{"name":"x","type":"summary","value":1,"timestamp_ms":5}`, field: "type", why: `unknown sample type "summary"`},
		{name: "missing value", in: `{"name":"x","type":"gauge","timestamp_ms":5}`, field: "value", why: "missing"},
		{name: "value is a string", in: `{"name":"x","type":"gauge","value":"1","timestamp_ms":5}`, field: "value", why: "not a finite number"},
		{name: "value overflows", in: `{"name":"x","type":"gauge","value":1e999,"timestamp_ms":5}`, field: "value", why: "not a finite number"},
		{name: "fractional timestamp", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":5.5}`, field: "timestamp_ms", why: "not an integer"},
		{name: "negative timestamp", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":-5}`, field: "timestamp_ms", why: "before the Unix epoch"},
		{name: "short trace", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":5,"trace_id":"abc"}`, field: "trace_id", why: "want 32 hex digits"},
		{name: "zero trace", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":5,"trace_id":"00000000000000000000000000000000"}`, field: "trace_id", why: "all zeros"},
		{name: "unknown field", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":5,"unit":"s"}`, field: "unit", why: "unknown field"},
		{name: "label not a string", in: `{"name":"x","labels":{"a":1},"type":"gauge","value":1,"timestamp_ms":5}`, field: "labels", why: "cannot be decoded"},
		{name: "reserved label", in: `{"name":"x","labels":{"__name__":"y"},"type":"gauge","value":1,"timestamp_ms":5}`, field: "labels", why: "reserved"},
		{name: "trailing data", in: `{"name":"x","type":"gauge","value":1,"timestamp_ms":5} {}`, why: "trailing data"},
		{name: "not JSON", in: `name=x`, why: "malformed JSON: invalid character"},
		{name: "empty", in: ``, why: "empty input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeJSON([]byte(tc.in))
			if tc.why != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("got error %v, want a *DecodeError", err)
				}
				if de.Field != tc.field || !contains(de.Reason, tc.why) {
					t.Fatalf("got field %q reason %q, want field %q reason containing %q", de.Field, de.Reason, tc.field, tc.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Labels.String(); got != tc.wantLabels {
				t.Errorf("labels: got %s, want %s", got, tc.wantLabels)
			}
			if got := s.TraceID.String(); got != tc.wantTrace {
				t.Errorf("trace: got %q, want %q", got, tc.wantTrace)
			}
			if s.Value != tc.wantValue || s.Type != tc.wantType || s.TimestampMs != tc.wantTsMilli {
				t.Errorf("got value %v type %v ts %d, want %v %v %d", s.Value, s.Type, s.TimestampMs, tc.wantValue, tc.wantType, tc.wantTsMilli)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestHashLongSeries(t *testing.T) {
	seed := maphash.MakeSeed()
	long := Labels{{Name: "a", Value: strings.Repeat("x", 300)}, {Name: "b", Value: "y"}}
	short := Labels{{Name: "a", Value: "x"}}
	for _, ls := range []Labels{long, short} {
		id, check := ls.Hashes("m", seed)
		wantID, wantCheck := ls.hashesDigest("m", &seed)
		if id != wantID || check != wantCheck || ls.Hash("m") != wantID {
			t.Errorf("Hashes of %d labels: got %x %x, want the digests' %x %x", len(ls), id, check, wantID, wantCheck)
		}
	}
}

func TestSeriesIDIgnoresLabelOrder(t *testing.T) {
	a, _ := DecodeJSON([]byte(`{"name":"m","labels":{"a":"1","b":"2"},"type":"gauge","value":1,"timestamp_ms":1}`))
	b, _ := DecodeJSON([]byte(`{"name":"m","labels":{"b":"2","a":"1"},"type":"gauge","value":1,"timestamp_ms":1}`))
	c, _ := DecodeJSON([]byte(`{"name":"m","labels":{"a":"12"},"type":"gauge","value":1,"timestamp_ms":1}`))
	if a.SeriesID() != b.SeriesID() {
		t.Errorf("same series, different IDs: %x and %x", a.SeriesID(), b.SeriesID())
	}
	if a.SeriesID() == c.SeriesID() {
		t.Errorf("different series, same ID %x", a.SeriesID())
	}
}

// FuzzDecodeJSON: no input panics; what decodes has the name and labels
// that encoding/json reads, keeps the rules, and re-encodes to the same
// sample.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name":"http_request_duration_seconds","labels":{"service":"checkout"},"type":"timer","value":0.182,"timestamp_ms":1763800000123,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`))
	f.Add([]byte(`{"name":"c","type":"cumulative","value":1e308,"timestamp_ms":0}`))
	f.Add([]byte(`{"name":"\u00e9","labels":{"k":"\n\"v"},"type":"gauge","value":-0,"timestamp_ms":1}`))
	f.Add([]byte(`{"name":"a\u003ab","labels":{"k\u005f1":"\ud83d\ude00\u00e9\/","b":null,"k":""},"Labels":{"c":"\ud800"},"type":"gauge","value":-0,"timestamp_ms":1}`))
	f.Add([]byte(`{"name":"m","labels":{"k":"\xff"},"type":"gauge","value":-0,"timestamp_ms":1}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeJSON(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			t.Fatalf("decoded a non-finite value %v", s.Value)
		}
		checkInvariants(t, &s)
		// The strings are valid UTF-8: encoding/json reads them alike.
		var ref struct {
			Name   string
			Labels map[string]string
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if ref.Name != s.Name || !FromMap(ref.Labels).Equal(s.Labels) {
			t.Fatalf("got %q %s, encoding/json reads %q %s", s.Name, s.Labels, ref.Name, FromMap(ref.Labels))
		}
		again, err := DecodeJSON(AppendJSON(nil, &s))
		if err != nil {
			t.Fatalf("re-decode %s: %v", AppendJSON(nil, &s), err)
		}
		if again.Name != s.Name || !again.Labels.Equal(s.Labels) || again.Type != s.Type ||
			math.Float64bits(again.Value) != math.Float64bits(s.Value) && again.Value != s.Value ||
			again.TimestampMs != s.TimestampMs || again.TraceID != s.TraceID {
			t.Fatalf("round trip: got %+v, want %+v", again, s)
		}
	})
}
