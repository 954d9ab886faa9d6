package remotewrite

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// richRequest is a request with a bit of everything the wire format of a
// WriteRequest carries.
func richRequest() *prompb.WriteRequest {
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	return &prompb.WriteRequest{
		Metadata: []prompb.MetricMetadata{
			{MetricFamilyName: "h", Type: prompb.MetricMetadata_HISTOGRAM, Help: "a histogram", Unit: "seconds"},
			{MetricFamilyName: "c", Type: prompb.MetricMetadata_COUNTER},
		},
		Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "h_bucket", "le", "1", "job", "api"),
				Samples:   []prompb.Sample{{Value: 1, Timestamp: now - 1000}, {Value: 2, Timestamp: now}},
				Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", trace), Value: 0.5, Timestamp: now - 900}}},
			{Labels: lbls("__name__", "c", "zone", "b", "az", "a"), Samples: []prompb.Sample{{Value: math.Inf(1), Timestamp: now}, {Value: math.Float64frombits(value.StaleNaN), Timestamp: now}}},
			{Labels: lbls("__name__", "n", "job", "x"), Histograms: []prompb.Histogram{
				{Count: &prompb.Histogram_CountInt{CountInt: 4}, Timestamp: now, Schema: 3, PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 2}}, PositiveDeltas: []int64{1, -1}},
				{Count: &prompb.Histogram_CountFloat{CountFloat: 2.5}, Timestamp: now - 1}}},
			{Labels: lbls("job", "nameless"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "e_bucket"), Exemplars: []prompb.Exemplar{{Labels: lbls("traceID", "00f067aa0ba902b7"), Timestamp: now}}},
			{Labels: lbls("__name__", "u", "é", "ü")},
		},
	}
}

// dumpRequest writes what r holds, every float by its bits.
func dumpRequest(r *writeRequest) string {
	var b strings.Builder
	for _, s := range r.series {
		fmt.Fprintf(&b, "series %q %q\n", s.name, r.labels[s.labels.from:s.labels.to])
		for _, p := range r.points[s.points.from:s.points.to] {
			fmt.Fprintf(&b, "  sample %x %d\n", math.Float64bits(p.value), p.ts)
		}
		for _, e := range r.exemplars[s.exemplars.from:s.exemplars.to] {
			fmt.Fprintf(&b, "  exemplar %q %x %d\n", r.exLabels[e.labels.from:e.labels.to], math.Float64bits(e.value), e.ts)
		}
		for _, h := range r.histograms[s.histograms.from:s.histograms.to] {
			fmt.Fprintf(&b, "  histogram %x %d\n", math.Float64bits(h.count), h.ts)
		}
	}
	for _, md := range r.metadata {
		fmt.Fprintf(&b, "metadata %d %q\n", md.typ, md.name)
	}
	return b.String()
}

// checkUnmarshal holds unmarshal of raw to prompb's: the same error, or
// the same content.
func checkUnmarshal(t *testing.T, raw []byte, got *writeRequest) {
	t.Helper()
	var want prompb.WriteRequest
	werr := want.Unmarshal(raw)
	gerr := got.unmarshal(raw)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("body %x: got error %v, want %v (prompb's)", raw, gerr, werr)
	}
	if werr != nil {
		return
	}
	var ref writeRequest
	ref.fromProto(&want)
	if g, w := dumpRequest(got), dumpRequest(&ref); g != w {
		t.Fatalf("body %x: got\n%s\nwant (prompb's)\n%s", raw, g, w)
	}
}

// tag appends the tag of field num of wire type typ, as a varint of
// tag<<3|typ with no check of num.
func tag(b []byte, num uint64, typ protowire.Type) []byte {
	return protowire.AppendVarint(b, num<<3|uint64(typ))
}

