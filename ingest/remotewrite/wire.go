package remotewrite

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tumblemetrics/tumble/sample"
)

// The field numbers of prometheus.WriteRequest (prompb/remote.proto) and
// of the messages it holds (prompb/types.proto).
const (
	fieldRequestTimeseries = 1
	fieldRequestMetadata   = 3

	fieldSeriesLabels     = 1
	fieldSeriesSamples    = 2
	fieldSeriesExemplars  = 3
	fieldSeriesHistograms = 4

	fieldLabelName  = 1
	fieldLabelValue = 2

	fieldSampleValue     = 1
	fieldSampleTimestamp = 2

	fieldExemplarLabels    = 1
	fieldExemplarValue     = 2
	fieldExemplarTimestamp = 3

	fieldMetadataType       = 1
	fieldMetadataFamilyName = 2
	fieldMetadataHelp       = 4
	fieldMetadataUnit       = 5
)

// nameLabel is the label that carries a series' metric name.
const nameLabel = "__name__"

// writeRequest is a prometheus.WriteRequest as Decode reads it, flattened:
// the labels, samples, exemplars and histograms of every series one
// after the other in slices of their own, each series' bounds in series.
// Decoded from the wire (unmarshal), every string is a substring of str,
// the body made a string at once. Its slices are reused from request to
// request (reset); one goroutine uses it at a time.
type writeRequest struct {
	str        string
	series     []wireSeries
	labels     []sample.Label // the series' labels as sent, __name__ left out
	points     []point
	exemplars  []wireExemplar
	exLabels   []sample.Label // the exemplars' labels
	histograms []wireHistogram
	metadata   []wireMetadata
	// The spans of samples of each seriesKey, for the exemplars (see
	// decode): first and last in spanList.
	spanOf   map[uint64][2]int32
	spanList []spanNode
	// The series' heads (transcodeHead), one after the other.
	headBuf []byte
}

// wireSeries is one TimeSeries of a writeRequest: its name (the value of
// its last __name__ label; "" without one) and the bounds of the rest in
// the request's slices.
type wireSeries struct {
	name                                  string
	labels, points, exemplars, histograms bounds
	// head is where its label fields are in the body, when they all come
	// before its other fields (as Prometheus sends them); else empty.
	head bounds
}

// bounds are the indexes [from, to) of a series' part of a slice.
type bounds struct{ from, to int }

func (b bounds) len() int { return b.to - b.from }

type point struct {
	value float64
	ts    int64
}

type wireExemplar struct {
	labels bounds // of exLabels
	value  float64
	ts     int64
}

// wireHistogram is what Decode needs of a native histogram, which it
// refuses: its count and time.
type wireHistogram struct {
	count float64
	ts    int64
}

type wireMetadata struct {
	typ  prompb.MetricMetadata_MetricType
	name string
}

// samples is how many samples and histograms r carries.
func (r *writeRequest) samples() int { return len(r.points) + len(r.histograms) }

// reset empties r for the next request, keeping its slices' capacity but
// none of the strings they held.
func (r *writeRequest) reset() {
	clear(r.series)
	clear(r.labels)
	clear(r.exLabels)
	clear(r.metadata)
	clear(r.spanOf)
	r.spanList, r.headBuf = r.spanList[:0], r.headBuf[:0]
	r.str = ""
	r.series, r.labels, r.points = r.series[:0], r.labels[:0], r.points[:0]
	r.exemplars, r.exLabels, r.histograms, r.metadata = r.exemplars[:0], r.exLabels[:0], r.histograms[:0], r.metadata[:0]
}

// fromProto fills r, reset, with req's content; r's strings are req's.
func (r *writeRequest) fromProto(req *prompb.WriteRequest) {
	labels := 0
	for i := range req.Timeseries {
		labels += len(req.Timeseries[i].Labels)
	}
	r.labels = slices.Grow(r.labels, labels)
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		s := wireSeries{labels: bounds{from: len(r.labels)}, points: bounds{from: len(r.points)},
			exemplars: bounds{from: len(r.exemplars)}, histograms: bounds{from: len(r.histograms)}}
		for _, l := range ts.Labels {
			if l.Name == nameLabel {
				s.name = l.Value
				continue
			}
			r.labels = append(r.labels, sample.Label{Name: l.Name, Value: l.Value})
		}
		for _, p := range ts.Samples {
			r.points = append(r.points, point{p.Value, p.Timestamp})
		}
		for _, ex := range ts.Exemplars {
			e := wireExemplar{labels: bounds{from: len(r.exLabels)}, value: ex.Value, ts: ex.Timestamp}
			for _, l := range ex.Labels {
				r.exLabels = append(r.exLabels, sample.Label{Name: l.Name, Value: l.Value})
			}
			e.labels.to = len(r.exLabels)
			r.exemplars = append(r.exemplars, e)
		}
		for j := range ts.Histograms {
			r.histograms = append(r.histograms, wireHistogram{histogramCount(&ts.Histograms[j]), ts.Histograms[j].Timestamp})
		}
		s.labels.to, s.points.to, s.exemplars.to, s.histograms.to = len(r.labels), len(r.points), len(r.exemplars), len(r.histograms)
		r.series = append(r.series, s)
	}
	for _, md := range req.Metadata {
		r.metadata = append(r.metadata, wireMetadata{md.Type, md.MetricFamilyName})
	}
}

