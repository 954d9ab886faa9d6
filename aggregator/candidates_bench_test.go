package aggregator_test

import (
	"testing"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// BenchmarkCandidateHits measures how often a window's selected trace was a
// candidate before the window closed: the generated fleet (12 services, 3
// pods each, 20 requests a pod a second, 10% untraced) under the example
// rules for 20 minutes of event time, the watermark following the samples
// as a router's does. A hit is a P99 point of the finest policy whose
// exemplar's trace was offered as a candidate of that window; each series'
// first two windows are left out: with the default lateness of one
// resolution, a window closes when the next one ends, so the third is the
// first to have a threshold. It reports the share of hits (hit_%), the candidates per
// selected window, and the selected windows.
func BenchmarkCandidateHits(b *testing.B) {
	rs, err := rules.ParseFile("../testdata/rules/example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	type key struct {
		series uint64
		start  int64
		agg    aggregator.Type
		trace  sample.TraceID
	}
	type window struct {
		series uint64
		agg    aggregator.Type
	}
	var hits, windows, candidates int
	for b.Loop() {
		m := rules.NewMatcher(rs, rules.MatcherOptions{})
		a, err := aggregator.New(aggregator.Options{Candidates: true})
		if err != nil {
			b.Fatal(err)
		}
		g := loadgen.New(loadgen.Config{Seed: 11, Services: 12, RequestsPerPod: 20})
		offered := map[key]bool{}
		seen := map[window]int{}
		hits, windows, candidates = 0, 0, 0
		var batch []sample.Sample
		var cands []aggregator.Candidate
		var points []aggregator.Point
		for range 20 * 60 {
			batch = g.Tick(batch[:0])
			for i := range batch {
				res := m.Match(&batch[i])
				for _, tg := range res.Targets {
					a.Add(tg, res.SeriesID, &batch[i])
				}
			}
			cands = a.Candidates(cands[:0])
			for _, c := range cands {
				offered[key{c.Target.Key, c.StartMs, c.Aggregation, c.Sample.TraceID}] = true
			}
			candidates += len(cands)
			points = a.Advance(g.NowMs(), points[:0])
			for i := range points {
				p := &points[i]
				spec := p.Target.Selects
				if spec == nil || !spec.Aggregations.Has(p.Aggregation) || p.Policy != p.Target.Policies[0] ||
					!p.HasExemplar || p.Exemplar.TraceID.IsZero() {
					continue
				}
				w := window{p.Target.Key, p.Aggregation}
				if seen[w]++; seen[w] <= 2 {
					continue
				}
				windows++
				if offered[key{p.Target.Key, p.StartMs, p.Aggregation, p.Exemplar.TraceID}] {
					hits++
				}
			}
		}
	}
	if windows == 0 {
		b.Fatal("no selected window")
	}
	b.ReportMetric(100*float64(hits)/float64(windows), "hit_%")
	b.ReportMetric(float64(candidates)/float64(windows), "candidates/window")
	b.ReportMetric(float64(windows), "windows")
}
