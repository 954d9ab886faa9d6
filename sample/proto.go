package sample

import (
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

// decodeProtoRecord appends the samples of a protobuf Batch to dst.
func decodeProtoRecord(b []byte, dst []Sample) ([]Sample, error) {
	var scratch Labels // reused from sample to sample
	start := len(dst)
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return dst, malformed(n, "Batch")
		}
		off += n
		if num != fieldBatchSamples {
			return dst, unknownField(num, "Batch")
		}
		if typ != protowire.BytesType {
			return dst, wrongWireType("samples", typ, protowire.BytesType)
		}
		v, n := protowire.ConsumeBytes(b[off:])
		if n < 0 {
			return dst, atIndex(malformed(n, "Batch"), len(dst)-start)
		}
		off += n
		var s Sample
		var err error
		s, scratch, err = decodeProtoSample(v, scratch[:0])
		if err != nil {
			return dst, atIndex(err, len(dst)-start)
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// decodeProtoSample decodes the Sample message b, collecting its labels in
// scratch, and returns the sample and scratch for reuse.
func decodeProtoSample(b []byte, scratch Labels) (Sample, Labels, error) {
	var (
		s                  Sample
		typ                int32
		hasValue, hasTs    bool
		traceFrom, traceTo int
	)
	// One string holds every string of the sample: its name and labels are
	// substrings of it. It keeps the whole message alive as long as any of
	// them is, a few bytes more than the strings themselves.
	str := string(b)
	for off := 0; off < len(b); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return s, scratch, malformed(n, "Sample")
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
			return s, scratch, unknownField(num, "Sample")
		}
		if wt != want {
			return s, scratch, wrongWireType(field, wt, want)
		}
		var x uint64
		from, to := off, off
		switch wt {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return s, scratch, malformed(n, "Sample")
			}
			from, to = off+n-len(v), off+n
			off += n
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return s, scratch, malformed(n, "Sample")
			}
			off += n
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b[off:])
			if n < 0 {
				return s, scratch, malformed(n, "Sample")
			}
			off += n
		}
		// A scalar field sent twice takes its last value, as in every
		// protobuf decoder; labels are a repeated field.
		switch num {
		case fieldSampleName:
			s.Name = str[from:to]
			// Every occurrence must be valid, the overridden ones too,
			// as for the generated decoder.
			if !utf8.ValidString(s.Name) {
				return s, scratch, newError(CodeBadField, "name", "not valid UTF-8")
			}
		case fieldSampleLabels:
			l, err := decodeProtoLabel(b[from:to], str[from:to])
			if err != nil {
				return s, scratch, err
			}
			scratch = append(scratch, l)
		case fieldSampleType:
			typ = int32(x) // an enum is an int32: higher bits are dropped
		case fieldSampleValue:
			s.Value, hasValue = math.Float64frombits(x), true
		case fieldSampleTimestampMs:
			s.TimestampMs, hasTs = int64(x), true
		case fieldSampleTraceID:
			traceFrom, traceTo = from, to
		}
	}

	if s.Name == "" {
		return s, scratch, newError(CodeBadField, "name", "missing or empty")
	}
	if !utf8.ValidString(s.Name) {
		return s, scratch, newError(CodeBadField, "name", "not valid UTF-8")
	}
	if len(scratch) > 0 {
		if err := checkProtoLabels(scratch); err != nil {
			return s, scratch, err
		}
		s.Labels = slices.Clone(scratch)
	}
	switch {
	case typ == 0:
		return s, scratch, newError(CodeBadField, "type", "missing")
	case typ < int32(Counter) || typ > int32(Timer):
		return s, scratch, newError(CodeBadField, "type", fmt.Sprintf("unknown sample type %d (want 1 to 4: counter, cumulative, gauge or timer)", typ))
	}
	s.Type = Type(typ)
	if !hasValue {
		return s, scratch, newError(CodeBadField, "value", "missing")
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return s, scratch, newError(CodeValueNotFinite, "value", fmt.Sprintf("%v is not a finite number", s.Value))
	}
	if !hasTs {
		return s, scratch, newError(CodeBadField, "timestamp_ms", "missing")
	}
	if s.TimestampMs < 0 {
		return s, scratch, beforeEpoch(s.TimestampMs)
	}
	switch n := traceTo - traceFrom; n {
	case 0:
	case len(s.TraceID):
		copy(s.TraceID[:], b[traceFrom:traceTo])
		if s.TraceID.IsZero() {
			return s, scratch, newError(CodeBadField, "trace_id", "all zeros, which marks an invalid trace")
		}
	default:
		return s, scratch, newError(CodeBadField, "trace_id", fmt.Sprintf("%d bytes, want 16 or none", n))
	}
	return s, scratch, nil
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
		// an invalid one stays, for checkProtoLabels to report.
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

