package sample

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchBatch returns n samples like a service fleet's, from a fixed seed:
// five labels each, and a trace ID on the timers.
func benchBatch(n int) []Sample {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"http_request_duration_seconds", "http_requests_total", "process_resident_memory_bytes", "queue_depth", "bytes_sent_total"}
	types := []Type{Timer, Counter, Gauge, Gauge, Cumulative}
	batch := make([]Sample, n)
	for i := range batch {
		k := rng.IntN(len(names))
		s := Sample{
			Name: names[k],
			Labels: Labels{
				{"pod", fmt.Sprintf("checkout-%05x", rng.IntN(1<<20))},
				{"region", []string{"eu-west-1", "us-east-1", "ap-south-1"}[rng.IntN(3)]},
				{"route", fmt.Sprintf("/api/v1/resource%d", rng.IntN(20))},
				{"service", fmt.Sprintf("service-%d", rng.IntN(10))},
				{"status", []string{"200", "404", "500"}[rng.IntN(3)]},
			},
			Type:        types[k],
			Value:       rng.ExpFloat64(),
			TimestampMs: 1763800000000 + int64(i),
		}
		if s.Type == Timer {
			for j := range s.TraceID {
				s.TraceID[j] = byte(rng.Uint32())
			}
		}
		batch[i] = s
	}
	return batch
}

// benchRuns returns n samples of n/per series like benchBatch's, each
// series' per samples together, as a producer that batches by series sends
// them.
func benchRuns(n, per int) []Sample {
	series := benchBatch(n / per)
	batch := make([]Sample, 0, n)
	for i, s := range series {
		for k := range per {
			s.Value, s.TimestampMs = float64(k), 1763800000000+int64(i*per+k)
			batch = append(batch, s)
		}
	}
	return batch
}

// BenchmarkDecodeRecord decodes one record of 500 samples, as protobuf and as
// JSON lines: 500 series, or 50 series of 10 samples each; protobuf in its
// Series form, as AppendProto writes it, and in its Sample form.
func BenchmarkDecodeRecord(b *testing.B) {
	const n = 500
	batch, runs := benchBatch(n), benchRuns(n, 10)
	var lines []byte
	for i := range batch {
		lines = append(AppendJSON(lines, &batch[i]), '\n')
	}
	for _, bc := range []struct {
		name   string
		format Format
		record []byte
	}{
		{"protobuf/series=500", FormatProto, AppendProto(nil, batch)},
		{"protobuf/series=50", FormatProto, AppendProto(nil, runs)},
		{"protobuf-sample-form/series=500", FormatProto, appendSampleForm(nil, batch)},
		{"protobuf-sample-form/series=50", FormatProto, appendSampleForm(nil, runs)},
		{"jsonlines/series=500", FormatJSON, lines},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.record)))
			b.ReportAllocs()
			dst := make([]Sample, 0, n)
			for b.Loop() {
				var err error
				if dst, err = DecodeRecord(bc.record, bc.format, dst[:0]); err != nil || len(dst) != n {
					b.Fatalf("got %d samples, %v; want %d", len(dst), err, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkDecodeRecordSamples decodes one record of 500 samples, as
// protobuf and as JSON lines, and holds them to DefaultLimits: a record of
// valid samples, and one whose sample 250 breaks the contract and 251 a
// limit.
func BenchmarkDecodeRecordSamples(b *testing.B) {
	const n, at = 500, 250
	batch := benchBatch(n)
	nowMs := batch[n-1].TimestampMs
	future := batch[at+1]
	future.TimestampMs += time.Hour.Milliseconds()
	invalid := append(batch[:at:at], Sample{Name: "bad-name", Type: Gauge, Value: 1, TimestampMs: nowMs}, future)
	invalid = append(invalid, batch[at+2:]...)
	lines := func(batch []Sample) []byte {
		var b []byte
		for i := range batch {
			b = append(AppendJSON(b, &batch[i]), '\n')
		}
		return b
	}
	for _, bc := range []struct {
		name     string
		format   Format
		record   []byte
		wantGood int
	}{
		{"protobuf", FormatProto, AppendProto(nil, batch), n},
		{"protobuf/two-bad", FormatProto, AppendProto(nil, invalid), n - 2},
		{"jsonlines", FormatJSON, lines(batch), n},
		{"jsonlines/two-bad", FormatJSON, lines(invalid), n - 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.record)))
			b.ReportAllocs()
			limits := DefaultLimits()
			good, bad := make([]Sample, 0, n), make([]BadSample, 0, 2)
			for b.Loop() {
				var err error
				if good, bad, err = DecodeRecordSamples(bc.record, bc.format, good[:0], bad[:0]); err != nil {
					b.Fatal(err)
				}
				if good, bad = limits.Filter(bc.record, bc.format, nowMs, good, bad); len(good) != bc.wantGood {
					b.Fatalf("got %d samples, %v; want %d", len(good), bad, bc.wantGood)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkAppendProto encodes one record of 500 samples.
func BenchmarkAppendProto(b *testing.B) {
	batch := benchBatch(500)
	buf := AppendProto(nil, batch)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendProto(buf[:0], batch)
	}
	b.ReportMetric(float64(len(batch)*b.N)/b.Elapsed().Seconds(), "samples/s")
}
