package sample

import (
	"errors"
	"fmt"
	"hash/maphash"
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

// DecodeRecordSamples splits one Kafka record's value into its samples, and
// appends the valid ones to dst and the invalid ones to bad, each with its
// position in the record, its error and its bytes, so that one invalid
// sample goes to the dead-letter topic alone and the others go on. It
// returns the extended slices; both keep the order of the record, and a
// record may hold invalid samples only.
//
// format is the record's format, from ParseFormat; FormatAuto takes a record
// whose first byte is '{', '[', a space, a tab or a carriage return for
// JSON, and any other for protobuf. (A leading newline means protobuf: every
// Batch starts with 0x0a, the tag of its field 1, so JSON that starts with a
// newline needs its content type.)
//
// The JSON forms are one sample object, an array of sample objects, or sample
// objects separated by newlines (JSON lines, which may be pretty-printed);
// each sample is decoded as strictly as DecodeJSON does. The protobuf form is
// a Batch, decoded as strictly: a field the .proto does not declare, or one
// of another wire type, is an error, and the rules of the JSON form hold for
// every field (see sample/samplepb/sample.proto). In both, names follow
// Prometheus' rules: a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*, a label
// name [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__"; names and label
// values are valid UTF-8, the \u escapes of JSON strings decoded.
//
// A sample that breaks the contract is invalid alone: the next one is
// decoded as if it were not there. A record that cannot be split into
// samples is refused whole: DecodeRecordSamples returns dst and bad as they
// were given and a *DecodeError, so that the record may be dead-lettered as
// it came. Such is a value that is not JSON or a Batch, JSON that breaks off
// or runs on between samples (the error's Index is the sample where it
// does), a Batch field that is not a sample or whose length runs past the
// record, a record of no sample (CodeEmptyRecord), or one of an unsupported
// format.
//
// Every sample returned has a valid name, sorted and valid labels, a type,
// a finite value, a timestamp not before the epoch and a valid or zero
// trace ID; Limits.Filter is what tells whether it is acceptable here and
// now. The samples' strings share memory with none of value.
func DecodeRecordSamples(value []byte, format Format, dst []Sample, bad []BadSample) ([]Sample, []BadSample, error) {
	return decodeRecordSamples(value, format, dst, bad, &seriesCache{})
}

// Decoder decodes records as DecodeRecordSamples does, and remembers the
// series of the protobuf records it decoded, by two hashes of the bytes of
// their name and label fields: a series of one of the last records is not decoded,
// checked and copied again, and its samples share the name and Labels of
// its first. That is most of the work of decoding a sample whose series
// comes alone in a record, and series come back from record to record. It
// remembers two generations of at most size series each, the current and
// the one before, a series found in the older one moving to the current.
// The samples of a series it remembers carry its Key, computed once.
// One goroutine uses a Decoder.
type Decoder struct {
	series seriesCache
}

// DefaultDecoderSeries is the size of a Decoder's generation when
// NewDecoder is given 0: up to 256k series remembered, some 0.5 KB each
// for series of eight labels (their name and labels, decoded once).
const DefaultDecoderSeries = 1 << 17

// NewDecoder returns a Decoder that remembers two generations of at most
// size series each; 0 means DefaultDecoderSeries.
func NewDecoder(size int) *Decoder {
	if size <= 0 {
		size = DefaultDecoderSeries
	}
	return &Decoder{series: seriesCache{size: size, keyed: true, seed: maphash.MakeSeed()}}
}

// Seed is the seed of the Keys d gives samples: a Matcher under the same
// seed finds them without hashing their labels again.
func (d *Decoder) Seed() maphash.Seed { return d.series.seed }

// DecodeRecordSamples is the package's DecodeRecordSamples, with the
// series d remembers.
func (d *Decoder) DecodeRecordSamples(value []byte, format Format, dst []Sample, bad []BadSample) ([]Sample, []BadSample, error) {
	return decodeRecordSamples(value, format, dst, bad, &d.series)
}

// DecoderStats count a Decoder's series lookups.
type DecoderStats struct {
	Hits, Misses int // samples whose series it remembered, or not
}

// Stats returns d's counts since it was made.
func (d *Decoder) Stats() DecoderStats {
	return DecoderStats{Hits: d.series.hits, Misses: d.series.misses}
}

func decodeRecordSamples(value []byte, format Format, dst []Sample, bad []BadSample, series *seriesCache) ([]Sample, []BadSample, error) {
	start, badStart := len(dst), len(bad)
	dst, bad, err := decodeRecord(value, format, dst, bad, series)
	if err != nil {
		clear(dst[start:])
		clear(bad[badStart:])
		return dst[:start], bad[:badStart], err
	}
	return dst, bad, nil
}

// DecodeRecord is DecodeRecordSamples for a record that is valid or invalid
// as a whole: it appends the samples of value to dst and returns the
// extended slice, or, if the record or any of its samples is invalid, dst
// as it was given and the first error in the record, a *DecodeError whose
// Index says which sample is at fault (-1 for the record).
func DecodeRecord(value []byte, format Format, dst []Sample) ([]Sample, error) {
	start := len(dst)
	dst, bad, err := decodeRecord(value, format, dst, nil, &seriesCache{})
	var first error
	switch {
	case len(bad) > 0: // before what stopped the split, if anything did
		first = bad[0].Err
	case err != nil:
		first = err
	default:
		return dst, nil
	}
	clear(dst[start:])
	return dst[:start], first
}

// decodeRecord is DecodeRecordSamples, the samples split before a record's
// error left in dst and bad; series are the series remembered.
func decodeRecord(value []byte, format Format, dst []Sample, bad []BadSample, series *seriesCache) ([]Sample, []BadSample, *DecodeError) {
	format = format.Of(value)
	start, badStart := len(dst), len(bad)
	var err *DecodeError
	switch format {
	case FormatJSON:
		dst, bad, err = decodeJSONRecord(value, dst, bad)
	case FormatProto:
		dst, bad, err = decodeProtoRecord(value, dst, bad, series)
	default:
		err = newError(CodeUnsupportedFormat, "", fmt.Sprintf("the record's format is %s; want %s or %s",
			format, ContentTypeJSON, ContentTypeProto))
	}
	if err == nil && len(dst) == start && len(bad) == badStart {
		err = newError(CodeEmptyRecord, "", "the record holds no sample")
	}
	return dst, bad, err
}

// rawSamples calls yield with the position and the bytes, as BadSample.Raw
// has them, of each sample of a record that DecodeRecordSamples splits,
// until yield returns false.
func rawSamples(value []byte, format Format, yield func(n int, raw []byte) bool) {
	switch format.Of(value) {
	case FormatJSON:
		rawJSONSamples(value, yield)
	case FormatProto:
		rawProtoSamples(value, yield)
	}
}

// atIndex sets the Index of err, a *DecodeError or nil, to n.
func atIndex(err error, n int) error {
	var de *DecodeError
	if errors.As(err, &de) {
		de.Index = n
	}
	return err
}