// wireCases are bodies at the edges of the wire format, named.
func wireCases(t testing.TB) map[string][]byte {
	rich, err := richRequest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	label := func(name, value string) []byte {
		b := protowire.AppendString(tag(nil, 1, protowire.BytesType), name)
		return protowire.AppendString(tag(b, 2, protowire.BytesType), value)
	}
	series := func(fields ...[]byte) []byte {
		return protowire.AppendBytes(tag(nil, 1, protowire.BytesType), slices.Concat(fields...))
	}
	field := func(num uint64, msg []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), msg)
	}
	smp := func(v float64, ts int64) []byte {
		b := protowire.AppendFixed64(tag(nil, 1, protowire.Fixed64Type), math.Float64bits(v))
		return protowire.AppendVarint(tag(b, 2, protowire.VarintType), uint64(ts))
	}
	name := field(1, label("__name__", "x"))
	tenBytes := func(low byte, last byte) []byte { // a varint of ten bytes
		return append([]byte{low | 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, last)
	}
	cases := map[string][]byte{
		"empty":                 {},
		"rich":                  rich,
		"empty series":          series(),
		"empty label":           series(field(1, nil)),
		"label twice":           series(field(1, slices.Concat(label("a", "1"), label("b", "2")))),
		"name twice":            series(name, field(1, label("__name__", "y")), field(2, smp(1, now))),
		"name as value first":   series(field(1, slices.Concat(tag(nil, 2, protowire.BytesType), []byte{1, 'x'}, tag(nil, 1, protowire.BytesType), []byte{8}, []byte("__name__")))),
		"sample fields reverse": series(name, field(2, protowire.AppendFixed64(tag(protowire.AppendVarint(tag(nil, 2, protowire.VarintType), 7), 1, protowire.Fixed64Type), 1))),
		"sample value twice":    series(name, field(2, slices.Concat(smp(1, 1), smp(2, 2)))),
		"sample value short":    series(name, field(2, []byte{0x09, 1, 2, 3})),
		"sample ts 10 bytes":    series(name, field(2, slices.Concat(tag(nil, 2, protowire.VarintType), tenBytes(5, 0x7f)))),
		"sample ts 11 bytes":    series(name, field(2, slices.Concat(tag(nil, 2, protowire.VarintType), tenBytes(5, 0x81), []byte{1}))),
		"sample ts truncated":   series(name, field(2, []byte{0x10, 0x80})),
		"length 10 bytes":       slices.Concat(tag(nil, 1, protowire.BytesType), tenBytes(2, 0x02), name),
		"length negative":       slices.Concat(tag(nil, 1, protowire.BytesType), tenBytes(2, 0x03), name),
		"length max int":        slices.Concat(tag(nil, 1, protowire.BytesType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}),
		"length past end":       slices.Concat(tag(nil, 1, protowire.BytesType), []byte{5, 0}),
		"string max int":        series(field(1, slices.Concat(tag(nil, 1, protowire.BytesType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}))),
		"tag 10 bytes":          slices.Concat(tenBytes(0x0a, 0x7e), []byte{0}),
		"tag 11 bytes":          slices.Concat(tenBytes(0x0a, 0x80), []byte{0}),
		"tag truncated":         {0x8a},
		"field 0":               {0x00, 0x00},
		"field 0 bytes":         {0x02, 0x00},
		"field 2^32+1":          slices.Concat(tag(nil, 1<<32|1, protowire.BytesType), []byte{0}),
		"field 2^31":            slices.Concat(tag(nil, 1<<31, protowire.VarintType), []byte{0}),
		"field max":             slices.Concat(tag(nil, 1<<61-1, protowire.VarintType), []byte{0}),
		"end group":             tag(nil, 7, protowire.EndGroupType),
		"unknown varint":        slices.Concat(tag(nil, 2, protowire.VarintType), []byte{0x80, 1}),
		"unknown fixed32":       slices.Concat(tag(nil, 9, protowire.Fixed32Type), []byte{1, 2, 3, 4}),
		"unknown fixed32 short": slices.Concat(tag(nil, 9, protowire.Fixed32Type), []byte{1, 2, 3}),
		"unknown fixed64":       slices.Concat(tag(nil, 9, protowire.Fixed64Type), []byte{1, 2, 3, 4, 5, 6, 7, 8}),
		"unknown fixed64 short": slices.Concat(tag(nil, 9, protowire.Fixed64Type), []byte{1, 2}),
		"unknown bytes":         field(4, []byte("hello")),
		"unknown bytes short":   slices.Concat(tag(nil, 4, protowire.BytesType), []byte{9, 1}),
		"unknown bytes negative": slices.Concat(tag(nil, 4, protowire.BytesType),
			[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),
		"unknown wire type 6": tag(nil, 9, 6),
		"unknown wire type 7": slices.Concat(tag(nil, 9, 7), []byte{0}),
		"group":               slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 1, protowire.VarintType), []byte{1}, tag(nil, 5, protowire.EndGroupType), name),
		"group nested":        slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 6, protowire.StartGroupType), field(1, []byte("x")), tag(nil, 6, protowire.EndGroupType), tag(nil, 9, protowire.EndGroupType)),
		"group other end":     slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 6, protowire.EndGroupType)),
		"group unclosed":      slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 1, protowire.VarintType), []byte{1}),
		"group field 0":       slices.Concat(tag(nil, 5, protowire.StartGroupType), []byte{0x00, 0x01}, tag(nil, 5, protowire.EndGroupType)),
		"group bytes past":    slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 1, protowire.BytesType), []byte{40}),
		"group fixed64 past":  slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 1, protowire.Fixed64Type), []byte{1}),
		"group wire type 6":   slices.Concat(tag(nil, 5, protowire.StartGroupType), tag(nil, 1, 6)),
		"group in series":     series(name, tag(nil, 8, protowire.StartGroupType), tag(nil, 8, protowire.EndGroupType), field(2, smp(3, now))),
		"group in label":      series(field(1, slices.Concat(tag(nil, 3, protowire.StartGroupType), tag(nil, 3, protowire.EndGroupType), label("a", "b")))),
		"group in sample":     series(name, field(2, slices.Concat(tag(nil, 3, protowire.StartGroupType), tag(nil, 3, protowire.EndGroupType), smp(3, now)))),
		"unknown in exemplar": series(name, field(3, slices.Concat(tag(nil, 9, protowire.VarintType), []byte{1}, field(1, label("trace_id", "x"))))),
		"unknown in metadata": field(3, slices.Concat(tag(nil, 3, protowire.VarintType), []byte{1}, field(2, []byte("fam")))),
		"metadata type big":   field(3, slices.Concat(tag(nil, 1, protowire.VarintType), protowire.AppendVarint(nil, 1<<40|1<<31|2))),
		"metadata empty":      field(3, nil),
		"histogram empty":     series(name, field(4, nil)),
		"histogram malformed": series(name, field(4, []byte{0xff})),
		"histogram bad wire":  series(name, field(4, slices.Concat(tag(nil, 1, protowire.Fixed64Type), []byte{1}))),
		"end group in series": series(tag(nil, 1, protowire.EndGroupType)),
		"end group in label":  series(field(1, tag(nil, 1, protowire.EndGroupType))),
		"field 0 in label":    series(field(1, []byte{0x00})),
		"invalid utf-8":       series(field(1, label("__name__", "\xff")), field(1, label("\xfe", "\xc0"))),
	}
	// A known field of another wire type, in each message.
	wrong := map[string][]byte{
		"WriteRequest.Timeseries": tag(nil, 1, protowire.VarintType),
		"WriteRequest.Metadata":   tag(nil, 3, protowire.Fixed32Type),
		"TimeSeries.Labels":       series(tag(nil, 1, protowire.VarintType)),
		"TimeSeries.Samples":      series(tag(nil, 2, protowire.Fixed64Type)),
		"TimeSeries.Exemplars":    series(tag(nil, 3, protowire.StartGroupType)),
		"TimeSeries.Histograms":   series(tag(nil, 4, protowire.VarintType)),
		"Label.Name":              series(field(1, tag(nil, 1, protowire.VarintType))),
		"Label.Value":             series(field(1, tag(nil, 2, protowire.Fixed32Type))),
		"Sample.Value":            series(field(2, tag(nil, 1, protowire.VarintType))),
		"Sample.Timestamp":        series(field(2, tag(nil, 2, protowire.BytesType))),
		"Exemplar.Labels":         series(field(3, tag(nil, 1, protowire.VarintType))),
		"Exemplar.Value":          series(field(3, tag(nil, 2, protowire.BytesType))),
		"Exemplar.Timestamp":      series(field(3, tag(nil, 3, protowire.Fixed64Type))),
		"MetricMetadata.Type":     field(3, tag(nil, 1, protowire.BytesType)),
		"MetricMetadata.Name":     field(3, tag(nil, 2, protowire.VarintType)),
		"MetricMetadata.Help":     field(3, tag(nil, 4, protowire.VarintType)),
		"MetricMetadata.Unit":     field(3, tag(nil, 5, protowire.Fixed64Type)),
	}
	for k, v := range wrong {
		cases["wrong wire type "+k] = append(v, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return cases
}

// TestUnmarshalAsPrompb: the wire decoder takes and refuses what prompb's
// generated one does, with the same error, and reads the same content.
func TestUnmarshalAsPrompb(t *testing.T) {
	cases := wireCases(t)
	var r writeRequest // reused, as the Handler does
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) { checkUnmarshal(t, raw, &r) })
	}
	// Every prefix of the rich request, and each of its bytes changed.
	rich := cases["rich"]
	for n := range rich {
		checkUnmarshal(t, rich[:n], &r)
	}
	for i := range rich {
		for _, c := range []byte{0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x7f, 0x80, 0xff, rich[i] ^ 0x80} {
			b := slices.Clone(rich)
			b[i] = c
			checkUnmarshal(t, b, &r)
		}
	}
}

