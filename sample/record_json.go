package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// decodeJSONRecord appends the valid samples of a JSON record to dst and
// the invalid ones to bad; the error is the record's.
func decodeJSONRecord(data []byte, dst []Sample, bad []BadSample) ([]Sample, []BadSample, *DecodeError) {
	var r jsonRecord
	if err := r.open(data); err != nil || r.dec == nil {
		return dst, bad, err
	}
	js := new(jsonSample) // one for the record: Decode takes it as an interface
	for {
		more, err := r.more()
		if err != nil {
			return dst, bad, err
		}
		if !more {
			return dst, bad, nil
		}
		js.reset()
		n := r.n
		raw, derr, err := r.next(js)
		if err != nil {
			return dst, bad, err
		}
		var s Sample
		if derr == nil {
			s, derr = js.sample()
		}
		if derr != nil {
			bad = append(bad, badSample(n, derr, raw))
			continue
		}
		if len(s.Labels) > 0 { // js's list is reused for the next sample
			s.Labels = slices.Clone(s.Labels)
		}
		dst = append(dst, s)
	}
}

// rawJSONSamples is rawSamples for a JSON record.
func rawJSONSamples(data []byte, yield func(n int, raw []byte) bool) {
	var r jsonRecord
	if err := r.open(data); err != nil || r.dec == nil {
		return
	}
	var skip jsonSkip
	for {
		if more, err := r.more(); !more || err != nil {
			return
		}
		n := r.n
		raw, _, err := r.next(&skip)
		if err != nil || !yield(n, raw) {
			return
		}
	}
}

// jsonSkip is a JSON value read and left alone.
type jsonSkip struct{}

func (*jsonSkip) UnmarshalJSON([]byte) error { return nil }

// jsonRecord splits a JSON record into the values of its samples: the
// elements of an array, or the values of JSON lines.
type jsonRecord struct {
	data  []byte
	dec   *json.Decoder // nil for a record of white space only
	array bool
	n     int // the values split so far
	end   int // the end of the last in data
}

// open starts splitting data; the error is the record's.
func (r *jsonRecord) open(data []byte) *DecodeError {
	i := skipSpace(data, 0)
	if i == len(data) {
		return nil
	}
	r.data = data
	switch data[i] {
	case '[':
		r.array = true
	case '{':
	default:
		return newError(CodeMalformedJSON, "", fmt.Sprintf("the record starts with %q; want a sample object, an array of sample objects or JSON lines", data[i]))
	}
	r.dec = json.NewDecoder(bytes.NewReader(data))
	r.dec.DisallowUnknownFields()
	if r.array {
		if _, err := r.dec.Token(); err != nil { // the opening '['
			return jsonError(err)
		}
	}
	return nil
}

// more reports whether another value follows; the error is the record's.
func (r *jsonRecord) more() (bool, *DecodeError) {
	if r.array {
		if r.dec.More() {
			return true, nil
		}
		if _, err := r.dec.Token(); err != nil { // the closing ']'
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return false, jsonError(err)
		}
		if _, err := r.dec.Token(); !errors.Is(err, io.EOF) {
			return false, newError(CodeMalformedJSON, "", "trailing data after the array of samples")
		}
		return false, nil
	}
	if r.n == 0 {
		return true, nil
	}
	next := skipSpace(r.data, r.end)
	if next == len(r.data) {
		return false, nil
	}
	if bytes.IndexByte(r.data[r.end:next], '\n') < 0 {
		e := newError(CodeMalformedJSON, "", "trailing data after the sample object (JSON lines need a newline between samples)")
		e.Index = r.n - 1
		return false, e
	}
	return true, nil
}

// next decodes the next value into v and returns its bytes in the record
// and the error of decoding it, which is the sample's; err is the record's,
// when the value is not JSON or does not end where a value may.
func (r *jsonRecord) next(v any) (raw []byte, derr, err *DecodeError) {
	from := int(r.dec.InputOffset()) // after the last value or the '['
	e := r.dec.Decode(v)
	n := r.n
	r.n++
	var se *json.SyntaxError
	if errors.As(e, &se) || errors.Is(e, io.EOF) || errors.Is(e, io.ErrUnexpectedEOF) {
		err = jsonError(e)
		if errors.Is(e, io.EOF) {
			err = jsonError(io.ErrUnexpectedEOF)
		}
		err.Index = n
		return nil, nil, err
	}
	if e != nil {
		derr = jsonError(e)
	}
	to := int(r.dec.InputOffset()) // the end of the value
	start := skipSpace(r.data, from)
	if r.array && start < to && r.data[start] == ',' {
		start = skipSpace(r.data, start+1)
	}
	r.end = to
	return r.data[start:to], derr, nil
}

// skipSpace returns the index of the first byte of data from i on that is not
// JSON white space, or len(data).
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}
