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
// DecodeJSON, DecodeRecord, DecodeRecordSamples, Limits.Check and
// Limits.CheckAll return their errors as a *DecodeError, and a BadSample
// carries one.
type DecodeError struct {
	// Index is the position of the faulty sample in its record, counted
	// from 0, the invalid samples counted too; it is -1 when the error is
	// about the record as a whole (empty, malformed between samples) or
	// about a sample that came alone (DecodeJSON, Limits.Check).
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

// BadSample is one invalid sample of a record that DecodeRecordSamples or
// Limits.Filter set apart from the valid ones, so that it alone goes to the
// dead-letter topic. It is an error: its Error is Err's.
type BadSample struct {
	// Index is the position of the sample in its record, counted from 0,
	// the valid samples and the invalid ones alike.
	Index int
	// Err says what is wrong with the sample; its Index is Index.
	Err *DecodeError
	// Raw is the sample as the record carries it, a record of that one
	// sample in the same format: for JSON, the bytes of its value (an
	// object, unless the sample is not one); for protobuf, its field of the
	// Batch, whose tag and length precede the Sample message, so that Raw
	// is a Batch of one sample. It is a slice of the record's value, not a
	// copy: keep it no longer than the value. A Point of a Series is the
	// exception: its Raw is a new Batch of one Series, the fields of its
	// Series but the other points, and the Point.
	Raw []byte
}

// Error returns the error of the sample, "decode sample N: ..." or
// "check sample N: ...".
func (b BadSample) Error() string { return b.Err.Error() }

// Unwrap returns Err.
func (b BadSample) Unwrap() error { return b.Err }

// badSample returns the BadSample at index n of a record, err being a
// *DecodeError.
func badSample(n int, err error, raw []byte) BadSample {
	de, ok := err.(*DecodeError)
	if !ok { // every error of the package is one; this keeps the promise
		de = newError(CodeBadField, "", err.Error())
	}
	de.Index = n
	return BadSample{Index: n, Err: de, Raw: raw}
}