// TestUnmarshalStrings: a request's strings are one allocation, the body
// made a string, and nothing of them stays in the request once reset.
func TestUnmarshalStrings(t *testing.T) {
	raw, err := richRequest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var r writeRequest
	if err := r.unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	noHistograms := richRequest()
	for i := range noHistograms.Timeseries {
		noHistograms.Timeseries[i].Histograms = nil
	}
	plain, err := noHistograms.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(10, func() { _ = r.unmarshal(plain) }); allocs != 1 {
		t.Errorf("got %v allocations a request, want 1 (the body made a string)", allocs)
	}
	for _, l := range slices.Concat(r.labels, r.exLabels) {
		if !strings.Contains(r.str, l.Name) || !strings.Contains(r.str, l.Value) {
			t.Errorf("label %v is not part of the body", l)
		}
	}
	r.reset()
	for _, l := range r.labels[:cap(r.labels)] {
		if l != (sample.Label{}) {
			t.Errorf("label %v stays after reset", l)
		}
	}
}

// TestTypesKeepNoBody: the family names the Types learn from a request
// are copies, not part of its body.
func TestTypesKeepNoBody(t *testing.T) {
	raw, err := richRequest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var r writeRequest
	if err := r.unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder()
	d.decode(&r, sample.DefaultLimits(), now, nil, nil, nil)
	body := uintptr(unsafe.Pointer(unsafe.StringData(r.str)))
	if len(d.types.families) != 2 {
		t.Fatalf("got %d families, want 2", len(d.types.families))
	}
	for name := range d.types.families {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(name))); p >= body && p < body+uintptr(len(r.str)) {
			t.Errorf("family %q is part of the body", name)
		}
	}
}

