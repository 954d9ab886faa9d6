package graphite

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// ReasonBadLine is the reason code of a line that is not Graphite's
// plaintext protocol.
const ReasonBadLine = "bad_line"

// maxComponents bounds the components of a path (__g0__ … __g999__).
const maxComponents = 1000

// ParseLine turns one line of Graphite's plaintext protocol,
//
//	path[;tag=value…] value [timestamp]
//
// into a gauge sample: its name is the path with every character a
// metric name cannot hold made an underscore (servers.api-1.cpu:
// servers_api_1_cpu), and its labels are the path's components as M3
// names them, __g0__="servers", __g1__="api-1", __g2__="cpu", and the
// tags of a tagged path. The timestamp is in seconds (a fraction allowed;
// none, or -1, means nowMs).
func ParseLine(line string, nowMs int64) (sample.Sample, error) {
	s := sample.Sample{Type: sample.Gauge}
	fields := strings.Fields(line)
	if len(fields) < 2 || len(fields) > 3 {
		return s, fmt.Errorf("%d fields, want path value [timestamp]", len(fields))
	}
	path, tags, _ := strings.Cut(fields[0], ";")
	if path == "" || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return s, fmt.Errorf("path %q: empty, or an empty component", path)
	}
	comps := strings.Split(path, ".")
	if len(comps) > maxComponents {
		return s, fmt.Errorf("path has %d components, more than %d", len(comps), maxComponents)
	}
	s.Name = metricName(path)
	for i, c := range comps {
		s.Labels = append(s.Labels, sample.Label{Name: "__g" + strconv.Itoa(i) + "__", Value: c})
	}
	if tags != "" {
		for _, t := range strings.Split(tags, ";") {
			k, v, ok := strings.Cut(t, "=")
			if !ok || k == "" || v == "" {
				return s, fmt.Errorf("tag %q: want name=value", t)
			}
			s.Labels = append(s.Labels, sample.Label{Name: k, Value: v})
		}
	}
	v, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return s, fmt.Errorf("value %q: not a number", fields[1])
	}
	s.Value = v
	s.TimestampMs = nowMs
	if len(fields) == 3 && fields[2] != "-1" {
		ts, err := strconv.ParseFloat(fields[2], 64)
		if err != nil || math.IsNaN(ts) || math.IsInf(ts, 0) || math.Abs(ts) > 1e15 {
			return s, fmt.Errorf("timestamp %q: not a number of seconds", fields[2])
		}
		s.TimestampMs = int64(math.Round(ts * 1000))
	}
	return s, nil
}

// metricName makes a metric name of a path.
func metricName(path string) string {
	b := []byte(path)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || c >= '0' && c <= '9' && i > 0
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// Decode parses the lines of a batch into samples appended to dst, and
// refuses the others with their reason.
func Decode(lines []string, limits sample.Limits, nowMs int64, dst []sample.Sample, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	for _, line := range lines {
		s, err := ParseLine(line, nowMs)
		if err == nil {
			err = ingest.Admit(&s, limits, nowMs)
		}
		if err != nil {
			reason := ingest.Reason(err, ReasonBadLine)
			if s.Name == "" {
				s.Name = "graphite_line"
			}
			refused = append(refused, ingest.Refused{Series: abbrev(line), Reason: reason, Err: err, Sample: s})
			continue
		}
		dst = append(dst, s)
	}
	return dst, refused
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
