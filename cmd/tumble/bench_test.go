package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkRemoteWrite measures one node taking in Prometheus remote
// write, against the in-process broker, on every core of the machine: the
// gateway (snappy, WriteRequest, one Kafka transaction per request), the
// router and the replicas. 100k series of eight labels, ten samples each,
// in requests of 2,000 samples as Prometheus sends them (its default
// max_samples_per_send), from 8 clients at once (its shards): with
// arrival=alone a request holds one sample of each of 2,000 series, as
// Prometheus sends a live scrape; with arrival=together 200 series and
// their ten samples each, as it sends a backlog. The node has seen every
// series once before the clock starts, as a node that runs has seen its
// fleet's: the first sight of a series (its rules evaluated, its state
// made) is not what is measured.
//
//	go test -run '^$' -bench '^BenchmarkRemoteWrite$' -benchtime 1x -count 3 ./cmd/tumble
//
// acked-samples/s counts the samples acknowledged per second from the first
// request to the last answer; samples/s counts them until the replicas have
// applied every one (each feeds one output series); cores is the CPU time
// of the process (the broker's included) over that time.
func BenchmarkRemoteWrite(b *testing.B) {
	const series, perSeries, perRequest, clients = 100_000, 10, 2000, 8
	for _, together := range []bool{false, true} {
		name := "arrival=alone"
		if together {
			name = "arrival=together"
		}
		b.Run(name, func(b *testing.B) {
			b.StopTimer()
			var acked, appliedIn, cpu time.Duration
			for range b.N {
				bodies := benchRWBodies(b, series, perSeries, perRequest, together)
				c, err := kfake.NewCluster(kfake.NumBrokers(1))
				if err != nil {
					b.Fatal(err)
				}
				cfg := defaults()
				cfg.Rules, cfg.DataDir = "../../testdata/rules/latency-rollup.yaml", b.TempDir()
				cfg.Kafka.Brokers = c.ListenAddrs()
				cfg.RouterID = "bench"
				cfg.Ingest.RemoteWrite = true
				s := startServer(b, &cfg)
				url := "http://" + cfg.Listen + "/api/v1/write"
				send := func(bodies [][]byte) {
					var wg sync.WaitGroup
					next := make(chan []byte)
					for range clients {
						wg.Go(func() {
							for body := range next {
								benchPost(b, url, body)
							}
						})
					}
					for _, body := range bodies {
						next <- body
					}
					close(next)
					wg.Wait()
				}
				applied := func(n int) {
					for counterSum(b, s.reg, "tumble_replica_samples_total") < n {
						time.Sleep(5 * time.Millisecond)
					}
				}
				send(benchRWBodies(b, series, 1, perRequest, false)) // every series once
				applied(series)

				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime(b)
				send(bodies)
				acked += time.Since(start)
				applied(series + series*perSeries)
				appliedIn += time.Since(start)
				cpu += cpuTime(b) - cpu0
				b.StopTimer()
				if got := counterSum(b, s.reg, "tumble_replica_samples_total"); got != series+series*perSeries {
					b.Fatalf("replicas applied %d samples, want %d", got, series+series*perSeries)
				}
				c.Close()
			}
			n := float64(b.N * series * perSeries)
			b.ReportMetric(n/acked.Seconds(), "acked-samples/s")
			b.ReportMetric(n/appliedIn.Seconds(), "samples/s")
			b.ReportMetric(cpu.Seconds()/appliedIn.Seconds(), "cores")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchRWBodies returns the benchmark's remote-write requests, snappy
// compressed: series series of eight labels, perSeries samples each with
// timestamps in the last second, perRequest samples a request.
func benchRWBodies(b *testing.B, series, perSeries, perRequest int, together bool) [][]byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	nowMs := time.Now().UnixMilli()
	type key struct{ svc, route, pod int }
	keys := make([]key, 0, series)
	for svc := range 20 {
		for route := range 50 {
			for pod := range series / 1000 {
				keys = append(keys, key{svc, route, pod})
			}
		}
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	labelsOf := func(k key) []prompb.Label {
		return []prompb.Label{
			{Name: "__name__", Value: "http_request_duration_seconds"},
			{Name: "env", Value: "prod"},
			{Name: "method", Value: []string{"GET", "POST"}[k.route%2]},
			{Name: "pod", Value: fmt.Sprintf("svc%d-%05x", k.svc, k.pod)},
			{Name: "region", Value: []string{"eu-west-1", "us-east-1", "ap-south-1"}[k.svc%3]},
			{Name: "route", Value: fmt.Sprintf("/api/v1/route%d", k.route)},
			{Name: "service", Value: fmt.Sprintf("svc%d", k.svc)},
			{Name: "version", Value: fmt.Sprintf("v1.%d.0", k.pod%4)},
			{Name: "zone", Value: fmt.Sprintf("z%d", k.pod%3)},
		}
	}
	value := func() float64 { return math.Round(math.Exp(rng.NormFloat64()-3)*1e6) / 1e6 }
	var bodies [][]byte
	var req prompb.WriteRequest
	flush := func() {
		raw, err := req.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, snappy.Encode(nil, raw))
		req.Timeseries = req.Timeseries[:0]
	}
	n := 0
	if together {
		for _, k := range keys {
			ts := prompb.TimeSeries{Labels: labelsOf(k)}
			for i := range perSeries {
				ts.Samples = append(ts.Samples, prompb.Sample{Value: value(), Timestamp: nowMs - int64(perSeries-i)*100})
			}
			req.Timeseries = append(req.Timeseries, ts)
			if n += perSeries; n%perRequest == 0 {
				flush()
			}
		}
	} else {
		for i := range perSeries {
			for _, k := range keys {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: labelsOf(k),
					Samples: []prompb.Sample{{Value: value(), Timestamp: nowMs - int64(perSeries-i)*100}}})
				if n++; n%perRequest == 0 {
					flush()
				}
			}
		}
	}
	if len(req.Timeseries) > 0 {
		flush()
	}
	return bodies
}

// benchPost sends one remote-write request, again while the gateway asks
// to retry.
func benchPost(b *testing.B, url string, body []byte) {
	for {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			time.Sleep(10 * time.Millisecond)
		default:
			b.Errorf("remote write: %s", resp.Status)
			return
		}
	}
}

// counterSum returns the sum of the counter name's series in reg.
func counterSum(b *testing.B, reg *prometheus.Registry, name string) int {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return int(sum)
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