// compareDecoded holds what Decode gave to what the reference gave.
func compareDecoded(t *testing.T, what string, got []sample.Sample, gotRefused []ingest.Refused, want []sample.Sample, wantRefused []ingest.Refused) {
	t.Helper()
	str := func(s *sample.Sample) string {
		return fmt.Sprintf("%q%q %s %x@%d %s", s.Name, s.Labels, s.Type, math.Float64bits(s.Value), s.TimestampMs, s.TraceID)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d samples, want %d", what, len(got), len(want))
	}
	keys := map[sample.SeriesKey]string{} // one series per key
	for i := range got {
		if g, w := str(&got[i]), str(&want[i]); g != w {
			t.Errorf("%s: sample %d: got %s, want %s", what, i, g, w)
		}
		s := &got[i]
		if s.Key.Check == 0 || s.Key.ID != s.Labels.Hash(s.Name) {
			t.Errorf("%s: sample %d: key %+v, want its SeriesID %d and a check", what, i, s.Key, s.Labels.Hash(s.Name))
		}
		series := fmt.Sprintf("%q%q", s.Name, s.Labels)
		if other, ok := keys[s.Key]; ok && other != series {
			t.Errorf("%s: sample %d: %s has the key of %s", what, i, series, other)
		}
		keys[s.Key] = series
	}
	if len(gotRefused) != len(wantRefused) {
		t.Fatalf("%s: got %d refused %v, want %d %v", what, len(gotRefused), gotRefused, len(wantRefused), wantRefused)
	}
	for i := range gotRefused {
		g, w := &gotRefused[i], &wantRefused[i]
		if gs, ws := fmt.Sprintf("%s %s %v %s", g.Series, g.Reason, g.Err, str(&g.Sample)), fmt.Sprintf("%s %s %v %s", w.Series, w.Reason, w.Err, str(&w.Sample)); gs != ws {
			t.Errorf("%s: refused %d: got %s, want %s", what, i, gs, ws)
		}
	}
}

