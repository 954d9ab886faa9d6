package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// DecodeError says which field of a JSON sample is wrong and why.
type DecodeError struct {
	Field  string // JSON field name, "" when the document itself is malformed
	Reason string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "decode sample: " + e.Reason
	}
	return fmt.Sprintf("decode sample: field %q: %s", e.Field, e.Reason)
}

// jsonSample mirrors the contract; pointers tell a missing field from a zero.
type jsonSample struct {
	Name        *string           `json:"name"`
	Labels      map[string]string `json:"labels"`
	Type        *string           `json:"type"`
	Value       json.RawMessage   `json:"value"`
	TimestampMs json.RawMessage   `json:"timestamp_ms"`
	TraceID     *string           `json:"trace_id"`
}

// DecodeJSON decodes one sample in the JSON form of the contract. Decoding is
// strict: unknown fields, missing required fields, a value that is not a finite
// number, a timestamp that is not an integer, a malformed trace ID and trailing
// data are all errors of type *DecodeError.
func DecodeJSON(data []byte) (Sample, error) {
	var js jsonSample
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&js); err != nil {
		return Sample{}, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Sample{}, &DecodeError{Reason: "trailing data after the sample object"}
	}
	return js.sample()
}

func (js *jsonSample) sample() (Sample, error) {
	var s Sample
	if js.Name == nil || *js.Name == "" {
		return s, &DecodeError{Field: "name", Reason: "missing or empty"}
	}
	s.Name = *js.Name
	for n := range js.Labels {
		if n == "" {
			return s, &DecodeError{Field: "labels", Reason: "a label name is empty"}
		}
		if strings.HasPrefix(n, "__") {
			return s, &DecodeError{Field: "labels", Reason: fmt.Sprintf("label name %q is reserved (names starting with __ are internal)", n)}
		}
	}
	s.Labels = FromMap(js.Labels)
	if js.Type == nil {
		return s, &DecodeError{Field: "type", Reason: "missing"}
	}
	t, err := ParseType(*js.Type)
	if err != nil {
		return s, &DecodeError{Field: "type", Reason: err.Error()}
	}
	s.Type = t
	if js.Value == nil {
		return s, &DecodeError{Field: "value", Reason: "missing"}
	}
	v, err := strconv.ParseFloat(string(js.Value), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return s, &DecodeError{Field: "value", Reason: fmt.Sprintf("%s is not a finite number", js.Value)}
	}
	s.Value = v
	if js.TimestampMs == nil {
		return s, &DecodeError{Field: "timestamp_ms", Reason: "missing"}
	}
	ts, err := strconv.ParseInt(string(js.TimestampMs), 10, 64)
	if err != nil {
		return s, &DecodeError{Field: "timestamp_ms", Reason: fmt.Sprintf("%s is not an integer number of milliseconds", js.TimestampMs)}
	}
	if ts < 0 {
		return s, &DecodeError{Field: "timestamp_ms", Reason: fmt.Sprintf("%d is before the Unix epoch", ts)}
	}
	s.TimestampMs = ts
	if js.TraceID != nil && *js.TraceID != "" {
		id, err := ParseTraceID(*js.TraceID)
		if err != nil {
			return s, &DecodeError{Field: "trace_id", Reason: err.Error()}
		}
		s.TraceID = id
	}
	return s, nil
}

// jsonError turns an encoding/json error into a DecodeError naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &DecodeError{Field: te.Field, Reason: fmt.Sprintf("a JSON %s cannot be decoded into %s", te.Value, te.Type)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &DecodeError{Field: strings.Trim(f, `"`), Reason: "unknown field"}
	}
	if errors.Is(err, io.EOF) {
		return &DecodeError{Reason: "empty input"}
	}
	return &DecodeError{Reason: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

// AppendJSON appends the JSON form of s to dst. DecodeJSON(AppendJSON(nil, s))
// returns s again for every valid s.
func AppendJSON(dst []byte, s *Sample) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, s.Name)
	dst = append(dst, `,"labels":`...)
	dst = s.Labels.AppendJSON(dst)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, s.Type.String()...)
	dst = append(dst, `","value":`...)
	dst = strconv.AppendFloat(dst, s.Value, 'g', -1, 64)
	dst = append(dst, `,"timestamp_ms":`...)
	dst = strconv.AppendInt(dst, s.TimestampMs, 10)
	if !s.TraceID.IsZero() {
		dst = append(dst, `,"trace_id":"`...)
		dst = append(dst, s.TraceID.String()...)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// AppendJSON appends the labels as a JSON object, {"name":"value",...}, in
// name order.
func (ls Labels) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, l.Name)
		dst = append(dst, ':')
		dst = appendString(dst, l.Value)
	}
	return append(dst, '}')
}

// appendString appends str as a JSON string.
func appendString(dst []byte, str string) []byte {
	b, _ := json.Marshal(str) // a string always marshals
	return append(dst, b...)
}
