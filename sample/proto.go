package sample

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The field numbers of tumble.sample.v1 (sample/samplepb/sample.proto). The
// codec below reads and writes the wire format itself, without the generated
// messages: a record decodes into Samples directly, with two allocations a
// sample. The tests hold it to the generated code.
const (
	fieldBatchSamples = 1

	fieldSampleName        = 1
	fieldSampleLabels      = 2
	fieldSampleType        = 3
	fieldSampleValue       = 4
	fieldSampleTimestampMs = 5
	fieldSampleTraceID     = 6

	fieldLabelName  = 1
	fieldLabelValue = 2
)

// decodeProtoRecord appends the valid samples of a protobuf Batch to dst
// and the invalid ones to bad; the error is the record's.
func decodeProtoRecord(b []byte, dst []Sample, bad []BadSample, series *seriesCache) ([]Sample, []BadSample, *DecodeError) {
	var scratch Labels // reused from sample to sample
	for off, n := 0, 0; off < len(b); {
		num, v, field, err := nextProtoField(b, off, n)
		if err != nil {
			return dst, bad, err
		}
		raw := b[off : off+field]
		off += field
		if num == fieldBatchSeries {
			var k int
			dst, bad, scratch, k = decodeProtoSeries(v, raw, n, dst, bad, scratch, series)
			n += k
			continue
		}
		var s Sample
		var serr error
		s, scratch, serr = decodeProtoSample(v, scratch[:0], series)
		if serr != nil {
			bad = append(bad, badSample(n, serr, raw))
		} else {
			dst = append(dst, s)
		}
		n++
	}
	return dst, bad, nil
}

// nextProtoField returns the Sample or Series message of the Batch field
// at b[off:], whose first sample is sample n of its record, its field
// number and the length of the field; the error is the record's.
func nextProtoField(b []byte, off, n int) (num protowire.Number, msg []byte, field int, err *DecodeError) {
	num, typ, k := protowire.ConsumeTag(b[off:])
	if k < 0 {
		return 0, nil, 0, malformed(k, "Batch")
	}
	switch num {
	case fieldBatchSamples, fieldBatchSeries:
	default:
		return 0, nil, 0, unknownField(num, "Batch")
	}
	if typ != protowire.BytesType {
		name := "samples"
		if num == fieldBatchSeries {
			name = "series"
		}
		return 0, nil, 0, wrongWireType(name, typ, protowire.BytesType)
	}
	msg, m := protowire.ConsumeBytes(b[off+k:])
	if m < 0 {
		err = malformed(m, "Batch")
		err.Index = n
		return 0, nil, 0, err
	}
	return num, msg, k + m, nil
}

// rawProtoSamples is rawSamples for a protobuf record.
func rawProtoSamples(b []byte, yield func(n int, raw []byte) bool) {
	for off, n := 0, 0; off < len(b); {
		num, v, field, err := nextProtoField(b, off, n)
		if err != nil {
			return
		}
		raw := b[off : off+field]
		off += field
		if num == fieldBatchSeries {
			k, more := rawProtoSeries(v, raw, n, yield)
			if !more {
				return
			}
			n += k
			continue
		}
		if !yield(n, raw) {
			return
		}
		n++
	}
}

// seriesPrefix returns the length of the leading run of name and label
// fields of the Sample message b, 0 if there is none or it is malformed.
func seriesPrefix(b []byte) int {
	off := 0
	for off < len(b) {
		num, wt, n := protowire.ConsumeTag(b[off:])
		if n < 0 || wt != protowire.BytesType || num != fieldSampleName && num != fieldSampleLabels {
			break
		}
		_, m := protowire.ConsumeBytes(b[off+n:])
		if m < 0 {
			return 0
		}
		off += n + m
	}
	return off
}

// decodeProtoSample decodes the Sample message b, collecting its labels in
// scratch, and returns the sample and scratch for reuse. series holds the
// record's series seen so far.
func decodeProtoSample(b []byte, scratch Labels, series *seriesCache) (Sample, Labels, error) {
	var s Sample
	var f protoFields
	prefix := 0
	if series.useful() {
		prefix = seriesPrefix(b)
	}
	if prefix > 0 {
		if c, ok := series.get(series.hash(b[:prefix])); ok {
			// Valid as a whole when it was decoded: the rest of the
			// message holds no name or label, or the whole is decoded.
			if err := f.decode(b, prefix, "", &s, nil); err == nil {
				s.Name, s.Labels, s.Key = c.name, c.labels, c.key
				return s, scratch, f.check(b, &s)
			} else if err != errSeriesField {
				return s, scratch, err
			}
			s, f = Sample{}, protoFields{}
		}
	}
	// One string holds every string of the sample: its name and labels are
	// substrings of it. It keeps the whole message alive as long as any of
	// them is, a few bytes more than the strings themselves.
	str := string(b)
	if err := f.decode(b, 0, str, &s, &scratch); err != nil {
		return s, scratch, err
	}
	if err := checkName(s.Name); err != nil {
		return s, scratch, err
	}
	if len(scratch) > 0 {
		if err := checkLabels(scratch); err != nil {
			return s, scratch, err
		}
		s.Labels = slices.Clone(scratch)
	}
	if err := f.check(b, &s); err != nil {
		return s, scratch, err
	}
	if prefix > 0 && f.seriesEnd == prefix { // no name or label after the others
		s.Key = series.put(series.hash(b[:prefix]), s.Name, s.Labels)
	}
	return s, scratch, nil
}

