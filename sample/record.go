package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// Format is the encoding of a Kafka record's value on the raw topic.
type Format uint8

const (
	// FormatAuto: no content type was given; DecodeRecord tells JSON from
	// protobuf by the record's first byte.
	FormatAuto Format = iota
	// FormatJSON: one JSON sample object, a JSON array of them, or JSON lines
	// (sample objects separated by newlines).
	FormatJSON
	// FormatProto: a tumble.sample.v1.Batch (sample/samplepb/sample.proto).
	FormatProto
	// FormatUnsupported: a content type that is neither; DecodeRecord
	// refuses the record with CodeUnsupportedFormat.
	FormatUnsupported
)

var formatNames = [...]string{FormatAuto: "auto", FormatJSON: "json", FormatProto: "protobuf", FormatUnsupported: "unsupported"}

// String returns "auto", "json", "protobuf" or "unsupported".
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// The Kafka record header that names a record's format, and the values
// producers should give it.
const (
	ContentTypeHeader = "content-type"
	ContentTypeJSON   = "application/json"
	ContentTypeProto  = "application/x-protobuf; messageType=" + BatchMessage
)

// BatchMessage is the full name of the protobuf message of a record.
const BatchMessage = "tumble.sample.v1.Batch"

// ParseFormat returns the format that a record's content-type header names:
//
//   - "" (no header): FormatAuto;
//   - application/json, and the JSON lines types application/jsonl,
//     application/x-ndjson and application/x-jsonlines, with no charset or
//     charset=utf-8: FormatJSON;
//   - application/x-protobuf, application/protobuf or
//     application/vnd.google.protobuf, with a messageType (or proto)
//     parameter of tumble.sample.v1.Batch or none: FormatProto;
//   - anything else, another protobuf message included: FormatUnsupported.
//
// Media types and parameter names are matched without regard to case.
func ParseFormat(contentType string) Format {
	if strings.TrimSpace(contentType) == "" {
		return FormatAuto
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return FormatUnsupported
	}
	switch mediaType {
	case "application/json", "application/jsonl", "application/x-ndjson", "application/x-jsonlines":
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return FormatUnsupported
		}
		return FormatJSON
	case "application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf":
		msg, ok := params["messagetype"]
		if !ok {
			msg, ok = params["proto"]
		}
		if ok && msg != BatchMessage {
			return FormatUnsupported
		}
		return FormatProto
	}
	return FormatUnsupported
}

// Of returns the format DecodeRecord decodes value in when given f: f
// itself, or for FormatAuto, FormatJSON when value's first byte is '{',
// '[', a space, a tab or a carriage return, and FormatProto otherwise.
func (f Format) Of(value []byte) Format {
	if f != FormatAuto {
		return f
	}
	if len(value) > 0 {
		switch value[0] {
		case '{', '[', ' ', '\t', '\r':
			return FormatJSON
		}
	}
	return FormatProto
}

// DecodeRecord appends the samples of one Kafka record's value to dst and
// returns the extended slice. format is the record's format, from
// ParseFormat; FormatAuto takes a record whose first byte is '{', '[', a
// space, a tab or a carriage return for JSON, and any other for protobuf. (A
// leading newline means protobuf: every Batch starts with 0x0a, the tag of
// its field 1, so JSON that starts with a newline needs its content type.)
//
// The JSON forms are one sample object, an array of sample objects, or sample
// objects separated by newlines (JSON lines, which may be pretty-printed);
// each sample is decoded as strictly as DecodeJSON does. The protobuf form is
// a Batch, decoded as strictly: a field the .proto does not declare, or one
// of another wire type, is an error, and the rules of the JSON form hold for
// every field (see sample/samplepb/sample.proto).
//
// A record is valid or invalid as a whole: on the first invalid sample,
// DecodeRecord returns dst as it was given and a *DecodeError whose Index
// says which sample is at fault, so that the record may be dead-lettered as
// it came. A record with no sample is an error too (CodeEmptyRecord).
//
// Every sample returned has sorted, unique label names, a name, a type, a
// finite value, a timestamp not before the epoch and a valid or zero trace
// ID; Limits.Check is what tells whether it is acceptable here and now.
func DecodeRecord(value []byte, format Format, dst []Sample) ([]Sample, error) {
	format = format.Of(value)
	var err error
	start := len(dst)
	switch format {
	case FormatJSON:
		dst, err = decodeJSONRecord(value, dst)
	case FormatProto:
		dst, err = decodeProtoRecord(value, dst)
	default:
		err = newError(CodeUnsupportedFormat, "", fmt.Sprintf("the record's format is %s; want %s or %s",
			format, ContentTypeJSON, ContentTypeProto))
	}
	if err != nil {
		return dst[:start], err
	}
	if len(dst) == start {
		return dst, newError(CodeEmptyRecord, "", "the record holds no sample")
	}
	return dst, nil
}

// decodeJSONRecord appends the samples of a JSON record to dst.
func decodeJSONRecord(data []byte, dst []Sample) ([]Sample, error) {
	i := skipSpace(data, 0)
	if i == len(data) {
		return dst, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	switch data[i] {
	case '[':
		if _, err := dec.Token(); err != nil {
			return dst, jsonError(err)
		}
		for n := 0; dec.More(); n++ {
			s, err := decodeJSONSample(dec, n)
			if err != nil {
				return dst, err
			}
			dst = append(dst, s)
		}
		if _, err := dec.Token(); err != nil { // the closing ']'
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return dst, jsonError(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return dst, newError(CodeMalformedJSON, "", "trailing data after the array of samples")
		}
		return dst, nil
	case '{':
		for n := 0; ; n++ {
			s, err := decodeJSONSample(dec, n)
			if err != nil {
				return dst, err
			}
			dst = append(dst, s)
			end := int(dec.InputOffset())
			next := skipSpace(data, end)
			if next == len(data) {
				return dst, nil
			}
			if bytes.IndexByte(data[end:next], '\n') < 0 {
				e := newError(CodeMalformedJSON, "", "trailing data after the sample object (JSON lines need a newline between samples)")
				e.Index = n
				return dst, e
			}
		}
	}
	return dst, newError(CodeMalformedJSON, "", fmt.Sprintf("the record starts with %q; want a sample object, an array of sample objects or JSON lines", data[i]))
}

// decodeJSONSample decodes the next value of dec, sample n of its record.
func decodeJSONSample(dec *json.Decoder, n int) (Sample, error) {
	var js jsonSample // fresh each time: Decode would merge into an old one
	if err := dec.Decode(&js); err != nil {
		e := jsonError(err)
		e.Index = n
		return Sample{}, e
	}
	s, err := js.sample()
	return s, atIndex(err, n)
}

// atIndex sets the Index of err, a *DecodeError or nil, to n.
func atIndex(err error, n int) error {
	var de *DecodeError
	if errors.As(err, &de) {
		de.Index = n
	}
	return err
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
