package sample

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tumblemetrics/tumble/internal/hashtab"
)

// The field numbers of the Series form of tumble.sample.v1: a Series carries
// its name, labels and type once for its Points.
const (
	fieldBatchSeries = 2

	fieldSeriesName   = 1
	fieldSeriesLabels = 2
	fieldSeriesType   = 3
	fieldSeriesPoints = 4

	fieldPointValue       = 1
	fieldPointTimestampMs = 2
	fieldPointTraceID     = 3
)

// seriesShape is what one pass over the fields of a Series message finds.
type seriesShape struct {
	points    int   // the Point fields
	seriesEnd int   // the end of the last name or label field
	leading   bool  // no field but names and labels before seriesEnd
	typ       int32 // the last type field's
	err       error // the first field of an unknown number or wire type
}

// scanSeries walks the fields of the Series message b, appending the start
// and end of each Point message to *points. It
// returns an error only when b does not split into fields: the series is
// then one invalid sample.
func scanSeries(b []byte, points *[]int32) (seriesShape, *DecodeError) {
	sh := seriesShape{leading: true}
	for off := 0; off < len(b); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return sh, malformed(n, "Series")
		}
		var want protowire.Type
		var field string
		switch num {
		case fieldSeriesName:
			want, field = protowire.BytesType, "name"
		case fieldSeriesLabels:
			want, field = protowire.BytesType, "labels"
		case fieldSeriesType:
			want, field = protowire.VarintType, "type"
		case fieldSeriesPoints:
			want, field = protowire.BytesType, "points"
		}
		if sh.err == nil {
			switch {
			case field == "":
				sh.err = unknownField(num, "Series")
			case wt != want:
				sh.err = wrongWireType(field, wt, want)
			}
		}
		m := protowire.ConsumeFieldValue(num, wt, b[off+n:])
		if m < 0 {
			return sh, malformed(m, "Series")
		}
		if wt == want {
			switch num {
			case fieldSeriesName, fieldSeriesLabels:
				sh.leading = sh.leading && sh.seriesEnd == off
				sh.seriesEnd = off + n + m
			case fieldSeriesType:
				x, _ := protowire.ConsumeVarint(b[off+n:])
				sh.typ = int32(x) // an enum is an int32: higher bits are dropped
			case fieldSeriesPoints:
				sh.points++
				_, k := protowire.ConsumeVarint(b[off+n:])
				*points = append(*points, int32(off+n+k), int32(off+n+m))
			}
		}
		off += n + m
	}
	return sh, nil
}

// decodeProtoSeries appends the points of the Series message b, at
// position n of its record, to dst as samples, and the invalid ones to bad;
// field is its field of the Batch, tag and length included. It returns the
// extended slices, scratch for reuse, and the number of positions the
// series takes in the record: its points, or 1 for a series without a point
// or that does not split into them.
func decodeProtoSeries(b, field []byte, n int, dst []Sample, bad []BadSample, scratch Labels, series *seriesCache) ([]Sample, []BadSample, Labels, int) {
	series.points = series.points[:0]
	sh, err := scanSeries(b, &series.points)
	if err != nil {
		return dst, append(bad, badSample(n, err, field)), scratch, 1
	}
	var name string
	var labels Labels
	var key SeriesKey
	serr := sh.err
	if serr == nil {
		// The cache knows a series by its name and label fields when they
		// come first, none after the other fields.
		prefix := 0
		if series.useful() && sh.leading {
			prefix = sh.seriesEnd
		}
		var c cachedSeries
		var ok bool
		var k hashtab.Key
		if prefix > 0 {
			k = series.hash(b[:prefix])
			c, ok = series.get(k)
		}
		if ok {
			name, labels, key = c.name, c.labels, c.key
		} else {
			name, labels, scratch, serr = decodeSeriesHead(b[:sh.seriesEnd], scratch)
			if serr == nil && prefix > 0 {
				key = series.put(k, name, labels)
			}
		}
	}
	if serr == nil {
		serr = checkType(sh.typ)
	}
	if serr == nil && sh.points == 0 {
		serr = newError(CodeBadField, "points", "missing: a series carries one point or more")
	}
	if serr != nil {
		if sh.points == 0 {
			return dst, append(bad, badSample(n, serr, field)), scratch, 1
		}
		de := serr.(*DecodeError)
		for i, pts := 0, series.points; i < len(pts); i += 2 {
			e := *de // each point's error has its own Index
			bad = append(bad, badSample(n+i/2, &e, seriesRecord(b, b[pts[i]:pts[i+1]])))
		}
		return dst, bad, scratch, sh.points
	}
	for i, pts := 0, series.points; i < len(pts); i += 2 {
		p := b[pts[i]:pts[i+1]]
		s := Sample{Name: name, Labels: labels, Type: Type(sh.typ), Key: key}
		if err := decodeProtoPoint(p, &s); err != nil {
			bad = append(bad, badSample(n+i/2, err, seriesRecord(b, p)))
		} else {
			dst = append(dst, s)
		}
	}
	return dst, bad, scratch, sh.points
}

