package promapi

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/annotations"
)

var stringCases = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"<script>&amp;</script>",
	"\x00\x01\x1f\x7f",
	"\b\f\n\r\t",
	"é 日本 🦆",
	"line\u2028para\u2029",
	"bad \xff utf8 \xc3",
	"\xed\xa0\x80 surrogate",
}

// TestAppendString: strings are escaped exactly as encoding/json escapes
// them.
func TestAppendString(t *testing.T) {
	for _, s := range stringCases {
		checkString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func checkString(t *testing.T, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendString(nil, s); string(got) != string(want) {
		t.Errorf("appendString(%q) = %s, want %s", s, got, want)
	}
}

// TestAppendTimestamp: milliseconds as Unix seconds, with three digits of
// milliseconds when there are any, as Prometheus writes them.
func TestAppendTimestamp(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want string
	}{
		{0, "0"},
		{5, "0.005"},
		{50, "0.050"},
		{1_700_000_000_000, "1700000000"},
		{1_700_000_000_120, "1700000000.120"},
		{1_700_000_000_123, "1700000000.123"},
		{1_700_000_000_001, "1700000000.001"},
		{-5, "-0.005"},
		{-1_500, "-1.500"},
		{math.MaxInt64, "9223372036854775.807"},
		{math.MinInt64, "-9223372036854775.808"},
	} {
		if got := string(appendTimestamp(nil, c.ms)); got != c.want {
			t.Errorf("appendTimestamp(%d) = %s, want %s", c.ms, got, c.want)
		}
		var f float64
		if err := json.Unmarshal(appendTimestamp(nil, c.ms), &f); err != nil {
			t.Errorf("appendTimestamp(%d) is not a JSON number: %v", c.ms, err)
		}
	}
}

// TestAppendFloat: values as strings, in exponent form at the extremes.
func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, `"0"`},
		{math.Copysign(0, -1), `"-0"`},
		{1, `"1"`},
		{-2.5, `"-2.5"`},
		{func() float64 { a := 0.1; return a + 0.2 }(), `"0.30000000000000004"`},
		{1e-6, `"0.000001"`},
		{9.99e-7, `"9.99e-07"`},
		{1e20, `"100000000000000000000"`},
		{1e21, `"1e+21"`},
		{-1e22, `"-1e+22"`},
		{math.MaxFloat64, `"1.7976931348623157e+308"`},
		{math.SmallestNonzeroFloat64, `"5e-324"`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
	} {
		if got := string(appendFloat(nil, c.f)); got != c.want {
			t.Errorf("appendFloat(%v) = %s, want %s", c.f, got, c.want)
		}
	}
}

// TestAppendHistogram: a native histogram as Prometheus writes it, and as
// promql.HPoint's own MarshalJSON writes it where the two agree (whole
// seconds, values in decimal form).
func TestAppendHistogram(t *testing.T) {
	h := &histogram.FloatHistogram{
		Schema:          0,
		ZeroThreshold:   0.001,
		ZeroCount:       2,
		Count:           12,
		Sum:             18.4,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 1}},
		PositiveBuckets: []float64{1, 0, 4},
		NegativeSpans:   []histogram.Span{{Offset: 0, Length: 1}},
		NegativeBuckets: []float64{5},
	}
	want := `{"count":"12","sum":"18.4","buckets":[[1,"-1","-0.5","5"],[3,"-0.001","0.001","2"],[0,"0.5","1","1"],[0,"4","8","4"]]}`
	if got := string(appendHistogram(nil, h)); got != want {
		t.Errorf("appendHistogram = %s\nwant %s", got, want)
	}
	p := promql.HPoint{T: 1_700_000_000_000, H: h}
	ref, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got := append(append(appendTimestamp([]byte("["), p.T), ','), appendHistogram(nil, h)...)
	if got = append(got, ']'); string(got) != string(ref) {
		t.Errorf("histogram point = %s\nHPoint.MarshalJSON = %s", got, ref)
	}

	empty := &histogram.FloatHistogram{Count: 0, Sum: 0}
	if got, want := string(appendHistogram(nil, empty)), `{"count":"0","sum":"0"}`; got != want {
		t.Errorf("empty histogram = %s, want %s", got, want)
	}

	v, err := appendValue(nil, promql.Vector{{Metric: labels.FromStrings("__name__", "h"), T: 1500, H: empty}})
	if want := `[{"metric":{"__name__":"h"},"histogram":[1.500,{"count":"0","sum":"0"}]}]`; err != nil || string(v) != want {
		t.Errorf("vector of a histogram = %s, %v, want %s", v, err, want)
	}
	m, err := appendValue(nil, promql.Matrix{{Metric: labels.FromStrings("__name__", "h"), Histograms: []promql.HPoint{{T: 1000, H: empty}, {T: 2000, H: empty}}}})
	if want := `[{"metric":{"__name__":"h"},"histograms":[[1,{"count":"0","sum":"0"}],[2,{"count":"0","sum":"0"}]]}]`; err != nil || string(m) != want {
		t.Errorf("matrix of histograms = %s, %v, want %s", m, err, want)
	}
}

