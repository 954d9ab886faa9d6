package router

import (
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// testRules keeps gauges and drops debug_* metrics.
const testRules = `
mappingRules:
  - name: gauges
    filter: "__name__:!debug_* __m3_type__:gauge"
    aggregations: [Last, Max]
    storagePolicies:
      - resolution: 10s
        retention: 2d
  - name: drop debug
    filter: "__name__:debug_*"
    drop: true
`

const testNowMs = 1763800000000

func testRouter(t *testing.T, shards int) *Router {
	t.Helper()
	rs, err := rules.Parse("test.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(rs, shards, sample.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gauges returns n gauge samples named name, at ts.
func gauges(name string, n int, ts int64) []sample.Sample {
	ss := make([]sample.Sample, n)
	for i := range ss {
		ss[i] = sample.Sample{Name: name, Labels: sample.FromMap(map[string]string{"i": string(rune('a' + i))}),
			Type: sample.Gauge, Value: float64(i), TimestampMs: ts}
	}
	return ss
}

func jsonLines(ss []sample.Sample) []byte {
	var b []byte
	for i := range ss {
		b = append(sample.AppendJSON(b, &ss[i]), '\n')
	}
	return b
}

// rawRecord is a raw record as Route takes it.
type rawRecord struct {
	topic  string
	value  []byte
	format sample.Format
}

// TestRouteAccounting routes raw records and checks what Route counts:
// the samples in by topic and the format each record decoded as, the
// samples dropped and the dead letters by reason.
func TestRouteAccounting(t *testing.T) {
	g := gauges("mem_bytes", 3, testNowMs-1000)
	for _, tc := range []struct {
		name        string
		in          []rawRecord
		samplesIn   map[TopicFormat]uint64
		dropped     uint64
		deadLetters map[string]uint64
	}{
		{
			name:      "JSON by content type",
			in:        []rawRecord{{"raw", jsonLines(g[:2]), sample.FormatJSON}},
			samplesIn: map[TopicFormat]uint64{{"raw", sample.FormatJSON}: 2},
		},
		{
			name:      "protobuf by content type",
			in:        []rawRecord{{"raw", sample.AppendProto(nil, g), sample.FormatProto}},
			samplesIn: map[TopicFormat]uint64{{"raw", sample.FormatProto}: 3},
		},
		{
			name: "formats told by the first byte",
			in: []rawRecord{
				{"raw", sample.AppendJSON(nil, &g[0]), sample.FormatAuto},
				{"raw", append([]byte(" \t\r"), jsonLines(g)...), sample.FormatAuto},
				{"raw", append([]byte("["), append(sample.AppendJSON(nil, &g[0]), ']')...), sample.FormatAuto},
				{"raw", sample.AppendProto(nil, g[:2]), sample.FormatAuto},
			},
			samplesIn: map[TopicFormat]uint64{{"raw", sample.FormatJSON}: 5, {"raw", sample.FormatProto}: 2},
		},
		{
			name: "per topic",
			in: []rawRecord{
				{"raw-a", jsonLines(g), sample.FormatJSON},
				{"raw-b", jsonLines(g[:1]), sample.FormatAuto},
				{"raw-b", sample.AppendProto(nil, g[:2]), sample.FormatAuto},
				{"raw-a", sample.AppendProto(nil, g), sample.FormatProto},
			},
			samplesIn: map[TopicFormat]uint64{
				{"raw-a", sample.FormatJSON}: 3, {"raw-a", sample.FormatProto}: 3,
				{"raw-b", sample.FormatJSON}: 1, {"raw-b", sample.FormatProto}: 2,
			},
		},
		{
			name:      "samples no rule keeps are in, and dropped",
			in:        []rawRecord{{"raw", jsonLines(append(gauges("debug_x", 2, testNowMs), g[0])), sample.FormatJSON}},
			samplesIn: map[TopicFormat]uint64{{"raw", sample.FormatJSON}: 3},
			dropped:   2,
		},
		{
			name: "dead letters are not in",
			in: []rawRecord{
				{"raw", []byte(`{"name":"x","value":1}`), sample.FormatAuto},
				{"raw", []byte("\x0a\x05garbage"), sample.FormatAuto},
				{"raw", jsonLines(g), sample.ParseFormat("text/plain")},
				{"raw", jsonLines(gauges("mem_bytes", 1, testNowMs+3600_000)), sample.FormatJSON},
				// JSON after a newline is protobuf to the first byte.
				{"raw", append([]byte("\n"), jsonLines(g)...), sample.FormatAuto},
				{"raw", nil, sample.FormatAuto},
				{"raw", jsonLines(g[:1]), sample.FormatJSON},
			},
			samplesIn: map[TopicFormat]uint64{{"raw", sample.FormatJSON}: 1},
			deadLetters: map[string]uint64{
				sample.CodeBadField: 3, sample.CodeUnsupportedFormat: 1,
				sample.CodeTimestampInFuture: 1, sample.CodeEmptyRecord: 1,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRouter(t, 4)
			var out []Output
			for _, rec := range tc.in {
				out, _ = r.Route(rec.topic, rec.value, rec.format, testNowMs, out[:0])
			}
			st := r.Stats()
			if st.Records != uint64(len(tc.in)) {
				t.Errorf("records: got %d, want %d", st.Records, len(tc.in))
			}
			if !maps.Equal(st.SamplesIn, tc.samplesIn) {
				t.Errorf("samples in: got %v, want %v", st.SamplesIn, tc.samplesIn)
			}
			if st.Dropped != tc.dropped {
				t.Errorf("dropped: got %d, want %d", st.Dropped, tc.dropped)
			}
			if !maps.Equal(st.DeadLetters, tc.deadLetters) {
				t.Errorf("dead letters: got %v, want %v", st.DeadLetters, tc.deadLetters)
			}
			if len(st.RecordsOut)+len(st.SamplesOut)+len(st.Lag) != 0 {
				t.Errorf("Route counted what Run counts: %+v", st)
			}
		})
	}
}

// TestFormatOf requires Format.Of, which names the format the router counts
// a record's samples under, to name the format DecodeRecord decodes in:
// given FormatAuto, DecodeRecord must decode every value alike in the
// format Of names.
func TestFormatOf(t *testing.T) {
	g := gauges("mem_bytes", 2, testNowMs)
	for _, tc := range []struct {
		name  string
		value []byte
		want  sample.Format
	}{
		{"object", sample.AppendJSON(nil, &g[0]), sample.FormatJSON},
		{"array", []byte(`[` + string(sample.AppendJSON(nil, &g[0])) + `]`), sample.FormatJSON},
		{"lines after a space", append([]byte(" "), jsonLines(g)...), sample.FormatJSON},
		{"after a tab", append([]byte("\t"), jsonLines(g)...), sample.FormatJSON},
		{"after a carriage return", append([]byte("\r\n"), jsonLines(g)...), sample.FormatJSON},
		{"after a newline", append([]byte("\n"), jsonLines(g)...), sample.FormatProto},
		{"batch", sample.AppendProto(nil, g), sample.FormatProto},
		{"garbage", []byte("x1"), sample.FormatProto},
		{"empty", nil, sample.FormatProto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sample.FormatAuto.Of(tc.value)
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			auto, autoErr := sample.DecodeRecord(tc.value, sample.FormatAuto, nil)
			named, namedErr := sample.DecodeRecord(tc.value, got, nil)
			if !reflect.DeepEqual(auto, named) || errorCode(autoErr) != errorCode(namedErr) {
				t.Errorf("decoded as %v: got %v, %v; as auto: %v, %v", got, named, namedErr, auto, autoErr)
			}
		})
	}
	for _, f := range []sample.Format{sample.FormatJSON, sample.FormatProto, sample.FormatUnsupported} {
		if got := f.Of([]byte("{")); got != f {
			t.Errorf("%v given: got %v", f, got)
		}
	}
}

func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var de *sample.DecodeError
	if errors.As(err, &de) {
		return de.Code()
	}
	return err.Error()
}

// fetch is a fetch of the partitions ps of topic.
func fetch(topic string, ps ...kgo.FetchPartition) kgo.Fetches {
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic, Partitions: ps}}}}
}

