package replay

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// Point is the JSON form of one aggregated point (the README's
// "Replay"). Name and Labels are those of the output series the point is
// stored under; Labels leave the name out.
type Point struct {
	Name          string            `json:"name"`
	Labels        map[string]string `json:"labels"`
	Aggregation   string            `json:"aggregation"`
	Policy        string            `json:"policy"`
	WindowStartMs int64             `json:"window_start_ms"`
	WindowEndMs   int64             `json:"window_end_ms"`
	Value         Float             `json:"value"`
	Exemplar      *Exemplar         `json:"exemplar,omitempty"`
	// Shard is the shard that holds the series in a cluster of
	// Options.Shards shards; absent when Options.Shards is 0.
	Shard *int32 `json:"shard,omitempty"`
}

// Exemplar is the JSON form of a point's exemplar; TraceID is empty when the
// sample behind the point had none.
type Exemplar struct {
	TraceID     string `json:"trace_id,omitempty"`
	Value       Float  `json:"value"`
	TimestampMs int64  `json:"timestamp_ms"`
}

// Float is a float64 that survives JSON whatever its value: finite values are
// numbers, the others the strings "+Inf", "-Inf" and "NaN" (as in
// Prometheus' API). A sum can overflow to infinity.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) { return appendFloat(nil, float64(f)), nil }

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "+Inf":
			*f = Float(math.Inf(1))
		case "-Inf":
			*f = Float(math.Inf(-1))
		case "NaN":
			*f = Float(math.NaN())
		default:
			return fmt.Errorf("decode float: %q is not +Inf, -Inf or NaN", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("decode float: %w", err)
	}
	*f = Float(v)
	return nil
}

func appendFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Inf"`...)
	case math.IsNaN(v):
		return append(dst, `"NaN"`...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// AppendPoint appends the JSON line of p (without the newline) to dst. Keys
// come in a fixed order and labels sorted by name, so equal points give
// equal bytes.
func AppendPoint(dst []byte, p *aggregator.Point) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, p.SeriesName())
	dst = append(dst, `,"labels":`...)
	dst = p.SeriesLabels().AppendJSON(dst)
	dst = append(dst, `,"aggregation":"`...)
	dst = append(dst, p.Aggregation.String()...)
	dst = append(dst, `","policy":"`...)
	dst = append(dst, p.Policy.String()...)
	dst = append(dst, `","window_start_ms":`...)
	dst = strconv.AppendInt(dst, p.StartMs, 10)
	dst = append(dst, `,"window_end_ms":`...)
	dst = strconv.AppendInt(dst, p.EndMs, 10)
	dst = append(dst, `,"value":`...)
	dst = appendFloat(dst, p.Value)
	if p.HasExemplar {
		dst = append(dst, `,"exemplar":{`...)
		if !p.Exemplar.TraceID.IsZero() {
			dst = append(dst, `"trace_id":"`...)
			dst = append(dst, p.Exemplar.TraceID.String()...)
			dst = append(dst, `",`...)
		}
		dst = append(dst, `"value":`...)
		dst = appendFloat(dst, p.Exemplar.Value)
		dst = append(dst, `,"timestamp_ms":`...)
		dst = strconv.AppendInt(dst, p.Exemplar.TimestampMs, 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// SeriesKey returns the identity of p's output series with its policy and
// aggregation, for comparing point sets.
func (p *Point) SeriesKey() string {
	return p.Name + sample.FromMap(p.Labels).String() + "/" + p.Aggregation + "/" + p.Policy
}