// checkHeads holds the heads decode gave with samples to their series: one
// per sample, each nil or the head of a Series of the sample's name and
// labels.
func checkHeads(t *testing.T, what string, samples []sample.Sample, heads [][]byte) {
	t.Helper()
	if len(heads) != len(samples) {
		t.Fatalf("%s: %d heads for %d samples", what, len(heads), len(samples))
	}
	for i := range samples {
		if heads[i] == nil {
			continue
		}
		s := samples[i]
		s.Key = sample.SeriesKey{}
		got, err := sample.DecodeRecord(sample.AppendSeries(nil, heads[i], []sample.Sample{s}), sample.FormatProto, nil)
		if err != nil || len(got) != 1 || got[0].Name != s.Name || !slices.Equal(got[0].Labels, s.Labels) {
			t.Errorf("%s: sample %d: head %x decodes to %v, %v; want %q%q", what, i, heads[i], got, err, s.Name, s.Labels)
		}
	}
}

// decodeLimits are limits that samples of fuzzed requests break now and
// then, and the defaults.
var decodeLimits = []sample.Limits{
	sample.DefaultLimits(),
	{MaxLabels: 2, MaxNameLength: 8, MaxLabelValueLength: 4, MaxFuture: time.Second, MaxPast: time.Minute},
}

// checkDecode decodes raw as the Handler does (the wire decoder, the
// buffers reused) and as the Decoder did before (prompb, the reference),
// twice, so that exemplars that wait find the next request; all must
// agree.
func checkDecode(t *testing.T, raw []byte) {
	t.Helper()
	var want prompb.WriteRequest
	if err := want.Unmarshal(raw); err != nil {
		return
	}
	var r writeRequest
	if err := r.unmarshal(raw); err != nil {
		t.Fatalf("body %x: %v, which prompb takes", raw, err)
	}
	for k, limits := range decodeLimits {
		d, ref := NewDecoder(), newReferenceDecoder()
		for n := range 2 {
			var dst []sample.Sample
			if n > 0 {
				dst = make([]sample.Sample, 0, r.samples()) // reused buffers
			}
			var heads [][]byte
			got, gotRefused := d.decode(&r, limits, now, dst, &heads, nil)
			wantS, wantRefused := ref.Decode(&want, limits, now, nil, nil)
			what := fmt.Sprintf("body %x, limits %d, request %d", raw, k, n)
			compareDecoded(t, what, got, gotRefused, wantS, wantRefused)
			checkHeads(t, what, got, heads)
			// The prompb path of Decode too.
			got, gotRefused = NewDecoder().Decode(&want, limits, now, nil, nil)
			wantS, wantRefused = newReferenceDecoder().Decode(&want, limits, now, nil, nil)
			compareDecoded(t, fmt.Sprintf("body %x, limits %d, prompb", raw, k), got, gotRefused, wantS, wantRefused)
		}
	}
}

