// Package vmbench compares tumble with VictoriaMetrics' stream aggregation
// (lib/streamaggr, v1.151.0) on the same input, side by side in one
// `go test -bench` run. It is a module of its own so that VictoriaMetrics
// stays out of tumble's go.mod; only its test files import VictoriaMetrics.
//
// # What is compared
//
// The workload (Build) is one 10s window of 100,000 timer series of
// http_request_duration_seconds, with eight labels (service of 20, route of
// 50, pod of 100 a service, and region, zone, env, method and version that
// follow from them), ten samples a series: 1,000,000 samples, lognormal
// latencies rounded to the microsecond, one in ten with a trace ID. Both
// systems roll them up by service and route into 1,000 output series with
// the count, sum, maximum, P50 and P99 of each window. The samples come in
// requests of 1,000, in one of two arrival modes: alone (1,000 different
// series a request, one sample each; ten passes over the series in shuffled
// orders make the window) or together (100 series a request with their ten
// samples each). Every request is encoded once, before the timer, in each
// system's input form:
//
//   - tumble's native raw-topic record (sample.AppendProto of the request);
//   - a prometheus.WriteRequest in protobuf, each traced sample an exemplar
//     with label trace_id (which VictoriaMetrics skips);
//   - that WriteRequest snappy-compressed: a remote write 1.0 body.
//
// BenchmarkCore starts from each system's decoded-input form. tumble, as its
// router and a shard's replica do between them: DecodeRecordSamples of a
// sample.Decoder (the router's, which remembers series from record to
// record), rules.Matcher.MatchBatch (an M3 rollup rule),
// aggregator.Aggregator.Add for each target, and Advance at each window's
// end, whose points are the flush. VictoriaMetrics, as vmagent does: the WriteRequest unmarshalled by
// a reused prompb.WriteRequestUnmarshaler, then Aggregators.Push.
//
// BenchmarkRemoteWrite starts from the remote write bodies. tumble does what
// its gateway does before the Kafka write, through
// remotewrite.Handler.Decode, the code ServeHTTP runs (snappy, its own
// WriteRequest decoder, the samples checked; the family's metadata, a
// gauge, learnt beforehand); it makes the raw-topic records its
// ingest.Writer would write (ingest.Records), then runs the core path on
// each record. Its samples are gauges there (remote write has no timer),
// which the rule's filter accepts as it does timers.
// VictoriaMetrics does what vmagent's remote write handler does:
// lib/protoparser/promremotewrite/stream.Parse (read the body, undo snappy,
// unmarshal), whose callback pushes the series to the Aggregators.
//
// Each sub-benchmark, arrival=alone|together/system=tumble|vm, runs on one
// goroutine (VictoriaMetrics' Push starts one of its own for each
// aggregation config and waits for it). b.N counts samples, in whole
// requests cycling over the window's; each new window's timestamps are
// moved on by 10s once decoded, as a live stream's would be (for both
// systems; VictoriaMetrics' default options aggregate a sample whatever its
// timestamp). Before the timer each system sees every series once, so that
// tumble's record decoder and match cache and VictoriaMetrics' labels
// compressor are in their steady state.
//
// Flushing: tumble closes a window when the watermark passes its end plus
// the allowed lateness (by default one resolution), so Advance at the end of
// window k emits window k-1. VictoriaMetrics flushes on a wall-clock ticker
// and has no public call to flush now; the benchmark takes the nearest
// public equivalent, Aggregators.MustStop with Options.FlushOnShutdown,
// then new Aggregators (LoadFromData) for the next window. Its labels
// compressor, the state that matters across windows, is global and is kept.
// When b.N is whole windows, the run ends by flushing what is still open
// (tumble's Flush; for VictoriaMetrics an empty MustStop), so that each
// system has flushed every window it took. Every flush is checked: its
// count outputs must add up to every sample of the windows it closed, or
// the benchmark fails. TestSameAnswer holds both
// systems, fed one window, to the workload's truth: count and max exactly,
// sum to within rounding, per output series; it logs how far each system's
// percentiles are from the exact nearest-rank ones and from each other.
//
// # How to run
//
// Both systems in one run, one core each, as the README quotes them:
//
//	cd internal/vmbench
//	go test -run '^$' -bench . -cpu 1 -count 3 -benchtime 2000000x
//
// 2,000,000 samples are two windows: tumble then holds two windows open at
// once, as it does in a stream, and each system flushes both inside the
// timed loop. One repetition of the eight sub-benchmarks takes about a
// minute on one core of a 2-core EPYC, the whole command three; building
// the workload takes some seconds more.
//
// # How to read the result
//
// ns/op is per sample; samples/s is the same, inverted, for one core;
// allocs/op and B/op are per sample; wire-B/sample is the size of the
// system's input per sample (tumble's records on the core path, the
// WriteRequests for VictoriaMetrics; the snappy bodies, the same for both,
// on the remote-write path). The ratio that matters is tumble's samples/s
// over VictoriaMetrics' in the same mode and path of the same run.
//
// Caveats. VictoriaMetrics' quantiles keep a reservoir of 1,000 samples
// per output series and window and pick the sample at round(φ·(n−1)):
// here each output series gets exactly 1,000 samples a window, so its P99
// is the nearest-rank value and its P50 the next sample up; with more
// samples a window it would estimate, where tumble stays exact up to 2,048
// and then uses an HDR histogram. The pre-encoded input stays in the heap
// (about 600 MB for both modes), so the garbage collector runs less often
// than in a process whose heap is only its state: it flatters allocation,
// tumble's more than VictoriaMetrics'. VictoriaMetrics keeps a flusher
// goroutine per Aggregators, idle here.
package vmbench