// TestAppendValueMatchesMarshalJSON: on values where promql's own
// MarshalJSON methods and Prometheus' API writer agree (timestamps whose
// milliseconds do not end in 0, values in decimal form), the hand-written
// vectors and matrices are byte for byte theirs.
func TestAppendValueMatchesMarshalJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := func() int64 {
		for {
			if t := rng.Int64N(2e12) - 1e11; t%10 != 0 {
				return t
			}
		}
	}
	val := func() float64 {
		switch rng.IntN(4) {
		case 0:
			return float64(rng.IntN(1000))
		case 1:
			return rng.Float64()
		default:
			return (rng.Float64() - 0.5) * 1e6
		}
	}
	lbls := func() labels.Labels {
		b := labels.NewScratchBuilder(4)
		b.Add("__name__", "metric_"+strconv.Itoa(rng.IntN(10)))
		for i := range rng.IntN(4) {
			b.Add("l"+strconv.Itoa(i), stringCases[rng.IntN(len(stringCases))])
		}
		b.Sort()
		return b.Labels()
	}
	for range 200 {
		var vec promql.Vector
		var mat promql.Matrix
		for range rng.IntN(5) {
			vec = append(vec, promql.Sample{Metric: lbls(), T: ts(), F: val()})
			s := promql.Series{Metric: lbls()}
			for range rng.IntN(5) {
				s.Floats = append(s.Floats, promql.FPoint{T: ts(), F: val()})
			}
			mat = append(mat, s)
		}
		checkValue(t, vec, vec)
		checkValue(t, mat, mat)
	}
	checkValue(t, promql.Vector{}, promql.Vector{})
	checkValue(t, promql.Matrix{}, promql.Matrix{})
}

func checkValue(t *testing.T, v, ref any) {
	t.Helper()
	var got []byte
	var err error
	switch v := v.(type) {
	case promql.Vector:
		got, err = appendValue(nil, v)
	case promql.Matrix:
		got, err = appendValue(nil, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) == "[]" && string(want) == "null" {
		return // encoding/json writes an empty slice as null, Prometheus as []
	}
	if string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestAppendExemplars: the query_exemplars answer as Prometheus writes it.
func TestAppendExemplars(t *testing.T) {
	rs := []exemplar.QueryResult{
		{
			SeriesLabels: labels.FromStrings("__name__", "p99", "service", "checkout"),
			Exemplars: []exemplar.Exemplar{
				{Labels: labels.FromStrings("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), Value: 0.25, Ts: 1_700_000_000_123, HasTs: true},
				{Labels: labels.FromStrings("trace_id", "00f067aa0ba902b7"), Value: 1e-9, Ts: 1_700_000_001_000, HasTs: true},
			},
		},
		{SeriesLabels: labels.FromStrings("__name__", "empty")},
	}
	want := `[{"seriesLabels":{"__name__":"p99","service":"checkout"},"exemplars":[` +
		`{"labels":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"},"value":"0.25","timestamp":1700000000.123},` +
		`{"labels":{"trace_id":"00f067aa0ba902b7"},"value":"1e-09","timestamp":1700000001}]},` +
		`{"seriesLabels":{"__name__":"empty"},"exemplars":null}]`
	if got := string(appendExemplars(nil, rs)); got != want {
		t.Errorf("appendExemplars = %s\nwant %s", got, want)
	}
	if got := string(appendExemplars(nil, nil)); got != "[]" {
		t.Errorf("no exemplars = %s, want []", got)
	}
}

// TestAppendSuccess: the envelope, with and without annotations, and a
// value the encoder does not know.
func TestAppendSuccess(t *testing.T) {
	got, err := appendSuccess(nil, []string{"a"}, []string{"w1", "w2"}, []string{"i"})
	if want := `{"status":"success","data":["a"],"warnings":["w1","w2"],"infos":["i"]}`; err != nil || string(got) != want {
		t.Errorf("appendSuccess = %s, %v, want %s", got, err, want)
	}
	if _, err := appendSuccess(nil, &queryData{ResultType: "matrix", Result: nil}, nil, nil); err == nil {
		t.Errorf("appendSuccess of a nil result: no error")
	}
	if _, err := appendSuccess(nil, math.NaN(), nil, nil); err == nil {
		t.Errorf("appendSuccess of NaN data: no error")
	}
}

// TestAnnotationStrings: annotations are sorted and cut at ten of each.
func TestAnnotationStrings(t *testing.T) {
	var a annotations.Annotations
	for i := range 12 {
		a.Add(fmt.Errorf("warning %02d", i))
	}
	w, i := annotationStrings(a, "")
	if len(w) != 11 || w[0] != "warning 00" || w[9] != "warning 09" || w[10] != "2 more warning annotations omitted" || len(i) != 0 {
		t.Errorf("warnings %q, infos %q", w, i)
	}
}
