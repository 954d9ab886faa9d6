package sample

import (
	"math"
	"strings"
	"testing"
	"time"
)

// limitNow is the time of the limit cases, in milliseconds since the epoch.
const limitNow = 1763800000000

// limitSample returns a sample that DefaultLimits accepts at limitNow,
// changed by edit.
func limitSample(edit func(*Sample)) Sample {
	s := Sample{Name: "m", Labels: Labels{{"a", "1"}}, Type: Gauge, Value: 1, TimestampMs: limitNow}
	edit(&s)
	return s
}

// limitErrorCases are checked with limits: the Limits is in in's place, as
// the sample, by limitCheck.
var limitErrorCases = []struct {
	errorCase
	limits Limits
	sample Sample
}{
	{errorCase{name: "NaN", code: CodeValueNotFinite, index: -1, field: "value", why: "NaN is not a finite number"},
		Limits{}, limitSample(func(s *Sample) { s.Value = math.NaN() })},
	{errorCase{name: "+Inf", code: CodeValueNotFinite, index: -1, field: "value", why: "+Inf is not a finite number"},
		DefaultLimits(), limitSample(func(s *Sample) { s.Value = math.Inf(1) })},
	{errorCase{name: "65 labels", code: CodeTooManyLabels, index: -1, field: "labels", why: "65 labels, more than the limit of 64"},
		DefaultLimits(), limitSample(func(s *Sample) { s.Labels = make(Labels, 65) })},
	{errorCase{name: "long name", code: CodeNameTooLong, index: -1, field: "name", why: `"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"... is 257 bytes long, more than the limit of 256`},
		DefaultLimits(), limitSample(func(s *Sample) { s.Name = strings.Repeat("m", 257) })},
	{errorCase{name: "long label name", code: CodeNameTooLong, index: -1, field: "labels", why: "label name \"bbbbb\" is 5 bytes long, more than the limit of 4"},
		Limits{MaxNameLength: 4}, limitSample(func(s *Sample) { s.Labels = Labels{{"a", "1"}, {"bbbbb", "2"}} })},
	{errorCase{name: "long label value", code: CodeLabelTooLong, index: -1, field: "labels", why: "the value of label \"a\" is 1025 bytes long, more than the limit of 1024"},
		DefaultLimits(), limitSample(func(s *Sample) { s.Labels = Labels{{"a", strings.Repeat("v", 1025)}} })},
	{errorCase{name: "in the future", code: CodeTimestampInFuture, index: -1, field: "timestamp_ms", why: "is 5.001s ahead of now (1763800000000), more than the limit of 5s"},
		DefaultLimits(), limitSample(func(s *Sample) { s.TimestampMs = limitNow + 5001 })},
	{errorCase{name: "far in the future", code: CodeTimestampInFuture, index: -1, field: "timestamp_ms", why: "ahead of now"},
		DefaultLimits(), limitSample(func(s *Sample) { s.TimestampMs = math.MaxInt64 })},
	{errorCase{name: "too old", code: CodeTimestampTooOld, index: -1, field: "timestamp_ms", why: "is 1h0m0.001s before now (1763800000000), more than the limit of 1h0m0s"},
		Limits{MaxPast: time.Hour}, limitSample(func(s *Sample) { s.TimestampMs = limitNow - 3600001 })},
	{errorCase{name: "before the epoch", code: CodeTimestampTooOld, index: -1, field: "timestamp_ms", why: "before now"},
		Limits{MaxPast: time.Hour}, limitSample(func(s *Sample) { s.TimestampMs = math.MinInt64 })},
}