// protoFields is what decoding a Sample message's fields leaves to check.
type protoFields struct {
	seriesEnd          int // the end of the last name or label field
	typ                int32
	hasValue, hasTs    bool
	traceFrom, traceTo int
}

// errSeriesField is decode's answer to a name or label field when it was
// given no string to take them from.
var errSeriesField = errors.New("a name or label field")

// decode decodes the fields of the Sample message b from offset off into s
// and f: name and labels as substrings of str, b as a string, the labels
// appended to *scratch. With scratch nil, a name or label field is
// errSeriesField.
func (f *protoFields) decode(b []byte, off int, str string, s *Sample, scratch *Labels) error {
	for off < len(b) {
		num, wt, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return malformed(n, "Sample")
		}
		off += n
		var want protowire.Type
		var field string
		switch num {
		case fieldSampleName:
			want, field = protowire.BytesType, "name"
		case fieldSampleLabels:
			want, field = protowire.BytesType, "labels"
		case fieldSampleType:
			want, field = protowire.VarintType, "type"
		case fieldSampleValue:
			want, field = protowire.Fixed64Type, "value"
		case fieldSampleTimestampMs:
			want, field = protowire.VarintType, "timestamp_ms"
		case fieldSampleTraceID:
			want, field = protowire.BytesType, "trace_id"
		default:
			return unknownField(num, "Sample")
		}
		if wt != want {
			return wrongWireType(field, wt, want)
		}
		if scratch == nil && (num == fieldSampleName || num == fieldSampleLabels) {
			return errSeriesField
		}
		x, from, to, next, err := consumeValue(b, off, wt, "Sample")
		if err != nil {
			return err
		}
		off = next
		// A scalar field sent twice takes its last value, as in every
		// protobuf decoder; labels are a repeated field.
		if num == fieldSampleName || num == fieldSampleLabels {
			f.seriesEnd = off
		}
		switch num {
		case fieldSampleName:
			s.Name = str[from:to]
			// Every occurrence must be valid, the overridden ones too,
			// as for the generated decoder.
			if !utf8.ValidString(s.Name) {
				return newError(CodeBadField, "name", "not valid UTF-8")
			}
		case fieldSampleLabels:
			l, err := decodeProtoLabel(b[from:to], str[from:to])
			if err != nil {
				return err
			}
			*scratch = append(*scratch, l)
		case fieldSampleType:
			f.typ = int32(x) // an enum is an int32: higher bits are dropped
		case fieldSampleValue:
			s.Value, f.hasValue = math.Float64frombits(x), true
		case fieldSampleTimestampMs:
			s.TimestampMs, f.hasTs = int64(x), true
		case fieldSampleTraceID:
			f.traceFrom, f.traceTo = from, to
		}
	}
	return nil
}

// consumeValue consumes the value of wire type wt (bytes, a varint or a
// fixed64) at b[off:] of a message: a number in x, bytes as b[from:to].
// next is the offset after it.
func consumeValue(b []byte, off int, wt protowire.Type, message string) (x uint64, from, to, next int, err *DecodeError) {
	var n int
	switch wt {
	case protowire.BytesType:
		var v []byte
		v, n = protowire.ConsumeBytes(b[off:])
		from, to = off+n-len(v), off+n
	case protowire.VarintType:
		x, n = protowire.ConsumeVarint(b[off:])
	case protowire.Fixed64Type:
		x, n = protowire.ConsumeFixed64(b[off:])
	}
	if n < 0 {
		return 0, 0, 0, 0, malformed(n, message)
	}
	return x, from, to, off + n, nil
}