// decodeSeriesHead decodes the name and labels of the Series message whose
// fields up to the last name or label field are b, collecting the labels in
// scratch: the points share what it returns. The name and the labels are
// substrings of one copy of b.
func decodeSeriesHead(b []byte, scratch Labels) (name string, labels, _ Labels, err error) {
	str := string(b)
	scratch = scratch[:0]
	for off := 0; off < len(b); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		off += n
		if num != fieldSeriesName && num != fieldSeriesLabels || wt != protowire.BytesType {
			off += protowire.ConsumeFieldValue(num, wt, b[off:])
			continue
		}
		v, m := protowire.ConsumeBytes(b[off:])
		from, to := off+m-len(v), off+m
		off += m
		if num == fieldSeriesName {
			name = str[from:to]
			// Every occurrence must be valid, the overridden ones too,
			// as for the generated decoder.
			if !utf8.ValidString(name) {
				return "", nil, scratch, newError(CodeBadField, "name", "not valid UTF-8")
			}
			continue
		}
		l, err := decodeProtoLabel(b[from:to], str[from:to])
		if err != nil {
			return "", nil, scratch, err
		}
		scratch = append(scratch, l)
	}
	if err := checkName(name); err != nil {
		return "", nil, scratch, err
	}
	if len(scratch) == 0 {
		return name, nil, scratch, nil
	}
	if err := checkLabels(scratch); err != nil {
		return "", nil, scratch, err
	}
	return name, slices.Clone(scratch), scratch, nil
}

// decodeProtoPoint decodes the Point message p into s, whose series is set.
func decodeProtoPoint(p []byte, s *Sample) error {
	f := protoFields{typ: int32(s.Type)}
	// The fields in the order appendProtoSeries writes them, each once:
	// value, timestamp, then perhaps a trace ID.
	const valueTag, tsTag, traceTag = fieldPointValue<<3 | 1, fieldPointTimestampMs << 3, fieldPointTraceID<<3 | 2
	if len(p) > 10 && p[0] == valueTag && p[9] == tsTag {
		ts, n := protowire.ConsumeVarint(p[10:])
		rest := p[min(10+max(n, 0), len(p)):]
		if n > 0 && (len(rest) == 0 || len(rest) == 2+len(s.TraceID) && rest[0] == traceTag && rest[1] == byte(len(s.TraceID))) {
			s.Value, f.hasValue = math.Float64frombits(binary.LittleEndian.Uint64(p[1:9])), true
			s.TimestampMs, f.hasTs = int64(ts), true
			if len(rest) > 0 {
				f.traceFrom, f.traceTo = len(p)-len(s.TraceID), len(p)
			}
			return f.check(p, s)
		}
	}
	for off := 0; off < len(p); {
		num, wt, n := protowire.ConsumeTag(p[off:])
		if n < 0 {
			return malformed(n, "Point")
		}
		off += n
		var want protowire.Type
		var field string
		switch num {
		case fieldPointValue:
			want, field = protowire.Fixed64Type, "value"
		case fieldPointTimestampMs:
			want, field = protowire.VarintType, "timestamp_ms"
		case fieldPointTraceID:
			want, field = protowire.BytesType, "trace_id"
		default:
			return unknownField(num, "Point")
		}
		if wt != want {
			return wrongWireType(field, wt, want)
		}
		x, from, to, next, err := consumeValue(p, off, wt, "Point")
		if err != nil {
			return err
		}
		off = next
		switch num {
		case fieldPointValue:
			s.Value, f.hasValue = math.Float64frombits(x), true
		case fieldPointTimestampMs:
			s.TimestampMs, f.hasTs = int64(x), true
		case fieldPointTraceID:
			f.traceFrom, f.traceTo = from, to
		}
	}
	return f.check(p, s)
}