// The wire format is read as the gogo-generated prompb decoders read it,
// so that a body is accepted, refused and understood as
// prompb.WriteRequest.Unmarshal would (the tests hold it to that, error
// messages included): a varint of ten bytes at most, the bits past the
// 64th dropped; a field number the low 32 bits of the tag's; unknown
// fields skipped, groups too; a known field of another wire type an
// error; strings not checked for UTF-8; the last of a repeated scalar
// field taken. A native histogram is decoded by prompb itself.

// unmarshal decodes the prometheus.WriteRequest b into r, reset: one
// allocation for the body as a string, and r's slices grown as need be.
func (r *writeRequest) unmarshal(b []byte) error {
	r.reset()
	r.str = string(b)
	for i := 0; i < len(b); {
		num, typ, next, err := fieldTag(b, i, "WriteRequest")
		if err != nil {
			return err
		}
		switch num {
		case fieldRequestTimeseries, fieldRequestMetadata:
			if typ != protowire.BytesType {
				name := "Timeseries"
				if num == fieldRequestMetadata {
					name = "Metadata"
				}
				return wrongWireType(typ, name)
			}
			from, to, err := fieldBytes(b, next)
			if err != nil {
				return err
			}
			if num == fieldRequestTimeseries {
				err = r.unmarshalSeries(b[from:to], from)
			} else {
				err = r.unmarshalMetadata(b[from:to], from)
			}
			if err != nil {
				return err
			}
			i = to
		default:
			if i, err = skipField(b, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// unmarshalSeries appends the TimeSeries b, at offset base of the body,
// to r.
func (r *writeRequest) unmarshalSeries(b []byte, base int) error {
	s := wireSeries{labels: bounds{from: len(r.labels)}, points: bounds{from: len(r.points)},
		exemplars: bounds{from: len(r.exemplars)}, histograms: bounds{from: len(r.histograms)}}
	// The label fields lead when none comes after another field.
	labelsEnd, other, mixed := 0, false, false
	for i := 0; i < len(b); {
		if b[i] == 0x0a { // a label field
			mixed = mixed || other
		} else {
			other = true
		}
		// Most fields: a label or a sample, shorter than 128 bytes.
		if c := b[i]; (c == 0x0a || c == 0x12) && i+1 < len(b) && b[i+1] < 0x80 && i+2+int(b[i+1]) <= len(b) {
			from, to := i+2, i+2+int(b[i+1])
			if c == 0x0a {
				labelsEnd = to
			}
			if n, v, ok := plainLabel(b[from:to]); ok && c == 0x0a {
				name, value := r.str[base+from+2:base+from+2+n], r.str[base+from+4+n:base+from+4+n+v]
				if name == nameLabel {
					s.name = value
				} else {
					r.labels = append(r.labels, sample.Label{Name: name, Value: value})
				}
				i = to
				continue
			}
			if err := r.seriesField(&s, int32(c>>3), b[from:to], base+from); err != nil {
				return err
			}
			i = to
			continue
		}
		num, typ, next, err := fieldTag(b, i, "TimeSeries")
		if err != nil {
			return err
		}
		if num < fieldSeriesLabels || num > fieldSeriesHistograms {
			if i, err = skipField(b, i); err != nil {
				return err
			}
			continue
		}
		if typ != protowire.BytesType {
			return wrongWireType(typ, seriesFields[num])
		}
		from, to, err := fieldBytes(b, next)
		if err != nil {
			return err
		}
		if err := r.seriesField(&s, num, b[from:to], base+from); err != nil {
			return err
		}
		if num == fieldSeriesLabels {
			labelsEnd = to
		}
		i = to
	}
	s.labels.to, s.points.to, s.exemplars.to, s.histograms.to = len(r.labels), len(r.points), len(r.exemplars), len(r.histograms)
	if !mixed && labelsEnd > 0 {
		s.head = bounds{base, base + labelsEnd}
	}
	r.series = append(r.series, s)
	return nil
}

// seriesField decodes the message b, at offset base of the body, of field
// num of the TimeSeries s.
func (r *writeRequest) seriesField(s *wireSeries, num int32, b []byte, base int) error {
	switch num {
	case fieldSeriesLabels:
		l, err := r.unmarshalLabel(b, base)
		if err != nil {
			return err
		}
		if l.Name == nameLabel {
			s.name = l.Value
		} else {
			r.labels = append(r.labels, l)
		}
	case fieldSeriesSamples:
		p, err := unmarshalSample(b)
		if err != nil {
			return err
		}
		r.points = append(r.points, p)
	case fieldSeriesExemplars:
		return r.unmarshalExemplar(b, base)
	case fieldSeriesHistograms:
		var h prompb.Histogram
		if err := h.Unmarshal(b); err != nil {
			return err
		}
		r.histograms = append(r.histograms, wireHistogram{histogramCount(&h), h.Timestamp})
	}
	return nil
}

// transcodeHead returns the label fields at b of the body, as Prometheus
// sends them, as the head of a Series of tumble's native batch
// (sample.AppendSeriesHead): the __name__ label as its name field, each
// other Label message as it is in a label field. It returns nil for a label
// of other fields than a name and a value, each shorter than 128 bytes.
// The heads of a request share one buffer, as long as the body at most.
func (r *writeRequest) transcodeHead(b bounds) []byte {
	if cap(r.headBuf) < len(r.str) {
		r.headBuf = make([]byte, 0, len(r.str))
	}
	from := len(r.headBuf)
	out := r.headBuf
	head := r.str[b.from:b.to]
	named := false
	for i := 0; i < len(head); {
		if head[i] != 0x0a || i+1 >= len(head) || head[i+1] >= 0x80 || i+2+int(head[i+1]) > len(head) {
			return nil
		}
		msg := head[i+2 : i+2+int(head[i+1])]
		n, v, ok := plainLabel(msg)
		if !ok {
			return nil
		}
		if msg[2:2+n] == nameLabel {
			if named {
				return nil // the last one is the name; the native form takes every one as one
			}
			named = true
			out = append(out, 0x0a, byte(v))
			out = append(out, msg[4+n:]...)
		} else {
			out = append(out, 0x12, byte(len(msg)))
			out = append(out, msg...)
		}
		i += 2 + len(msg)
	}
	r.headBuf = out
	return out[from:len(out):len(out)]
}

// plainLabel reports whether the Label b is as most are: a name of n
// bytes, then a value of v bytes, each shorter than 128 bytes.
func plainLabel[T string | []byte](b T) (n, v int, ok bool) {
	if len(b) < 4 || b[0] != 0x0a || b[1] >= 0x80 {
		return 0, 0, false
	}
	n = int(b[1])
	if len(b) < 4+n || b[2+n] != 0x12 || b[3+n] >= 0x80 {
		return 0, 0, false
	}
	v = int(b[3+n])
	return n, v, len(b) == 4+n+v
}

// unmarshalLabel decodes the Label b, at offset base of the body.
func (r *writeRequest) unmarshalLabel(b []byte, base int) (sample.Label, error) {
	var l sample.Label
	for i := 0; i < len(b); {
		// Most labels: a name, then a value, each shorter than 128 bytes.
		if c := b[i]; (c == 0x0a || c == 0x12) && i+1 < len(b) && b[i+1] < 0x80 && i+2+int(b[i+1]) <= len(b) {
			from, to := base+i+2, base+i+2+int(b[i+1])
			if c == 0x0a {
				l.Name = r.str[from:to]
			} else {
				l.Value = r.str[from:to]
			}
			i += 2 + int(b[i+1])
			continue
		}
		num, typ, next, err := fieldTag(b, i, "Label")
		if err != nil {
			return l, err
		}
		switch num {
		case fieldLabelName, fieldLabelValue:
			if typ != protowire.BytesType {
				return l, wrongWireType(typ, labelFields[num])
			}
			from, to, err := fieldBytes(b, next)
			if err != nil {
				return l, err
			}
			if num == fieldLabelName {
				l.Name = r.str[base+from : base+to]
			} else {
				l.Value = r.str[base+from : base+to]
			}
			i = to
		default:
			if i, err = skipField(b, i); err != nil {
				return l, err
			}
		}
	}
	return l, nil
}

// unmarshalSample decodes the Sample b.
func unmarshalSample(b []byte) (point, error) {
	var p point
	for i := 0; i < len(b); {
		if b[i] == 0x09 && len(b)-i > 8 { // the value, most often first
			p.value = math.Float64frombits(binary.LittleEndian.Uint64(b[i+1:]))
			i += 9
			continue
		}
		num, typ, next, err := fieldTag(b, i, "Sample")
		if err != nil {
			return p, err
		}
		switch num {
		case fieldSampleValue:
			if typ != protowire.Fixed64Type {
				return p, wrongWireType(typ, "Value")
			}
			if i, err = fixed64(b, next, &p.value); err != nil {
				return p, err
			}
		case fieldSampleTimestamp:
			if typ != protowire.VarintType {
				return p, wrongWireType(typ, "Timestamp")
			}
			var v uint64
			if v, i, err = uvarint(b, next); err != nil {
				return p, err
			}
			p.ts = int64(v)
		default:
			if i, err = skipField(b, i); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// unmarshalExemplar appends the Exemplar b, at offset base of the body,
// to r.
func (r *writeRequest) unmarshalExemplar(b []byte, base int) error {
	e := wireExemplar{labels: bounds{from: len(r.exLabels)}}
	for i := 0; i < len(b); {
		num, typ, next, err := fieldTag(b, i, "Exemplar")
		if err != nil {
			return err
		}
		switch num {
		case fieldExemplarLabels:
			if typ != protowire.BytesType {
				return wrongWireType(typ, "Labels")
			}
			from, to, err := fieldBytes(b, next)
			if err != nil {
				return err
			}
			l, err := r.unmarshalLabel(b[from:to], base+from)
			if err != nil {
				return err
			}
			r.exLabels = append(r.exLabels, l)
			i = to
		case fieldExemplarValue:
			if typ != protowire.Fixed64Type {
				return wrongWireType(typ, "Value")
			}
			if i, err = fixed64(b, next, &e.value); err != nil {
				return err
			}
		case fieldExemplarTimestamp:
			if typ != protowire.VarintType {
				return wrongWireType(typ, "Timestamp")
			}
			var v uint64
			if v, i, err = uvarint(b, next); err != nil {
				return err
			}
			e.ts = int64(v)
		default:
			if i, err = skipField(b, i); err != nil {
				return err
			}
		}
	}
	e.labels.to = len(r.exLabels)
	r.exemplars = append(r.exemplars, e)
	return nil
}

// unmarshalMetadata appends the MetricMetadata b, at offset base of the
// body, to r.
func (r *writeRequest) unmarshalMetadata(b []byte, base int) error {
	var md wireMetadata
	for i := 0; i < len(b); {
		num, typ, next, err := fieldTag(b, i, "MetricMetadata")
		if err != nil {
			return err
		}
		switch num {
		case fieldMetadataType:
			if typ != protowire.VarintType {
				return wrongWireType(typ, "Type")
			}
			var v uint64
			if v, i, err = uvarint(b, next); err != nil {
				return err
			}
			md.typ = prompb.MetricMetadata_MetricType(v) // an enum is an int32: higher bits are dropped
		case fieldMetadataFamilyName, fieldMetadataHelp, fieldMetadataUnit:
			if typ != protowire.BytesType {
				return wrongWireType(typ, metadataFields[num])
			}
			from, to, err := fieldBytes(b, next)
			if err != nil {
				return err
			}
			if num == fieldMetadataFamilyName {
				md.name = r.str[base+from : base+to]
			}
			i = to
		default:
			if i, err = skipField(b, i); err != nil {
				return err
			}
		}
	}
	r.metadata = append(r.metadata, md)
	return nil
}

// The errors of the gogo-generated decoders, worded as theirs.
var (
	errIntOverflow          = prompb.ErrIntOverflowTypes
	errInvalidLength        = prompb.ErrInvalidLengthTypes
	errUnexpectedEndOfGroup = prompb.ErrUnexpectedEndOfGroupTypes
)

// The names of the fields, as the errors of a wrong wire type give them.
var (
	seriesFields   = [...]string{fieldSeriesLabels: "Labels", fieldSeriesSamples: "Samples", fieldSeriesExemplars: "Exemplars", fieldSeriesHistograms: "Histograms"}
	labelFields    = [...]string{fieldLabelName: "Name", fieldLabelValue: "Value"}
	metadataFields = [...]string{fieldMetadataFamilyName: "MetricFamilyName", fieldMetadataHelp: "Help", fieldMetadataUnit: "Unit"}
)

func wrongWireType(typ protowire.Type, field string) error {
	return fmt.Errorf("proto: wrong wireType = %d for field %s", int(typ), field)
}

// uvarint decodes the varint at b[i:] and returns the offset after it.
func uvarint(b []byte, i int) (uint64, int, error) {
	if i < len(b) && b[i] < 0x80 {
		return uint64(b[i]), i + 1, nil
	}
	if v, n := protowire.ConsumeVarint(b[i:]); n > 0 {
		return v, i + n, nil
	}
	// Truncated, or ten bytes whose last is above 1: protowire refuses
	// it, gogo takes its lowest bit.
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, errIntOverflow
		}
		if i >= len(b) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
}

// fieldTag decodes the tag at b[i:] of a field of message: its number and
// wire type, and the offset after it.
func fieldTag(b []byte, i int, message string) (int32, protowire.Type, int, error) {
	if i < len(b) && b[i]-1<<3 < 0x80-1<<3 && b[i]&7 != 4 {
		return int32(b[i] >> 3), protowire.Type(b[i] & 7), i + 1, nil // most tags: one byte
	}
	return fieldTagSlow(b, i, message)
}

func fieldTagSlow(b []byte, i int, message string) (int32, protowire.Type, int, error) {
	tag, next, err := uvarint(b, i)
	if err != nil {
		return 0, 0, 0, err
	}
	num, typ := int32(tag>>3), protowire.Type(tag&7)
	if typ == protowire.EndGroupType {
		return 0, 0, 0, fmt.Errorf("proto: %s: wiretype end group for non-group", message)
	}
	if num <= 0 {
		return 0, 0, 0, fmt.Errorf("proto: %s: illegal tag %d (wire type %d)", message, num, tag)
	}
	return num, typ, next, nil
}

// fieldBytes decodes the length at b[i:] of a length-delimited field, and
// returns where its bytes start and end.
func fieldBytes(b []byte, i int) (from, to int, err error) {
	if i < len(b) && b[i] < 0x80 && i+1+int(b[i]) <= len(b) {
		return i + 1, i + 1 + int(b[i]), nil // most lengths: one byte
	}
	return fieldBytesSlow(b, i)
}

func fieldBytesSlow(b []byte, i int) (from, to int, err error) {
	v, i, err := uvarint(b, i)
	if err != nil {
		return 0, 0, err
	}
	n := int(v)
	if n < 0 {
		return 0, 0, errInvalidLength
	}
	to = i + n
	if to < 0 {
		return 0, 0, errInvalidLength
	}
	if to > len(b) {
		return 0, 0, io.ErrUnexpectedEOF
	}
	return i, to, nil
}

// fixed64 decodes the double at b[i:] into x, and returns the offset after
// it.
func fixed64(b []byte, i int, x *float64) (int, error) {
	if len(b)-i < 8 {
		return 0, io.ErrUnexpectedEOF
	}
	*x = math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
	return i + 8, nil
}

// skipField skips the unknown field whose tag is at b[i:], and returns the
// offset after it.
func skipField(b []byte, i int) (int, error) {
	n, err := skipValue(b[i:])
	if err != nil {
		return 0, err
	}
	if n < 0 || i+n < 0 {
		return 0, errInvalidLength
	}
	if i+n > len(b) {
		return 0, io.ErrUnexpectedEOF
	}
	return i + n, nil
}

// skipValue returns the length of the field at the start of b, a group
// with all it holds; the length may go past b, for the caller to check.
func skipValue(b []byte) (int, error) {
	i, depth := 0, 0
	for i < len(b) {
		tag, next, err := uvarint(b, i)
		if err != nil {
			return 0, err
		}
		i = next
		switch typ := protowire.Type(tag & 7); typ {
		case protowire.VarintType:
			if _, i, err = uvarint(b, i); err != nil {
				return 0, err
			}
		case protowire.Fixed64Type:
			i += 8
		case protowire.BytesType:
			v, next, err := uvarint(b, i)
			if err != nil {
				return 0, err
			}
			n := int(v)
			if n < 0 {
				return 0, errInvalidLength
			}
			i = next + n
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return 0, errUnexpectedEndOfGroup
			}
			depth--
		case protowire.Fixed32Type:
			i += 4
		default:
			return 0, fmt.Errorf("proto: illegal wireType %d", typ)
		}
		if i < 0 {
			return 0, errInvalidLength
		}
		if depth == 0 {
			return i, nil
		}
	}
	return 0, io.ErrUnexpectedEOF
}