// check checks the fields other than the name and labels, and sets the
// sample's type and trace ID.
func (f *protoFields) check(b []byte, s *Sample) error {
	if err := checkType(f.typ); err != nil {
		return err
	}
	s.Type = Type(f.typ)
	if !f.hasValue {
		return newError(CodeBadField, "value", "missing")
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return newError(CodeValueNotFinite, "value", fmt.Sprintf("%v is not a finite number", s.Value))
	}
	if !f.hasTs {
		return newError(CodeBadField, "timestamp_ms", "missing")
	}
	if s.TimestampMs < 0 {
		return beforeEpoch(s.TimestampMs)
	}
	switch n := f.traceTo - f.traceFrom; n {
	case 0:
	case len(s.TraceID):
		copy(s.TraceID[:], b[f.traceFrom:f.traceTo])
		if s.TraceID.IsZero() {
			// As ParseTraceID words it for the JSON form.
			return newError(CodeBadField, "trace_id", fmt.Sprintf("trace ID %q is all zeros, which marks an invalid trace", strings.Repeat("0", 2*len(s.TraceID))))
		}
	default:
		return newError(CodeBadField, "trace_id", fmt.Sprintf("%d bytes, want 16 or none", n))
	}
	return nil
}

// decodeProtoLabel decodes the Label message b; str is b as a string.
func decodeProtoLabel(b []byte, str string) (Label, error) {
	var l Label
	for off := 0; off < len(b); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return l, malformed(n, "Label")
		}
		off += n
		if num != fieldLabelName && num != fieldLabelValue {
			return l, unknownField(num, "Label")
		}
		if wt != protowire.BytesType {
			return l, wrongWireType("labels", wt, protowire.BytesType)
		}
		v, n := protowire.ConsumeBytes(b[off:])
		if n < 0 {
			return l, malformed(n, "Label")
		}
		from := off + n - len(v)
		off += n
		// Every occurrence must be valid UTF-8, the overridden ones too:
		// an invalid one stays, for checkLabels to report.
		if num == fieldLabelName && !utf8.ValidString(l.Name) || num == fieldLabelValue && !utf8.ValidString(l.Value) {
			continue
		}
		if num == fieldLabelName {
			l.Name = str[from:off]
		} else {
			l.Value = str[from:off]
		}
	}
	return l, nil
}

// malformed is the error for n, a protowire error code, in a message.
func malformed(n int, message string) *DecodeError {
	return newError(CodeMalformedProtobuf, "", fmt.Sprintf("malformed protobuf %s: %v", message, protowire.ParseError(n)))
}

// unknownField is the error for a field number that message does not declare.
func unknownField(num protowire.Number, message string) *DecodeError {
	return newError(CodeBadField, strconv.Itoa(int(num)), "unknown field of "+message)
}

// wrongWireType is the error for a field sent with another wire type.
func wrongWireType(field string, got, want protowire.Type) *DecodeError {
	return newError(CodeBadField, field, fmt.Sprintf("wire type %s, want %s", wireTypeName(got), wireTypeName(want)))
}

func wireTypeName(t protowire.Type) string {
	switch t {
	case protowire.VarintType:
		return "varint"
	case protowire.Fixed32Type:
		return "fixed32"
	case protowire.Fixed64Type:
		return "fixed64"
	case protowire.BytesType:
		return "bytes"
	case protowire.StartGroupType:
		return "start group"
	case protowire.EndGroupType:
		return "end group"
	}
	return strconv.Itoa(int(t))
}

// abbrev quotes s, cut to its first 32 bytes, for an error message: the
// strings quoted are the producer's and may be long.
func abbrev(s string) string {
	const max = 32
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "..."
}

// AppendProto appends batch to dst as a tumble.sample.v1.Batch, the value of
// one Kafka record of content type ContentTypeProto, and returns the extended
// slice. Each run of samples of one series (SameSeries) becomes one Series,
// which carries the series once for the run's points: producers that batch
// a series' samples together send the smallest records. The encoding is the
// one proto.Marshal gives the same Batch, fields in number order;
// DecodeRecord returns the samples again for every valid batch.
func AppendProto(dst []byte, batch []Sample) []byte {
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && SameSeries(&batch[i], &batch[j]) {
			j++
		}
		dst = appendProtoSeries(dst, batch[i:j])
		i = j
	}
	return dst
}

// ProtoSize is the length of what AppendProto appends for batch.
func ProtoSize(batch []Sample) int {
	n := 0
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && SameSeries(&batch[i], &batch[j]) {
			j++
		}
		n += 1 + protowire.SizeBytes(protoSeriesSize(batch[i:j]))
		i = j
	}
	return n
}

func protoLabelSize(l Label) int {
	n := 0
	if l.Name != "" {
		n += 1 + protowire.SizeBytes(len(l.Name))
	}
	if l.Value != "" {
		n += 1 + protowire.SizeBytes(len(l.Value))
	}
	return n
}
