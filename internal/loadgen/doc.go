// Package loadgen makes a realistic, reproducible stream of raw samples: a
// fleet of services with routes, pods, status codes and latencies whose tails
// carry trace IDs. It feeds the demo, the benchmarks and the end-to-end tests;
// the same Config and seed always give the same samples. RemoteWriter
// sends the counters and gauges among them to a Prometheus remote-write
// endpoint as a Prometheus agent does (the demo's way into its gateway).
//
//	g := loadgen.New(loadgen.Config{Seed: 1})
//	var batch []sample.Sample
//	for range 60 {
//	    batch = g.Tick(batch[:0]) // one second of traffic
//	    ...
//	}
package loadgen
