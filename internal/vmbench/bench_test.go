package vmbench

import (
	"fmt"
	"testing"
)

// BenchmarkCore measures each system from its own decoded-input form:
// tumble from native raw-topic records (decode, match, aggregate),
// VictoriaMetrics from uncompressed WriteRequests (unmarshal, Push). b.N
// counts samples; the windows advance as they would in a stream, each
// flushed when it ends.
func BenchmarkCore(b *testing.B) { benchmark(b, core) }

// BenchmarkRemoteWrite measures each system from remote write 1.0 bodies:
// tumble through its gateway's decoding and native encoding, then the core
// path; VictoriaMetrics as vmagent reads a body, then the core path.
func BenchmarkRemoteWrite(b *testing.B) { benchmark(b, remoteWrite) }

func benchmark(b *testing.B, p path) {
	for _, a := range Arrivals {
		for _, sys := range systems {
			b.Run(fmt.Sprintf("arrival=%s/system=%s", a, sys.name), func(b *testing.B) {
				run(b, sys, a, p)
			})
		}
	}
}

// run pushes whole requests, cycling over the window's requests, until
// b.N samples are in, and flushes each window as it ends and, when b.N is
// whole windows, the windows still open at the end. Every flush is
// checked: the count outputs of the windows it closed must add up to
// every sample of those windows.
func run(b *testing.B, sys system, a Arrival, p path) {
	w := workload(b, a)
	pl, err := sys.open(w, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer pl.close()
	var wire int
	for i := range w.Native {
		switch {
		case p == remoteWrite:
			wire += len(w.Snappy[i])
		case sys.name == "tumble":
			wire += len(w.Native[i])
		default:
			wire += len(w.Proto[i])
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for window := 0; n < b.N; window++ {
		shift := int64(window) * WindowMs
		for req := range w.Native {
			if n >= b.N {
				break
			}
			if err := pl.push(req, shift); err != nil {
				b.Fatal(err)
			}
			n += RequestSamples
		}
		if n%WindowSamples != 0 {
			break // a window cut short: not flushed
		}
		f, err := pl.endWindow(w.StartMs + shift + WindowMs)
		check(b, window, f, err)
	}
	if n%WindowSamples == 0 {
		// Flush what is still open: each system then has flushed every
		// window it took, tumble the last one after its lateness.
		f, err := pl.final()
		check(b, -1, f, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(wire)/WindowSamples, "wire-B/sample")
}

// check fails b unless flush f, at the end of window (-1: the final one),
// counted every sample of the windows it closed.
func check(b *testing.B, window int, f flushed, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	if got, want := f.count, float64(f.windows*WindowSamples); got != want {
		b.Fatalf("the flush at the end of window %d closed %d windows, with a count of %.0f samples, want %.0f", window, f.windows, got, want)
	}
}