func TestLimitsCheck(t *testing.T) {
	for _, tc := range limitErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			checkError(t, tc.limits.Check(&tc.sample, limitNow), tc.errorCase)
			tc.index = 2
			ok := limitSample(func(*Sample) {})
			checkError(t, tc.limits.CheckAll([]Sample{ok, ok, tc.sample, ok}, limitNow), tc.errorCase)
		})
	}
	for _, tc := range []struct {
		name   string
		limits Limits
		sample Sample
	}{
		{"at every default limit", DefaultLimits(), limitSample(func(s *Sample) {
			s.Name = strings.Repeat("m", 256)
			s.Labels = make(Labels, 64)
			s.Labels[0] = Label{strings.Repeat("n", 256), strings.Repeat("v", 1024)}
			s.TimestampMs = limitNow + 5000
		})},
		{"no age limit by default", DefaultLimits(), limitSample(func(s *Sample) { s.TimestampMs = 0 })},
		{"at the age limit", Limits{MaxPast: time.Hour}, limitSample(func(s *Sample) { s.TimestampMs = limitNow - 3600000 })},
		{"no limits", Limits{}, limitSample(func(s *Sample) {
			s.Name = strings.Repeat("m", 1e5)
			s.Labels = make(Labels, 1000)
			s.TimestampMs = math.MaxInt64
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.limits.Check(&tc.sample, limitNow); err != nil {
				t.Errorf("got %v, want no error", err)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Errorf("default limits: got %v, want no error", err)
	}
	for _, tc := range []struct {
		limits Limits
		want   string
	}{
		{Limits{MaxLabels: -1}, "sample limits: MaxLabels is -1, want 0 (no limit) or more"},
		{Limits{MaxNameLength: -1}, "MaxNameLength is -1"},
		{Limits{MaxLabelValueLength: -2}, "MaxLabelValueLength is -2"},
		{Limits{MaxFuture: -time.Second}, "MaxFuture is -1s"},
		{Limits{MaxPast: -time.Minute}, "MaxPast is -1m0s"},
	} {
		err := tc.limits.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.limits, err, tc.want)
		}
	}
}

// TestFilterKeepsPositions: Filter refuses the samples that break a limit
// at their positions in the record, among those that did not decode, in
// every form of record.
func TestFilterKeepsPositions(t *testing.T) {
	old := Sample{Name: "m", Type: Gauge, Value: 1, TimestampMs: 1}
	long := Sample{Name: "m", Labels: Labels{{"a", "12345"}}, Type: Gauge, Value: 1, TimestampMs: fuzzNow}
	ok := Sample{Name: "m", Type: Gauge, Value: 1, TimestampMs: fuzzNow}
	lines := string(AppendJSON(nil, &old)) + "\n" + jsonBad + "\n" + string(AppendJSON(nil, &ok)) + "\n" + string(AppendJSON(nil, &long))
	for _, tc := range []struct {
		format Format
		in     []byte
	}{
		{FormatJSON, []byte(lines)},
		{FormatJSON, []byte("[" + strings.ReplaceAll(lines, "\n", ",") + "]")},
		{FormatProto, append(append(AppendProto(nil, []Sample{old}), pbField(pbBad)...), AppendProto(nil, []Sample{ok, long})...)},
	} {
		good, bad, err := checkRecordSamples(t, tc.in, tc.format)
		if err != nil || len(good) != 3 || len(bad) != 1 {
			t.Fatalf("got %d samples, %d bad, %v; want 3 and 1", len(good), len(bad), err)
		}
		checkFilter(t, tc.in, tc.format, good, bad)
		kept, bad := fuzzLimits.Filter(tc.in, tc.format, fuzzNow, good, bad)
		if len(kept) != 1 || len(bad) != 3 || bad[0].Index != 0 || bad[1].Index != 1 || bad[2].Index != 3 {
			t.Errorf("%s: got %d kept and bad samples %v, want 1 kept and samples 0, 1 and 3 bad", tc.format, len(kept), bad)
		}
	}
}

// TestFilterValidRecord: Filter of a record whose samples all keep within
// the limits keeps them all, in place, and allocates nothing.
func TestFilterValidRecord(t *testing.T) {
	batch := benchBatch(100)
	rec := AppendProto(nil, batch)
	good, bad, err := DecodeRecordSamples(rec, FormatProto, nil, make([]BadSample, 0, 1))
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	nowMs := batch[len(batch)-1].TimestampMs
	kept, bad := DefaultLimits().Filter(rec, FormatProto, nowMs, good, bad)
	if len(kept) != len(batch) || &kept[0] != &good[0] || len(bad) != 0 {
		t.Fatalf("got %d samples kept and %v, want all %d in place", len(kept), bad, len(batch))
	}
	if allocs := testing.AllocsPerRun(100, func() { DefaultLimits().Filter(rec, FormatProto, nowMs, good, bad) }); allocs != 0 {
		t.Errorf("got %v allocations, want 0", allocs)
	}
}
