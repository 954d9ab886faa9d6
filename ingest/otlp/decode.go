package otlp

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/otlptranslator"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// Reason codes of the data points OTLP refuses, besides sample.Code….
const (
	// ReasonExponentialHistogram: an exponential histogram point, which
	// tumble does not aggregate; use explicit buckets.
	ReasonExponentialHistogram = "exponential_histogram"
	// ReasonBadName: a metric or attribute name that does not translate.
	ReasonBadName = "bad_name"
)

// flagNoRecordedValue marks a point that holds no value (the end of a
// series, as Prometheus' staleness marker).
const flagNoRecordedValue = uint32(metricspb.DataPointFlags_DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK)

// Decoder turns OTLP metrics into samples, named as OpenTelemetry's
// Prometheus compatibility specifies (dots to underscores, the unit and
// _total as suffixes). Any goroutine may use it.
type Decoder struct {
	metrics otlptranslator.MetricNamer
	labels  otlptranslator.LabelNamer
	promote []string
}

// NewDecoder returns a Decoder that copies the resource attributes
// promote (besides service.name and service.instance.id, which become job
// and instance) onto every series of the resource.
func NewDecoder(promote []string) *Decoder {
	return &Decoder{
		metrics: otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes),
		labels:  otlptranslator.LabelNamer{},
		promote: promote,
	}
}

// Decode appends the samples of req's data points to dst and the points it
// refuses to refused.
//
//   - A gauge is a gauge. A monotonic sum is cumulative (delta: a counter
//     of increments), named with _total; a non-monotonic one a gauge
//     (delta: a counter).
//   - A histogram is its _bucket series (cumulative counts, le up to
//     +Inf), _count and _sum, cumulative (delta: counters). An exemplar
//     gives its trace to the bucket that holds its value.
//   - A summary is its quantiles (gauges) and its _count and _sum.
//   - Exponential histograms are refused, each point with its reason.
//
// Labels: the point's attributes; job and instance from the resource's
// service.namespace/service.name and service.instance.id; otel_scope_name
// and otel_scope_version from the scope.
func (d *Decoder) Decode(req *colmetricspb.ExportMetricsServiceRequest, limits sample.Limits, nowMs int64, dst []sample.Sample, refused []ingest.Refused) ([]sample.Sample, []ingest.Refused) {
	for _, rm := range req.GetResourceMetrics() {
		res := d.resourceLabels(rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			scope := slices.Clone(res)
			if n := sm.GetScope().GetName(); n != "" {
				scope = append(scope, sample.Label{Name: "otel_scope_name", Value: n})
			}
			if v := sm.GetScope().GetVersion(); v != "" {
				scope = append(scope, sample.Label{Name: "otel_scope_version", Value: v})
			}
			for _, m := range sm.GetMetrics() {
				p := &point{d: d, limits: limits, nowMs: nowMs, base: scope, metric: m.GetName()}
				p.decode(m, dst, refused)
				dst, refused = p.dst, p.refused
			}
		}
	}
	return dst, refused
}

// point carries the state of one metric's decoding.
type point struct {
	d       *Decoder
	limits  sample.Limits
	nowMs   int64
	base    sample.Labels
	metric  string
	dst     []sample.Sample
	refused []ingest.Refused
}

func (p *point) decode(m *metricspb.Metric, dst []sample.Sample, refused []ingest.Refused) {
	p.dst, p.refused = dst, refused
	unit := m.GetUnit()
	switch data := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		name, err := p.name(m.GetName(), unit, otlptranslator.MetricTypeGauge)
		for _, dp := range data.Gauge.GetDataPoints() {
			p.number(name, err, sample.Gauge, dp)
		}
	case *metricspb.Metric_Sum:
		delta := data.Sum.GetAggregationTemporality() == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		mt, typ := otlptranslator.MetricType(otlptranslator.MetricTypeNonMonotonicCounter), sample.Gauge
		if data.Sum.GetIsMonotonic() {
			mt, typ = otlptranslator.MetricTypeMonotonicCounter, sample.Cumulative
		}
		if delta {
			typ = sample.Counter
		}
		name, err := p.name(m.GetName(), unit, mt)
		for _, dp := range data.Sum.GetDataPoints() {
			p.number(name, err, typ, dp)
		}
	case *metricspb.Metric_Histogram:
		typ := sample.Cumulative
		if data.Histogram.GetAggregationTemporality() == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
			typ = sample.Counter
		}
		name, err := p.name(m.GetName(), unit, otlptranslator.MetricTypeHistogram)
		for _, dp := range data.Histogram.GetDataPoints() {
			p.histogram(name, err, typ, dp)
		}
	case *metricspb.Metric_Summary:
		name, err := p.name(m.GetName(), unit, otlptranslator.MetricTypeSummary)
		for _, dp := range data.Summary.GetDataPoints() {
			p.summary(name, err, dp)
		}
	case *metricspb.Metric_ExponentialHistogram:
		for _, dp := range data.ExponentialHistogram.GetDataPoints() {
			p.refuse(sample.Sample{Name: m.GetName(), Type: sample.Cumulative, Value: float64(dp.GetCount()), TimestampMs: ms(dp.GetTimeUnixNano())},
				ReasonExponentialHistogram, fmt.Errorf("an exponential histogram, which tumble does not aggregate: use explicit bucket boundaries"))
		}
	}
}

