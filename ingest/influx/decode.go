package influx

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// Reason codes of the lines and fields a write refuses, besides
// sample.Code….
const (
	// ReasonBadLine: a line that is not line protocol.
	ReasonBadLine = "bad_line"
	// ReasonStringField: a string field, which no sample can hold.
	ReasonStringField = "string_field"
)

// Precision is the unit of a request's timestamps.
type Precision int64

// The precisions of the precision parameter: ns (the default), us (or u),
// ms, s (and InfluxDB 1.x's n, u, m, h).
var precisions = map[string]Precision{"": 1, "n": 1, "ns": 1, "u": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}

// ParsePrecision returns the precision the parameter names.
func ParsePrecision(s string) (Precision, error) {
	p, ok := precisions[s]
	if !ok {
		return 0, fmt.Errorf("precision %q: want ns, us, ms or s", s)
	}
	return p, nil
}

// Decode turns the lines of body into samples appended to dst, and the
// lines or fields it refuses into refused. Each field of a point is a
// sample named measurement_field (measurement alone for the field
// "value"), a gauge; the tags are its labels, but trace_id, which is its
// trace. A line without a timestamp takes nowMs. Names that are not
// Prometheus names have their other characters turned into underscores.
func Decode(body []byte, prec Precision, limits sample.Limits, nowMs int64, dst []sample.Sample, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	n := 0
	for raw := range bytes.SplitSeq(body, []byte{'\n'}) {
		n++
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		p, err := ParseLine(line)
		if err != nil {
			refused = append(refused, ingest.Refused{Series: fmt.Sprintf("line %d", n), Reason: ReasonBadLine,
				Err: fmt.Errorf("line %d: %w", n, err), Sample: sample.Sample{Name: "influx_line", Type: sample.Gauge, TimestampMs: nowMs}})
			continue
		}
		ts := nowMs
		if p.HasTime {
			ts = toMs(p.Timestamp, prec)
		}
		var ls sample.Labels
		var trace sample.TraceID
		for _, t := range p.Tags {
			if t.Key == "trace_id" {
				if tid, err := sample.ParseTraceID(strings.ToLower(t.Value)); err == nil {
					trace = tid
					continue
				}
			}
			ls = append(ls, sample.Label{Name: sanitize(t.Key, false), Value: t.Value})
		}
		for _, f := range p.Fields {
			name := sanitize(p.Measurement, true)
			if f.Key != "value" {
				name += "_" + sanitize(f.Key, false)
			}
			s := sample.Sample{Name: name, Labels: ls, Type: sample.Gauge, Value: f.Value, TimestampMs: ts, TraceID: trace}
			series := fmt.Sprintf("line %d: %s", n, name+ls.String())
			if f.IsString {
				refused = append(refused, ingest.Refused{Series: series, Reason: ReasonStringField, Sample: s,
					Err: fmt.Errorf("field %s is a string: only numbers and booleans are samples", f.Key)})
				continue
			}
			err := ingest.Admit(&s, limits, nowMs)
			ls = s.Labels // sorted once
			if err != nil {
				refused = append(refused, ingest.Refused{Series: series, Reason: ingest.Reason(err, sample.CodeBadField), Err: err, Sample: s})
				continue
			}
			dst = append(dst, s)
		}
	}
	return dst, refused
}

// toMs converts a timestamp of precision p to milliseconds.
func toMs(ts int64, p Precision) int64 {
	switch {
	case p >= 1e6:
		f := int64(p) / 1e6
		if ts > math.MaxInt64/f || ts < math.MinInt64/f {
			return math.MaxInt64 // far in the future: refused by the limits
		}
		return ts * f
	default:
		return ts / (1e6 / int64(p))
	}
}

// sanitize turns a name into a Prometheus metric name (colons allowed) or
// label name: other characters become underscores, and a leading digit
// gets one before it.
func sanitize(s string, metric bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= '0' && c <= '9' || metric && c == ':'
		if i == 0 && c >= '0' && c <= '9' {
			b.WriteByte('_')
		}
		if ok {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if !metric && strings.HasPrefix(out, "__") {
		out = "tag" + out // __ is reserved
	}
	return out
}
