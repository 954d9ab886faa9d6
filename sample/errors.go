package sample

import "fmt"

// The reason codes of a DecodeError: short, stable, and few, so that they may
// label a metric and fill a dead-letter header. A new code may be added; none
// is ever renamed.
const (
	// CodeEmptyRecord: the record holds no sample.
	CodeEmptyRecord = "empty_record"
	// CodeUnsupportedFormat: the record's content type is neither JSON nor
	// the native protobuf Batch.
	CodeUnsupportedFormat = "unsupported_format"
	// CodeMalformedJSON: the record is not JSON, or not one of the JSON
	// shapes a record may take.
	CodeMalformedJSON = "malformed_json"
	// CodeMalformedProtobuf: the record breaks the protobuf wire format.
	CodeMalformedProtobuf = "malformed_protobuf"
	// CodeBadField: a field is missing, unknown, of the wrong type or
	// invalid (a malformed trace ID, a reserved or repeated label name...).
	CodeBadField = "bad_field"
	// CodeValueNotFinite: the value is NaN or infinite, or overflows a
	// float64.
	CodeValueNotFinite = "value_not_finite"
	// CodeTooManyLabels: more labels than Limits.MaxLabels.
	CodeTooManyLabels = "too_many_labels"
	// CodeNameTooLong: the metric name or a label name is longer than
	// Limits.MaxNameLength.
	CodeNameTooLong = "name_too_long"
	// CodeLabelTooLong: a label value is longer than
	// Limits.MaxLabelValueLength.
	CodeLabelTooLong = "label_too_long"
	// CodeTimestampInFuture: the timestamp is later than now plus
	// Limits.MaxFuture.
	CodeTimestampInFuture = "timestamp_in_future"
	// CodeTimestampTooOld: the timestamp is earlier than now minus
	// Limits.MaxPast.
	CodeTimestampTooOld = "timestamp_too_old"
)

// Codes returns every reason code, so that a metric may create its series for
// each before the first error.
func Codes() []string {
	return []string{
		CodeEmptyRecord, CodeUnsupportedFormat, CodeMalformedJSON, CodeMalformedProtobuf,
		CodeBadField, CodeValueNotFinite, CodeTooManyLabels, CodeNameTooLong,
		CodeLabelTooLong, CodeTimestampInFuture, CodeTimestampTooOld,
	}
}

// DecodeError says which sample of a record is wrong, in which field, and why.
// DecodeJSON, DecodeRecord, Limits.Check and Limits.CheckAll return their
// errors as a *DecodeError.
type DecodeError struct {
	// Index is the position of the faulty sample in its record, counted
	// from 0; it is -1 when the error is about the record as a whole (empty,
	// malformed between samples) or about a sample that came alone (DecodeJSON,
	// Limits.Check).
	Index int
	// Field is the name of the faulty field, the same in the JSON and the
	// protobuf forms ("value", "labels", ...); a field the contract does
	// not know is named as sent (a JSON key, or a protobuf field number).
	// It is "" when the record or the sample itself is malformed.
	Field string
	// Reason says what is wrong, for a person.
	Reason string

	code string
	op   string // "check sample" for a limit, else "" for "decode sample"
}

func newError(code, field, reason string) *DecodeError {
	return &DecodeError{Index: -1, Field: field, Reason: reason, code: code}
}

// Code returns the reason code of the error, one of the Code constants.
func (e *DecodeError) Code() string {
	if e.code == "" {
		return CodeBadField
	}
	return e.code
}

// Error returns `decode sample N: field "F": reason`, with "check sample"
// for a limit, without N when Index is -1 and without the field when Field
// is "".
func (e *DecodeError) Error() string {
	op := e.op
	if op == "" {
		op = "decode sample"
	}
	if e.Index >= 0 {
		op = fmt.Sprintf("%s %d", op, e.Index)
	}
	if e.Field == "" {
		return op + ": " + e.Reason
	}
	return fmt.Sprintf("%s: field %q: %s", op, e.Field, e.Reason)
}