// name translates a metric's name, as for its type.
func (p *point) name(name, unit string, mt otlptranslator.MetricType) (string, error) {
	n, err := p.d.metrics.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: mt})
	if err != nil {
		return "", fmt.Errorf("metric name %q: %w", name, err)
	}
	return n, nil
}

// labels returns the point's labels: the base ones and its attributes.
func (p *point) labels(attrs []*commonpb.KeyValue, extra ...sample.Label) (sample.Labels, error) {
	ls := slices.Clone(p.base)
	for _, kv := range attrs {
		n, err := p.d.labels.Build(kv.GetKey())
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", kv.GetKey(), err)
		}
		ls = add(ls, n, anyString(kv.GetValue()))
	}
	return append(ls, extra...), nil
}

// add sets label n to v in ls; two attributes that translate to one name
// have their values joined with ";", as Prometheus does.
func add(ls sample.Labels, n, v string) sample.Labels {
	for i := range ls {
		if ls[i].Name == n {
			ls[i].Value += ";" + v
			return ls
		}
	}
	return append(ls, sample.Label{Name: n, Value: v})
}

func (p *point) number(name string, nameErr error, typ sample.Type, dp *metricspb.NumberDataPoint) {
	if dp.GetFlags()&flagNoRecordedValue != 0 {
		return
	}
	v := dp.GetAsDouble()
	if _, ok := dp.GetValue().(*metricspb.NumberDataPoint_AsInt); ok {
		v = float64(dp.GetAsInt())
	}
	s := sample.Sample{Name: name, Type: typ, Value: v, TimestampMs: ms(dp.GetTimeUnixNano())}
	ls, err := p.labels(dp.GetAttributes())
	if err = firstErr(nameErr, err); err != nil {
		s.Name = p.metric
		p.refuse(s, ReasonBadName, err)
		return
	}
	s.Labels = ls
	for _, ex := range dp.GetExemplars() {
		if tid, ok := trace(ex.GetTraceId()); ok {
			s.TraceID = tid
			break
		}
	}
	p.add(s)
}

func (p *point) histogram(name string, nameErr error, typ sample.Type, dp *metricspb.HistogramDataPoint) {
	if dp.GetFlags()&flagNoRecordedValue != 0 {
		return
	}
	ts := ms(dp.GetTimeUnixNano())
	ls, err := p.labels(dp.GetAttributes())
	if err = firstErr(nameErr, err); err != nil {
		p.refuse(sample.Sample{Name: p.metric, Type: typ, Value: float64(dp.GetCount()), TimestampMs: ts}, ReasonBadName, err)
		return
	}
	bounds, counts := dp.GetExplicitBounds(), dp.GetBucketCounts()
	if len(counts) != 0 && len(counts) != len(bounds)+1 {
		p.refuse(sample.Sample{Name: name, Labels: ls, Type: typ, Value: float64(dp.GetCount()), TimestampMs: ts}, sample.CodeBadField,
			fmt.Errorf("%d bucket counts for %d bounds, want one more", len(counts), len(bounds)))
		return
	}
	// Each exemplar's trace goes to the first bucket that holds its value.
	traces := make([]sample.TraceID, len(counts))
	for _, ex := range dp.GetExemplars() {
		tid, ok := trace(ex.GetTraceId())
		if !ok {
			continue
		}
		v := ex.GetAsDouble()
		if _, isInt := ex.GetValue().(*metricspb.Exemplar_AsInt); isInt {
			v = float64(ex.GetAsInt())
		}
		i, _ := slices.BinarySearch(bounds, v)
		if i < len(traces) && traces[i].IsZero() {
			traces[i] = tid
		}
	}
	var cum uint64 // a bucket le counts every value up to le (in a delta point, of the interval)
	for i, c := range counts {
		cum += c
		le := math.Inf(1)
		if i < len(bounds) {
			le = bounds[i]
		}
		bl := append(slices.Clone(ls), sample.Label{Name: "le", Value: formatLe(le)})
		p.add(sample.Sample{Name: name + "_bucket", Labels: bl, Type: typ, Value: float64(cum), TimestampMs: ts, TraceID: traces[i]})
	}
	p.add(sample.Sample{Name: name + "_count", Labels: ls, Type: typ, Value: float64(dp.GetCount()), TimestampMs: ts})
	if dp.Sum != nil {
		p.add(sample.Sample{Name: name + "_sum", Labels: ls, Type: typ, Value: dp.GetSum(), TimestampMs: ts})
	}
}