// checkProtoLabels holds labels to the rules of the JSON form, and sorts them.
func checkProtoLabels(ls Labels) error {
	for _, l := range ls {
		switch {
		case l.Name == "":
			return newError(CodeBadField, "labels", "a label name is empty")
		case !utf8.ValidString(l.Name):
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s is not valid UTF-8", abbrev(l.Name)))
		case strings.HasPrefix(l.Name, "__"):
			return reservedLabel(l.Name)
		case !utf8.ValidString(l.Value):
			return newError(CodeBadField, "labels", fmt.Sprintf("the value of label %s is not valid UTF-8", abbrev(l.Name)))
		}
	}
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(ls); i++ {
		if ls[i].Name == ls[i-1].Name {
			return newError(CodeBadField, "labels", fmt.Sprintf("label name %s appears twice", abbrev(ls[i].Name)))
		}
	}
	return nil
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
// slice. The encoding is the one proto.Marshal gives the same Batch, fields in
// number order; DecodeRecord returns the samples again for every valid batch.
func AppendProto(dst []byte, batch []Sample) []byte {
	for i := range batch {
		s := &batch[i]
		dst = protowire.AppendTag(dst, fieldBatchSamples, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(protoSampleSize(s)))
		dst = appendProtoSample(dst, s)
	}
	return dst
}

func appendProtoSample(dst []byte, s *Sample) []byte {
	if s.Name != "" {
		dst = protowire.AppendTag(dst, fieldSampleName, protowire.BytesType)
		dst = protowire.AppendString(dst, s.Name)
	}
	for _, l := range s.Labels {
		dst = protowire.AppendTag(dst, fieldSampleLabels, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(protoLabelSize(l)))
		if l.Name != "" {
			dst = protowire.AppendTag(dst, fieldLabelName, protowire.BytesType)
			dst = protowire.AppendString(dst, l.Name)
		}
		if l.Value != "" {
			dst = protowire.AppendTag(dst, fieldLabelValue, protowire.BytesType)
			dst = protowire.AppendString(dst, l.Value)
		}
	}
	if s.Type != 0 {
		dst = protowire.AppendTag(dst, fieldSampleType, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(s.Type))
	}
	dst = protowire.AppendTag(dst, fieldSampleValue, protowire.Fixed64Type)
	dst = protowire.AppendFixed64(dst, math.Float64bits(s.Value))
	dst = protowire.AppendTag(dst, fieldSampleTimestampMs, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(s.TimestampMs))
	if !s.TraceID.IsZero() {
		dst = protowire.AppendTag(dst, fieldSampleTraceID, protowire.BytesType)
		dst = protowire.AppendBytes(dst, s.TraceID[:])
	}
	return dst
}

// protoSampleSize is the length of s's Sample message, as appendProtoSample
// writes it. (Every field number is below 16: every tag is one byte.)
func protoSampleSize(s *Sample) int {
	n := 0
	if s.Name != "" {
		n += 1 + protowire.SizeBytes(len(s.Name))
	}
	for _, l := range s.Labels {
		n += 1 + protowire.SizeBytes(protoLabelSize(l))
	}
	if s.Type != 0 {
		n += 1 + protowire.SizeVarint(uint64(s.Type))
	}
	n += 1 + protowire.SizeFixed64()
	n += 1 + protowire.SizeVarint(uint64(s.TimestampMs))
	if !s.TraceID.IsZero() {
		n += 1 + protowire.SizeBytes(len(s.TraceID))
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
