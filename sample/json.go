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

// jsonSample mirrors the contract; pointers and empty raw values tell a
// missing field from a zero.
type jsonSample struct {
	Name        jsonName        `json:"name"`
	Labels      jsonLabels      `json:"labels"`
	Type        *string         `json:"type"`
	Value       json.RawMessage `json:"value"`
	TimestampMs json.RawMessage `json:"timestamp_ms"`
	TraceID     *string         `json:"trace_id"`
}

// reset empties js for the next sample, keeping its buffers: Decode would
// merge the next sample into the fields of this one.
func (js *jsonSample) reset() {
	*js = jsonSample{
		Labels:      jsonLabels{list: js.Labels.list[:0]},
		Value:       js.Value[:0],
		TimestampMs: js.TimestampMs[:0],
	}
}

// DecodeJSON decodes one sample in the JSON form of the contract. Decoding is
// strict: unknown fields, missing required fields, a value that is not a finite
// number, a timestamp that is not an integer, a malformed trace ID, a name
// or label that breaks the rules of names (see DecodeRecordSamples) and
// trailing data are all errors of type *DecodeError.
func DecodeJSON(data []byte) (Sample, error) {
	var js jsonSample
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&js); err != nil {
		return Sample{}, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Sample{}, newError(CodeMalformedJSON, "", "trailing data after the sample object")
	}
	s, err := js.sample()
	if err != nil {
		return Sample{}, err
	}
	return s, nil
}

// sample checks the fields of js and returns them as a Sample, whose
// Labels are those of js, sorted.
func (js *jsonSample) sample() (Sample, *DecodeError) {
	var s Sample
	s.Name = string(js.Name)
	if err := checkName(s.Name); err != nil {
		return s, err
	}
	if len(js.Labels.list) > 0 {
		if err := checkLabels(js.Labels.list); err != nil {
			return s, err
		}
		s.Labels = js.Labels.list
	}
	if js.Type == nil {
		return s, newError(CodeBadField, "type", "missing")
	}
	t, err := ParseType(*js.Type)
	if err != nil {
		return s, newError(CodeBadField, "type", err.Error())
	}
	s.Type = t
	if len(js.Value) == 0 {
		return s, newError(CodeBadField, "value", "missing")
	}
	v, err := strconv.ParseFloat(string(js.Value), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		code := CodeBadField
		if errors.Is(err, strconv.ErrRange) { // a JSON number beyond a float64
			code = CodeValueNotFinite
		}
		return s, newError(code, "value", fmt.Sprintf("%s is not a finite number", js.Value))
	}
	s.Value = v
	if len(js.TimestampMs) == 0 {
		return s, newError(CodeBadField, "timestamp_ms", "missing")
	}
	ts, err := strconv.ParseInt(string(js.TimestampMs), 10, 64)
	if err != nil {
		return s, newError(CodeBadField, "timestamp_ms", fmt.Sprintf("%s is not an integer number of milliseconds", js.TimestampMs))
	}
	if ts < 0 {
		return s, beforeEpoch(ts)
	}
	s.TimestampMs = ts
	if js.TraceID != nil && *js.TraceID != "" {
		id, err := ParseTraceID(*js.TraceID)
		if err != nil {
			return s, newError(CodeBadField, "trace_id", err.Error())
		}
		s.TraceID = id
	}
	return s, nil
}

// jsonError turns an encoding/json error into a DecodeError naming the field.
func jsonError(err error) *DecodeError {
	var de *DecodeError
	if errors.As(err, &de) { // from jsonName or jsonLabels
		return de
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		code := CodeBadField
		if te.Field == "" { // the sample itself is not an object
			code = CodeMalformedJSON
		}
		return newError(code, te.Field, fmt.Sprintf("a JSON %s cannot be decoded into %s", te.Value, te.Type))
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return newError(CodeBadField, strings.Trim(f, `"`), "unknown field")
	}
	if errors.Is(err, io.EOF) {
		return newError(CodeMalformedJSON, "", "empty input")
	}
	return newError(CodeMalformedJSON, "", "malformed JSON: "+strings.TrimPrefix(msg, "json: "))
}

// beforeEpoch is the error for a negative timestamp.
func beforeEpoch(ts int64) *DecodeError {
	return newError(CodeBadField, "timestamp_ms", fmt.Sprintf("%d is before the Unix epoch", ts))
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