func (p *point) summary(name string, nameErr error, dp *metricspb.SummaryDataPoint) {
	if dp.GetFlags()&flagNoRecordedValue != 0 {
		return
	}
	ts := ms(dp.GetTimeUnixNano())
	ls, err := p.labels(dp.GetAttributes())
	if err = firstErr(nameErr, err); err != nil {
		p.refuse(sample.Sample{Name: p.metric, Type: sample.Gauge, TimestampMs: ts}, ReasonBadName, err)
		return
	}
	for _, q := range dp.GetQuantileValues() {
		ql := append(slices.Clone(ls), sample.Label{Name: "quantile", Value: strconv.FormatFloat(q.GetQuantile(), 'f', -1, 64)})
		p.add(sample.Sample{Name: name, Labels: ql, Type: sample.Gauge, Value: q.GetValue(), TimestampMs: ts})
	}
	p.add(sample.Sample{Name: name + "_count", Labels: ls, Type: sample.Cumulative, Value: float64(dp.GetCount()), TimestampMs: ts})
	p.add(sample.Sample{Name: name + "_sum", Labels: ls, Type: sample.Cumulative, Value: dp.GetSum(), TimestampMs: ts})
}

// add validates s and appends it, or refuses it.
func (p *point) add(s sample.Sample) {
	if err := ingest.Admit(&s, p.limits, p.nowMs); err != nil {
		p.refuse(s, ingest.Reason(err, sample.CodeBadField), err)
		return
	}
	p.dst = append(p.dst, s)
}

func (p *point) refuse(s sample.Sample, reason string, err error) {
	p.refused = append(p.refused, ingest.Refused{Sample: s, Series: seriesString(p.metric, s.Labels), Reason: reason, Err: err})
}

// resourceLabels returns job and instance, and the promoted attributes,
// of a resource.
func (d *Decoder) resourceLabels(attrs []*commonpb.KeyValue) sample.Labels {
	var ns, name, inst string
	var ls sample.Labels
	for _, kv := range attrs {
		switch kv.GetKey() {
		case "service.namespace":
			ns = anyString(kv.GetValue())
		case "service.name":
			name = anyString(kv.GetValue())
		case "service.instance.id":
			inst = anyString(kv.GetValue())
		default:
			if slices.Contains(d.promote, kv.GetKey()) {
				if n, err := d.labels.Build(kv.GetKey()); err == nil {
					ls = add(ls, n, anyString(kv.GetValue()))
				}
			}
		}
	}
	if name != "" {
		if ns != "" {
			name = ns + "/" + name
		}
		ls = append(ls, sample.Label{Name: "job", Value: name})
	}
	if inst != "" {
		ls = append(ls, sample.Label{Name: "instance", Value: inst})
	}
	return ls
}

// anyString renders an attribute value as Prometheus' translation does.
func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'f', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return fmt.Sprintf("%x", x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, len(x.ArrayValue.GetValues()))
		for i, e := range x.ArrayValue.GetValues() {
			parts[i] = strconv.Quote(anyString(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return ""
}

func trace(b []byte) (sample.TraceID, bool) {
	var t sample.TraceID
	if len(b) != len(t) {
		return t, false
	}
	copy(t[:], b)
	return t, !t.IsZero()
}

func ms(ns uint64) int64 { return int64(ns / 1e6) }

func formatLe(le float64) string {
	if math.IsInf(le, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(le, 'f', -1, 64)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// seriesString names a series for error messages.
func seriesString(name string, ls sample.Labels) string { return name + ls.String() }