// seriesRecord returns a Batch of one Series: the fields of the Series
// message b other than its points, and the Point message p.
func seriesRecord(b, p []byte) []byte {
	size := 1 + protowire.SizeBytes(len(p))
	head := func(yield func(field []byte)) {
		for off := 0; off < len(b); {
			num, wt, n := protowire.ConsumeTag(b[off:])
			m := protowire.ConsumeFieldValue(num, wt, b[off+n:])
			if num != fieldSeriesPoints || wt != protowire.BytesType {
				yield(b[off : off+n+m])
			}
			off += n + m
		}
	}
	head(func(field []byte) { size += len(field) })
	out := make([]byte, 0, 1+protowire.SizeBytes(size))
	out = protowire.AppendTag(out, fieldBatchSeries, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	head(func(field []byte) { out = append(out, field...) })
	out = protowire.AppendTag(out, fieldSeriesPoints, protowire.BytesType)
	return protowire.AppendBytes(out, p)
}

// rawProtoSeries is rawSamples for the Series message b at position n of
// its record, field being its field of the Batch. It returns the positions
// the series takes and whether yield asked for more.
func rawProtoSeries(b, field []byte, n int, yield func(n int, raw []byte) bool) (int, bool) {
	var pts []int32
	sh, err := scanSeries(b, &pts)
	if err != nil || sh.points == 0 {
		return 1, yield(n, field)
	}
	for i := 0; i < len(pts); i += 2 {
		if !yield(n+i/2, seriesRecord(b, b[pts[i]:pts[i+1]])) {
			return sh.points, false
		}
	}
	return sh.points, true
}

// checkType checks the type field of a Sample or a Series.
func checkType(typ int32) error {
	switch {
	case typ == 0:
		return newError(CodeBadField, "type", "missing")
	case typ < int32(Counter) || typ > int32(Timer):
		return newError(CodeBadField, "type", fmt.Sprintf("unknown sample type %d (want 1 to 4: counter, cumulative, gauge or timer)", typ))
	}
	return nil
}

// SameSeries reports whether a and b are samples of one series: the same
// name, type and labels. It is cheap when their keys tell, or when they
// share the very same Labels, as a decoder gives the samples of a Series.
func SameSeries(a, b *Sample) bool {
	if a.Type != b.Type || len(a.Labels) != len(b.Labels) {
		return false
	}
	if a.Key.ID != b.Key.ID && a.Key != (SeriesKey{}) && b.Key != (SeriesKey{}) {
		return false // the IDs are SeriesIDs, whatever the seeds
	}
	if a.Key == b.Key && a.Key != (SeriesKey{}) {
		return true
	}
	if a.Name != b.Name {
		return false
	}
	return len(a.Labels) == 0 || &a.Labels[0] == &b.Labels[0] || a.Labels.Equal(b.Labels)
}

// appendProtoSeries appends run, samples of one series, as one Series
// field of a Batch.
func appendProtoSeries(dst []byte, run []Sample) []byte {
	s := &run[0]
	dst = protowire.AppendTag(dst, fieldBatchSeries, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(protoSeriesSize(run)))
	dst = appendSeriesHead(dst, s.Name, s.Labels)
	return appendSeriesPoints(dst, run)
}

// appendSeriesHead appends the name and label fields of a Series.
func appendSeriesHead(dst []byte, name string, labels Labels) []byte {
	if name != "" {
		dst = protowire.AppendTag(dst, fieldSeriesName, protowire.BytesType)
		dst = protowire.AppendString(dst, name)
	}
	return appendProtoLabels(dst, fieldSeriesLabels, labels)
}

// appendSeriesPoints appends the type field of run's Series and its
// points.
func appendSeriesPoints(dst []byte, run []Sample) []byte {
	if t := run[0].Type; t != 0 {
		dst = protowire.AppendTag(dst, fieldSeriesType, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(t))
	}
	for i := range run {
		p := &run[i]
		dst = protowire.AppendTag(dst, fieldSeriesPoints, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(protoPointSize(p)))
		dst = protowire.AppendTag(dst, fieldPointValue, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, math.Float64bits(p.Value))
		dst = protowire.AppendTag(dst, fieldPointTimestampMs, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(p.TimestampMs))
		if !p.TraceID.IsZero() {
			dst = protowire.AppendTag(dst, fieldPointTraceID, protowire.BytesType)
			dst = protowire.AppendBytes(dst, p.TraceID[:])
		}
	}
	return dst
}

// seriesPointsSize is the length of what appendSeriesPoints appends.
func seriesPointsSize(run []Sample) int {
	n := 0
	if t := run[0].Type; t != 0 {
		n += 1 + protowire.SizeVarint(uint64(t))
	}
	for i := range run {
		n += 1 + protowire.SizeBytes(protoPointSize(&run[i]))
	}
	return n
}

// AppendSeriesHead appends the head of a series to dst: the fields that
// carry its name and labels in a Series of a Batch. A writer that has the
// heads of the series it writes, encoded once or transcoded from what it
// received, writes their samples with AppendSeries, without encoding their
// labels again. A head's fields may come in any order.
func AppendSeriesHead(dst []byte, name string, labels Labels) []byte {
	return appendSeriesHead(dst, name, labels)
}

// AppendSeries appends run, samples of the series whose head
// (AppendSeriesHead) is head, as one Series field of a Batch: what
// AppendProto appends for run when head is its series' encoding.
func AppendSeries(dst []byte, head []byte, run []Sample) []byte {
	dst = protowire.AppendTag(dst, fieldBatchSeries, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(len(head)+seriesPointsSize(run)))
	dst = append(dst, head...)
	return appendSeriesPoints(dst, run)
}

// SeriesSize is the length of what AppendSeries appends.
func SeriesSize(head []byte, run []Sample) int {
	return 1 + protowire.SizeBytes(len(head)+seriesPointsSize(run))
}

// appendProtoLabels appends ls as the repeated Label field num.
func appendProtoLabels(dst []byte, num protowire.Number, ls Labels) []byte {
	for _, l := range ls {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
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
	return dst
}

// protoSeriesSize is the length of the Series message of run, samples of
// one series.
func protoSeriesSize(run []Sample) int {
	s := &run[0]
	n := 0
	if s.Name != "" {
		n += 1 + protowire.SizeBytes(len(s.Name))
	}
	for _, l := range s.Labels {
		n += 1 + protowire.SizeBytes(protoLabelSize(l))
	}
	return n + seriesPointsSize(run)
}

// protoPointSize is the length of s's Point message.
func protoPointSize(s *Sample) int {
	n := 1 + protowire.SizeFixed64() + 1 + protowire.SizeVarint(uint64(s.TimestampMs))
	if !s.TraceID.IsZero() {
		n += 1 + protowire.SizeBytes(len(s.TraceID))
	}
	return n
}
