package remotewrite

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// benchSeries returns the labels of a fleet's 100,000 series of
// http_request_duration_seconds, sorted by name as Prometheus sends them:
// 20 services of 100 pods each, 50 routes, and env, method, region,
// version and zone; in a fixed shuffled order, as Prometheus' shards mix
// the series of its targets.
func benchSeries() [][]prompb.Label {
	regions := []string{"eu-west-1", "us-east-1", "ap-south-1"}
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	var all [][]prompb.Label
	for s := range 20 {
		service := fmt.Sprintf("service-%02d", s)
		region := regions[s%len(regions)]
		for p := range 100 {
			pod := fmt.Sprintf("%s-%08x-%05x", service, uint32(s*7919+p*104729), p*31337%(1<<20))
			for r := range 50 {
				all = append(all, lbls(
					"__name__", "http_request_duration_seconds",
					"env", "production",
					"method", methods[r%len(methods)],
					"pod", pod,
					"region", region,
					"route", fmt.Sprintf("/api/v1/resource%02d/items", r),
					"service", service,
					"version", fmt.Sprintf("v1.%d.0", s%5),
					"zone", region+string(rune('a'+p%3)),
				))
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all
}

// benchBodies returns the snappy-compressed WriteRequests that carry
// every series of all, perSeries samples each, in requests of
// seriesPerReq series.
func benchBodies(tb testing.TB, all [][]prompb.Label, seriesPerReq, perSeries int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var bodies [][]byte
	for from := 0; from < len(all); from += seriesPerReq {
		var req prompb.WriteRequest
		for _, ls := range all[from:min(from+seriesPerReq, len(all))] {
			ts := prompb.TimeSeries{Labels: ls}
			for k := range perSeries {
				ts.Samples = append(ts.Samples, prompb.Sample{Value: rng.ExpFloat64(), Timestamp: now - int64(perSeries-k)*15_000})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		b, err := req.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, snappy.Encode(nil, b))
	}
	return bodies
}

// BenchmarkDecode decodes remote-write requests of 2,000 samples into the
// samples a Handler gives its Writer, as serve does, without Kafka: the
// series of benchSeries one sample each per request (a live scrape), or
// 200 series of 10 samples each per request (a queue catching up).
func BenchmarkDecode(b *testing.B) {
	all := benchSeries()
	modes := []struct {
		name                    string
		seriesPerReq, perSeries int
		bodies                  [][]byte
	}{
		{name: "alone", seriesPerReq: 2000, perSeries: 1},
		{name: "together", seriesPerReq: 200, perSeries: 10},
	}
	for i := range modes {
		modes[i].bodies = benchBodies(b, all, modes[i].seriesPerReq, modes[i].perSeries)
	}
	all = nil
	runtime.GC() // the series are the benchmark's, not the heap of a Handler
	w, err := ingest.NewWriter(ingest.WriterOptions{Topic: "raw", DeadLetterTopic: "dead", ID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range modes {
		b.Run(bc.name, func(b *testing.B) {
			bodies := bc.bodies
			h, err := NewHandler(Options{Writer: w, Samples: sample.DefaultLimits(),
				Now: func() time.Time { return time.UnixMilli(now) }})
			if err != nil {
				b.Fatal(err)
			}
			// The metadata Prometheus sends apart, every minute.
			md := []prompb.MetricMetadata{{MetricFamilyName: "http_request_duration_seconds", Type: prompb.MetricMetadata_GAUGE}}
			for i := range 200 {
				md = append(md, prompb.MetricMetadata{MetricFamilyName: fmt.Sprintf("family_%d", i), Type: prompb.MetricMetadata_COUNTER})
			}
			h.dec.Types().Learn(md)
			perReq := bc.seriesPerReq * bc.perSeries
			size := 0
			for _, body := range bodies {
				dec, err := h.decodeRequest(body, false)
				if err != nil {
					b.Fatal(err)
				}
				if len(dec.samples) != perReq || len(dec.refused) != 0 {
					b.Fatalf("got %d samples and %d refused, want %d samples", len(dec.samples), len(dec.refused), perReq)
				}
				dec.release()
				size += len(body)
			}
			b.SetBytes(int64(size / len(bodies)))
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				dec, err := h.decodeRequest(bodies[i%len(bodies)], false)
				if err != nil {
					b.Fatal(err)
				}
				dec.release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perReq), "ns/sample")
			// The CPU the process spent, the garbage collector's on other
			// cores too: what a node's cores give the gateway.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*perReq), "cpu-ns/sample")
		})
	}
}

// cpuTime is the CPU time the process has spent, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