func offsets(topic string, next map[int32]int64) map[string]map[int32]kgo.EpochOffset {
	m := map[int32]kgo.EpochOffset{}
	for p, o := range next {
		m[p] = kgo.EpochOffset{Epoch: 1, Offset: o}
	}
	return map[string]map[int32]kgo.EpochOffset{topic: m}
}

// TestHighWatermarksLag follows the high watermarks of fetches and the
// session's positions into the consumer lag.
func TestHighWatermarksLag(t *testing.T) {
	rec := func(off int64) *kgo.Record { return &kgo.Record{Topic: "raw", Offset: off} }
	for _, tc := range []struct {
		name    string
		fetches []kgo.Fetches
		next    map[string]map[int32]kgo.EpochOffset
		want    map[TopicPartition]int64
		kept    []TopicPartition // the partitions hw keeps
	}{
		{
			name:    "caught up",
			fetches: []kgo.Fetches{fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 10, Records: []*kgo.Record{rec(9)}})},
			next:    offsets("raw", map[int32]int64{0: 10}),
			want:    map[TopicPartition]int64{{"raw", 0}: 0},
			kept:    []TopicPartition{{"raw", 0}},
		},
		{
			name: "behind, per partition",
			fetches: []kgo.Fetches{fetch("raw",
				kgo.FetchPartition{Partition: 0, HighWatermark: 10, Records: []*kgo.Record{rec(3)}},
				kgo.FetchPartition{Partition: 1, HighWatermark: 7})},
			next: offsets("raw", map[int32]int64{0: 4, 1: 2}),
			want: map[TopicPartition]int64{{"raw", 0}: 6, {"raw", 1}: 5},
			kept: []TopicPartition{{"raw", 0}, {"raw", 1}},
		},
		{
			name: "the last fetch's watermark",
			fetches: []kgo.Fetches{
				fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 10}),
				fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 15}),
			},
			next: offsets("raw", map[int32]int64{0: 11}),
			want: map[TopicPartition]int64{{"raw", 0}: 4},
			kept: []TopicPartition{{"raw", 0}},
		},
		{
			name: "a failed fetch tells no watermark",
			fetches: []kgo.Fetches{
				fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 10}),
				fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: -1, Err: errors.New("broken")}),
				fetch("raw", kgo.FetchPartition{Partition: 1, HighWatermark: 8, Err: errors.New("broken")}),
			},
			next: offsets("raw", map[int32]int64{0: 6, 1: 0}),
			want: map[TopicPartition]int64{{"raw", 0}: 4},
			kept: []TopicPartition{{"raw", 0}},
		},
		{
			name:    "a watermark behind the position",
			fetches: []kgo.Fetches{fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 5})},
			next:    offsets("raw", map[int32]int64{0: 7}),
			want:    map[TopicPartition]int64{{"raw", 0}: 0},
			kept:    []TopicPartition{{"raw", 0}},
		},
		{
			name: "revoked partitions leave",
			fetches: []kgo.Fetches{fetch("raw",
				kgo.FetchPartition{Partition: 0, HighWatermark: 10},
				kgo.FetchPartition{Partition: 1, HighWatermark: 10},
				kgo.FetchPartition{Partition: 2, HighWatermark: 10})},
			next: offsets("raw", map[int32]int64{1: 9}),
			want: map[TopicPartition]int64{{"raw", 1}: 1},
			kept: []TopicPartition{{"raw", 1}},
		},
		{
			name: "all revoked",
			fetches: []kgo.Fetches{fetch("raw",
				kgo.FetchPartition{Partition: 0, HighWatermark: 10},
				kgo.FetchPartition{Partition: 1, HighWatermark: 10})},
			want: map[TopicPartition]int64{},
		},
		{
			name:    "a position with no watermark yet",
			fetches: []kgo.Fetches{fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 3})},
			next:    offsets("raw", map[int32]int64{0: 3, 1: 40}),
			want:    map[TopicPartition]int64{{"raw", 0}: 0},
			kept:    []TopicPartition{{"raw", 0}},
		},
		{
			name:    "another topic's position",
			fetches: []kgo.Fetches{fetch("raw", kgo.FetchPartition{Partition: 0, HighWatermark: 3})},
			next:    offsets("raw-b", map[int32]int64{0: 1}),
			want:    map[TopicPartition]int64{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hw := highWatermarks{}
			for _, fs := range tc.fetches {
				hw.fetched(fs)
			}
			// A previous lag in dst is replaced, not added to.
			dst := map[TopicPartition]int64{{"old", 0}: 1}
			got := hw.lag(tc.next, dst)
			if !maps.Equal(got, tc.want) {
				t.Errorf("lag: got %v, want %v", got, tc.want)
			}
			kept := map[TopicPartition]bool{}
			for _, tp := range tc.kept {
				kept[tp] = true
			}
			if len(hw) != len(kept) {
				t.Errorf("watermarks kept: got %v, want those of %v", hw, tc.kept)
			}
			for tp := range hw {
				if !kept[tp] {
					t.Errorf("watermarks kept: got %v, want those of %v", hw, tc.kept)
				}
			}
		})
	}
}