// decodeCases are requests that reach every branch of Decode.
func decodeCases() map[string]*prompb.WriteRequest {
	a, b := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b74bf92f3577b34da6"
	nan := math.Float64frombits(value.StaleNaN)
	return map[string]*prompb.WriteRequest{
		"rich": richRequest(),
		"unsorted": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("zone", "a", "__name__", "x_total", "app", "b"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}, {Value: 2, Timestamp: now + time.Hour.Milliseconds()}},
				Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 1}, Timestamp: now}}},
			{Labels: lbls("zone", "a", "__name__", "x_total", "app", "b"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", a), Timestamp: now}}},
		}},
		"before the epoch": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "x", "a", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: -1}, {Value: 2, Timestamp: 0}}},
		}},
		"unsorted, repeated": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "x", "b", "1", "a", "2", "b", "3"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}, {Value: 2, Timestamp: now}},
				Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountFloat{CountFloat: 1}, Timestamp: now}}},
		}},
		"histogram, all stale": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "x", "b", "1", "a", "2"), Samples: []prompb.Sample{{Value: nan, Timestamp: now}},
				Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountFloat{CountFloat: 1}, Timestamp: now}}},
		}},
		"bad names": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "1x", "a", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}, {Value: 2, Timestamp: now}}},
			{Labels: lbls("__name__", "x", "b", "\xff", "a-b", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "", "a", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}, Histograms: []prompb.Histogram{{Timestamp: now}}},
			{Labels: lbls("__name__", "x", "__name__", "y"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
		}},
		"limits": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "x", "a", "1", "b", "2", "c", "3"), Samples: []prompb.Sample{{Value: math.NaN(), Timestamp: now}, {Value: 1, Timestamp: now}, {Value: math.Inf(-1), Timestamp: now}}},
			{Labels: lbls("__name__", "long_metric_name", "a", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "x", "long_label_name", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "x", "a", "long value"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "x", "a", "1"), Samples: []prompb.Sample{
				{Value: 1, Timestamp: now - time.Hour.Milliseconds()}, {Value: 1, Timestamp: now + 1001}, {Value: 1, Timestamp: now + 5001},
				{Value: 1, Timestamp: math.MaxInt64}, {Value: 1, Timestamp: math.MinInt64}, {Value: math.Inf(1), Timestamp: math.MaxInt64}}},
		}},
		"exemplars": {Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "x", "a", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now - 2000}, {Value: 2, Timestamp: now - 1000}}},
			{Labels: lbls("__name__", "x", "a", "1"), Samples: []prompb.Sample{{Value: 3, Timestamp: now}},
				Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", a), Timestamp: now - 1900}, {Labels: lbls("traceId", b), Timestamp: now - 100}, {Labels: lbls("trace_id", "zz"), Timestamp: now}}},
			{Labels: lbls("a", "1", "__name__", "x"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace.id", a), Timestamp: now}}},
			{Labels: lbls("__name__", "x", "a", "2"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", b), Timestamp: now}}},
			{Labels: lbls("__name__", "x", "a", "1"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", b), Timestamp: now}, {Labels: lbls("trace_id", a), Timestamp: now}}},
			{Labels: lbls("__name__", "y"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "y"), Exemplars: []prompb.Exemplar{{Labels: lbls("trace_id", a), Timestamp: now - maxExemplarWait - 1}}},
		}},
		"types": {Metadata: []prompb.MetricMetadata{
			{MetricFamilyName: "s", Type: prompb.MetricMetadata_SUMMARY}, {MetricFamilyName: "g", Type: prompb.MetricMetadata_GAUGE},
			{MetricFamilyName: "c", Type: prompb.MetricMetadata_COUNTER}, {MetricFamilyName: "c", Type: prompb.MetricMetadata_GAUGE},
		}, Timeseries: []prompb.TimeSeries{
			{Labels: lbls("__name__", "s"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "s_sum"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "s_count"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "g"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "c"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "c_total"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "s"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
			{Labels: lbls("__name__", "z_bucket"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
		}},
	}
}

// TestDecodeAsBefore: the Decoder gives the samples and refusals it gave
// before it read the wire format itself, whichever path it takes.
func TestDecodeAsBefore(t *testing.T) {
	for name, req := range decodeCases() {
		t.Run(name, func(t *testing.T) {
			raw, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			checkDecode(t, raw)
		})
	}
}

// FuzzUnmarshal: the wire decoder takes and refuses every body as prompb's
// generated decoder does, with the same error or the same content, and
// Decode makes of it what it made of prompb's request before.
func FuzzUnmarshal(f *testing.F) {
	for _, raw := range wireCases(f) {
		f.Add(raw)
	}
	for _, req := range decodeCases() {
		raw, err := req.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r writeRequest
		checkUnmarshal(t, raw, &r)
		checkDecode(t, raw)
	})
}
