package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

const (
	benchRules  = 5000
	benchSeries = 100_000
	benchNames  = 10_000 // metric names the series draw from
)

// benchRuleSet returns 5,000 rules: 4,500 on plain metric names, 300 on name
// prefixes, 150 on suffixes and 50 general globs.
func benchRuleSet(b *testing.B) *RuleSet {
	var doc strings.Builder
	const policy = "    storagePolicies: [{resolution: 10s, retention: 2d}]\n"
	doc.WriteString("mappingRules:\n")
	for i := 0; i < 2250; i++ {
		fmt.Fprintf(&doc, "  - name: map %d\n    filter: \"__name__:metric_%d env:prod\"\n    aggregations: [Last]\n%s", i, i*2, policy)
	}
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&doc, "  - name: prefix %d\n    filter: \"__name__:metric_%d* service:svc_%d\"\n    aggregations: [Max]\n%s", i, i, i%10, policy)
	}
	doc.WriteString("rollupRules:\n")
	for i := 0; i < 2250; i++ {
		fmt.Fprintf(&doc, "  - name: rollup %d\n    filter: \"__name__:metric_%d\"\n    transforms:\n      - rollup: {metricName: metric_%d_by_service, groupBy: [service], aggregations: [Sum, Count]}\n%s", i, i*2+1, i*2+1, policy)
	}
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&doc, "  - name: suffix %d\n    filter: \"__name__:*_%d route:/api/*\"\n    transforms:\n      - rollup: {metricName: by_route_%d, groupBy: [route], aggregations: [Max]}\n%s", i, 9000+i, i, policy)
	}
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&doc, "  - name: glob %d\n    filter: \"__name__:{metric,other}_[0-9]%d*[13579] service:svc_[0-4]\"\n    transforms:\n      - aggregate: {type: Count}\n%s", i, i, policy)
	}
	rs, err := Parse("bench.yaml", []byte(doc.String()))
	if err != nil {
		b.Fatal(err)
	}
	if rs.Len() != benchRules {
		b.Fatalf("got %d rules, want %d", rs.Len(), benchRules)
	}
	return rs
}

// benchSamples returns one sample of each of 100,000 series, in a random
// order, from a fixed seed.
func benchSamples() []sample.Sample {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]sample.Sample, benchSeries)
	for i := range out {
		labels := sample.FromMap(map[string]string{
			"env":     []string{"prod", "dev"}[rng.IntN(2)],
			"service": fmt.Sprintf("svc_%d", rng.IntN(10)),
			"route":   fmt.Sprintf("/api/%d", rng.IntN(50)),
			"pod":     fmt.Sprintf("pod-%d", i), // makes every series distinct
		})
		out[i] = sample.Sample{
			Name:        fmt.Sprintf("metric_%d", rng.IntN(benchNames)),
			Labels:      labels,
			Type:        sample.Type(rng.IntN(4) + 1),
			Value:       rng.Float64(),
			TimestampMs: 1_763_800_000_000 + int64(i),
		}
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	rs := benchRuleSet(b)
	samples := benchSamples()
	for _, bc := range []struct {
		name string
		opts MatcherOptions
	}{
		{"cached", MatcherOptions{CacheSize: 1 << 17}},
		{"uncached", MatcherOptions{CacheSize: -1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewMatcher(rs, bc.opts)
			if bc.opts.CacheSize > 0 {
				for i := range samples { // fill the cache
					m.Match(&samples[i])
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			targets := 0
			for i := 0; i < b.N; i++ {
				targets += len(m.Match(&samples[i%len(samples)]).Targets)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(targets)/float64(b.N), "targets/sample")
		})
	}
}

// BenchmarkFilter measures one filter of each matcher kind on a series that
// passes it.
func BenchmarkFilter(b *testing.B) {
	s := series("http_request_duration_seconds", sample.Timer, "env=prod", "pod=web-7f9c", "route=/api/v1/users", "service=checkout")
	for _, filter := range []string{
		"__name__:http_request_duration_seconds",
		"__name__:http_* service:check*",
		"route:*/users env:!dev",
		"__name__:{http,grpc}_*_seconds route:/api/v[0-9]/*",
	} {
		f, err := ParseFilter(filter)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filter, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !f.MatchSample(s) {
					b.Fatal("no match")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
