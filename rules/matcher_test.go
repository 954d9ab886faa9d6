package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// targetString prints a target for comparisons.
func targetString(t *aggregator.Target) string {
	pols := make([]string, len(t.Policies))
	for i, p := range t.Policies {
		pols[i] = p.String()
	}
	s := fmt.Sprintf("%s%s %s %s", t.Name, t.Labels, t.Aggregations, strings.Join(pols, ","))
	if t.Pre != aggregator.NoTransform {
		s += " pre=" + t.Pre.String()
	}
	if t.Post != aggregator.NoTransform {
		s += " post=" + t.Post.String()
	}
	return s
}

func targetStrings(ts []*aggregator.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = targetString(t)
	}
	return out
}

func ruleNames(rs []*Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func mustParse(t testing.TB, doc string) *RuleSet {
	t.Helper()
	rs, err := Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rs
}

const matchRules = `
mappingRules:
  - name: keep api
    filter: "app:api"
    aggregations: [Last]
    storagePolicies: [{resolution: 1m, retention: 2d}]
  - name: tag api
    filter: "app:api env:*"
    aggregations: [Max]
    tags: [{name: env, value: all}, {name: tier, value: gold}]
    storagePolicies: [{resolution: 1m, retention: 2d}]
  - name: keep api again
    filter: "__name__:req* app:api"
    aggregations: [Last]
    storagePolicies: [{resolution: 60s, retention: 48h}]
  - name: drop debug
    filter: "__name__:debug_*"
    drop: true
rollupRules:
  - name: by route
    filter: "__name__:req"
    transforms:
      - rollup:
          metricName: req_by_route
          groupBy: [route, app]
          aggregations: [Sum, Count]
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: without pod
    filter: "__name__:{req,debug_req}"
    transforms:
      - transform: {type: PerSecond}
      - rollup:
          metricName: "{{ .MetricName }}_no_pod"
          excludeBy: [pod]
          aggregations: [Max]
      - transform: {type: Add}
    tags: [{name: rolled, value: "yes"}]
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: max per series
    filter: "__name__:req __m3_type__:gauge"
    transforms:
      - aggregate: {type: Max}
    storagePolicies: [{resolution: 1m, retention: 2d}]
`

func TestMatchTargets(t *testing.T) {
	rs := mustParse(t, matchRules)
	for _, tc := range []struct {
		name        string
		s           *sample.Sample
		partial     bool
		wantTargets []string
		wantRules   []string
		wantDropped bool
	}{
		{
			name: "mapping keeps name and labels, tags added and replacing",
			s:    series("up", sample.Gauge, "app=api", "env=prod"),
			wantTargets: []string{
				`up{app="api", env="prod"} [Last] 1m:2d`,
				`up{app="api", env="all", tier="gold"} [Max] 1m:2d`,
			},
			wantRules: []string{"keep api", "tag api"},
		},
		{
			name: "equal targets are kept once",
			s:    series("req", sample.Timer, "app=api", "route=/a", "pod=p1"),
			wantTargets: []string{
				`req{app="api", pod="p1", route="/a"} [Last] 1m:2d`,
				`req_by_route{app="api", route="/a"} [Count Sum] 10s:1d`,
				`req_no_pod{app="api", rolled="yes", route="/a"} [Max] 10s:1d pre=PerSecond post=Add`,
			},
			wantRules: []string{"keep api", "keep api again", "by route", "without pod"},
		},
		{
			name: "groupBy label missing: not rolled up",
			s:    series("req", sample.Timer, "route=/a", "pod=p1"),
			wantTargets: []string{
				`req_no_pod{rolled="yes", route="/a"} [Max] 10s:1d pre=PerSecond post=Add`,
			},
			wantRules: []string{"without pod"},
		},
		{
			name:    "groupBy label missing: partial",
			s:       series("req", sample.Timer, "route=/a", "pod=p1"),
			partial: true,
			wantTargets: []string{
				`req_by_route{route="/a"} [Count Sum] 10s:1d`,
				`req_no_pod{rolled="yes", route="/a"} [Max] 10s:1d pre=PerSecond post=Add`,
			},
			wantRules: []string{"by route", "without pod"},
		},
		{
			name: "aggregate keeps the series",
			s:    series("req", sample.Gauge, "app=web", "route=/b"),
			wantTargets: []string{
				`req_by_route{app="web", route="/b"} [Count Sum] 10s:1d`,
				`req_no_pod{app="web", rolled="yes", route="/b"} [Max] 10s:1d pre=PerSecond post=Add`,
				`req{app="web", route="/b"} [Max] 1m:2d`,
			},
			wantRules: []string{"by route", "without pod", "max per series"},
		},
		{
			name:        "drop rule alone",
			s:           series("debug_x", sample.Gauge, "app=web"),
			wantDropped: true,
			wantRules:   []string{"drop debug"},
		},
		{
			name: "drop keeps other mapping rules and rollups",
			s:    series("debug_req", sample.Gauge, "app=api", "pod=p"),
			wantTargets: []string{
				`debug_req{app="api", pod="p"} [Last] 1m:2d`,
				`debug_req_no_pod{app="api", rolled="yes"} [Max] 10s:1d pre=PerSecond post=Add`,
			},
			wantDropped: true,
			wantRules:   []string{"keep api", "drop debug", "without pod"},
		},
		{
			name: "no rule",
			s:    series("other", sample.Gauge, "app=web"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMatcher(rs, MatcherOptions{PartialGroupBy: tc.partial})
			res := m.Match(tc.s)
			if got := targetStrings(res.Targets); !slices.Equal(got, tc.wantTargets) {
				t.Errorf("targets:\ngot  %q\nwant %q", got, tc.wantTargets)
			}
			if got := ruleNames(res.Rules); !slices.Equal(got, tc.wantRules) {
				t.Errorf("rules: got %q, want %q", got, tc.wantRules)
			}
			if res.Dropped != tc.wantDropped {
				t.Errorf("dropped: got %v, want %v", res.Dropped, tc.wantDropped)
			}
			for _, tg := range res.Targets {
				if want := tg.Labels.Hash(tg.Name); tg.ID != want {
					t.Errorf("target %s: ID %x, want %x", targetString(tg), tg.ID, want)
				}
			}
		})
	}
}

func TestMatchCacheHit(t *testing.T) {
	rs := mustParse(t, matchRules)
	m := NewMatcher(rs, MatcherOptions{})
	s := series("req", sample.Timer, "app=api", "route=/a", "pod=p1")
	first := m.Match(s)
	// The same series from another sample, with its own label slice.
	s2 := series("req", sample.Timer, "app=api", "route=/a", "pod=p1")
	s2.Value, s2.TimestampMs = 7, 99
	second := m.Match(s2)
	if len(first.Targets) == 0 || len(first.Targets) != len(second.Targets) {
		t.Fatalf("got %d then %d targets, want the same non-zero number", len(first.Targets), len(second.Targets))
	}
	for i := range first.Targets {
		if first.Targets[i] != second.Targets[i] {
			t.Errorf("target %d: a cache hit returned a new target", i)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { m.Match(s2) }); allocs != 0 {
		t.Errorf("a cache hit allocates %v times, want 0", allocs)
	}
	st := m.Stats()
	if st.Misses != 1 || st.Hits < 2 {
		t.Errorf("stats: got %+v, want 1 miss and the rest hits", st)
	}
}

func TestMatchCacheBound(t *testing.T) {
	rs := mustParse(t, matchRules)
	m := NewMatcher(rs, MatcherOptions{CacheSize: 4})
	samples := make([]*sample.Sample, 20)
	for i := range samples {
		samples[i] = series("req", sample.Timer, "app=api", fmt.Sprintf("route=/%d", i))
	}
	for _, s := range samples {
		m.Match(s)
		if m.cur.len() > 4 || m.prev.len() > 4 {
			t.Fatalf("cache holds %d + %d series, want at most 4 + 4", m.cur.len(), m.prev.len())
		}
	}
	// The last four series are in the current generation, the four before
	// in the previous one.
	before := m.Stats()
	for _, s := range samples[16:] {
		m.Match(s)
	}
	m.Match(samples[15])
	after := m.Stats()
	if hits := after.Hits - before.Hits; hits != 5 {
		t.Errorf("re-matching the last 5 series: %d hits, want 5", hits)
	}
	if misses := after.Misses - before.Misses; misses != 0 {
		t.Errorf("re-matching the last 5 series: %d misses, want 0", misses)
	}
	m.Match(samples[0])
	if got := m.Stats().Misses - after.Misses; got != 1 {
		t.Errorf("an evicted series: %d misses, want 1", got)
	}
	if m.Stats().Turnovers == 0 {
		t.Error("no generation turned over")
	}
}

func TestMatchHashCollision(t *testing.T) {
	rs := mustParse(t, matchRules)
	for _, size := range []int{8, 1} {
		t.Run(fmt.Sprintf("cache %d", size), func(t *testing.T) {
			m := NewMatcher(rs, MatcherOptions{CacheSize: size})
			m.hash = func(*sample.Sample) uint64 { return 42 } // every series collides
			a := series("req", sample.Timer, "app=api", "route=/a")
			b := series("req", sample.Timer, "app=web", "route=/b")
			gauge := series("req", sample.Gauge, "app=web", "route=/b")
			want := map[*sample.Sample][]string{}
			for _, s := range []*sample.Sample{a, b, gauge} {
				want[s] = targetStrings(NewMatcher(rs, MatcherOptions{CacheSize: -1}).Match(s).Targets)
			}
			if slices.Equal(want[a], want[b]) || slices.Equal(want[b], want[gauge]) {
				t.Fatal("test series must have different targets")
			}
			for round := 0; round < 3; round++ {
				for _, s := range []*sample.Sample{a, b, gauge, b, a} {
					if got := targetStrings(m.Match(s).Targets); !slices.Equal(got, want[s]) {
						t.Fatalf("round %d, %s%s %s: got %q, want %q", round, s.Name, s.Labels, s.Type, got, want[s])
					}
				}
			}
			if m.Stats().Collisions == 0 {
				t.Error("no collision counted")
			}
		})
	}
}

func TestMatchCacheOff(t *testing.T) {
	rs := mustParse(t, matchRules)
	m := NewMatcher(rs, MatcherOptions{CacheSize: -1})
	s := series("req", sample.Timer, "app=api", "route=/a")
	a, b := m.Match(s), m.Match(s)
	if !slices.Equal(targetStrings(a.Targets), targetStrings(b.Targets)) || len(a.Targets) == 0 {
		t.Errorf("got %q then %q, want the same targets", targetStrings(a.Targets), targetStrings(b.Targets))
	}
	if st := m.Stats(); st.Misses != 2 || st.Hits != 0 {
		t.Errorf("stats: got %+v, want 2 misses", st)
	}
}

func TestMatchCounts(t *testing.T) {
	rs := mustParse(t, matchRules)
	m := NewMatcher(rs, MatcherOptions{})
	for i := 0; i < 3; i++ {
		m.Match(series("req", sample.Timer, "app=api", "route=/a"))
	}
	m.Match(series("debug_x", sample.Gauge))
	want := map[string]uint64{"keep api": 3, "keep api again": 3, "by route": 3, "without pod": 3, "drop debug": 1}
	for _, rc := range m.RuleCounts(nil) {
		if rc.Samples != want[rc.Rule.Name] {
			t.Errorf("rule %s: got %d samples, want %d", rc.Rule, rc.Samples, want[rc.Rule.Name])
		}
		if got := m.RuleCount(rc.Rule); got != rc.Samples {
			t.Errorf("RuleCount(%s) = %d, want %d", rc.Rule, got, rc.Samples)
		}
	}
	other := mustParse(t, matchRules)
	if got := m.RuleCount(other.Rules()[0]); got != 0 {
		t.Errorf("RuleCount of a rule of another RuleSet = %d, want 0", got)
	}
}

func TestMatchConcurrentMatchers(t *testing.T) {
	// One RuleSet, one Matcher per goroutine, counters read meanwhile.
	rs := mustParse(t, matchRules)
	done := make(chan *Matcher)
	for g := 0; g < 4; g++ {
		go func() {
			m := NewMatcher(rs, MatcherOptions{CacheSize: 16})
			for i := 0; i < 500; i++ {
				m.Match(series("req", sample.Timer, "app=api", fmt.Sprintf("route=/%d", i%40)))
				_ = m.Stats()
			}
			done <- m
		}()
	}
	var total uint64
	for g := 0; g < 4; g++ {
		m := <-done
		total += m.RuleCount(rs.Rule(RollupRules, "by route"))
	}
	if total != 2000 {
		t.Errorf("by route matched %d samples, want 2000", total)
	}
}

func TestIndexCandidates(t *testing.T) {
	rs := mustParse(t, `
mappingRules:
  - {name: exact, filter: "__name__:http_requests", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: alts, filter: "__name__:{http_requests,grpc_requests}", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: prefix, filter: "__name__:http_*", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: glob prefix, filter: "__name__:http_[a-z]*s", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: suffix, filter: "__name__:*_requests", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: contains, filter: "__name__:*req*", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: negated, filter: "__name__:!debug_*", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: no name, filter: "app:x", storagePolicies: [{resolution: 1m, retention: 1d}]}
  - {name: other, filter: "__name__:cpu", storagePolicies: [{resolution: 1m, retention: 1d}]}
`)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"http_requests", []string{"exact", "alts", "prefix", "glob prefix", "suffix", "contains", "negated", "no name"}},
		{"grpc_requests", []string{"alts", "suffix", "contains", "negated", "no name"}},
		{"cpu", []string{"contains", "negated", "no name", "other"}},
		{"h", []string{"contains", "negated", "no name"}},
	} {
		ids := rs.index.candidates(tc.name, nil)
		var got []string
		for _, id := range ids {
			got = append(got, rs.rules[id].Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("candidates(%q): got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMatchBatch: a batch gets what Match gives each of its samples, hits,
// misses, unmatched and dropped series alike, batch after batch.
// appSeries is the i-th of series of apps that rules match or not, each
// with one of routes routes.
func appSeries(i, routes int) *sample.Sample {
	app := []string{"api", "web", "nothing-matches"}[i%3]
	return series("req", sample.Timer, "app="+app, fmt.Sprintf("route=/%d", i%routes))
}

func TestMatchBatch(t *testing.T) {
	rs := mustParse(t, matchRules)
	var ss []sample.Sample
	for i := range 150 {
		ss = append(ss, *appSeries(i, 40))
		if i%7 == 0 { // the same series again, sharing its labels, as a batch decoder gives it
			ss = append(ss, ss[len(ss)-1])
		}
		if i%11 == 0 { // shared labels, but another type: another series
			g := ss[len(ss)-1]
			g.Type = sample.Gauge
			ss = append(ss, g)
		}
	}
	ref := NewMatcher(rs, MatcherOptions{CacheSize: -1})
	for _, size := range []int{0, 16} {
		t.Run(fmt.Sprintf("cache %d", size), func(t *testing.T) {
			m := NewMatcher(rs, MatcherOptions{CacheSize: size})
			out := make([]Result, len(ss))
			for round := range 3 {
				m.MatchBatch(ss, out)
				for i := range ss {
					want := ref.Match(&ss[i])
					if got := out[i]; !slices.Equal(targetStrings(got.Targets), targetStrings(want.Targets)) ||
						!slices.Equal(got.Rules, want.Rules) || got.Dropped != want.Dropped || got.SeriesID != ss[i].SeriesID() {
						t.Fatalf("round %d, sample %d: got %q %v, want %q %v", round, i, targetStrings(got.Targets), got.SeriesID, targetStrings(want.Targets), ss[i].SeriesID())
					}
				}
			}
			if st := m.Stats(); st.Hits+st.Misses != 3*uint64(len(ss)) || st.Misses == 0 {
				t.Errorf("stats %+v: hits and misses do not add up to %d samples", st, 3*len(ss))
			}
		})
	}
}

// TestMatchDecodedKeys: samples that a sample.Decoder gave their Keys match
// as the same samples without keys do, whatever the Matcher's seed; under
// the decoder's seed a series is one cache entry, keyed or not.
func TestMatchDecodedKeys(t *testing.T) {
	rs := mustParse(t, matchRules)
	var plain []sample.Sample
	for i := range 60 {
		plain = append(plain, *appSeries(i, 20))
	}
	d := sample.NewDecoder(0)
	keyed, bad, err := d.DecodeRecordSamples(sample.AppendProto(nil, plain), sample.FormatProto, nil, nil)
	if err != nil || len(bad) > 0 || len(keyed) != len(plain) {
		t.Fatalf("decoding: %d samples, %v, %v", len(keyed), bad, err)
	}
	ref := NewMatcher(rs, MatcherOptions{CacheSize: -1})
	for _, tc := range []struct {
		name string
		opts MatcherOptions
	}{{"decoder's seed", MatcherOptions{Seed: d.Seed()}}, {"own seed", MatcherOptions{}}} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMatcher(rs, tc.opts)
			out := make([]Result, len(keyed))
			for _, ss := range [][]sample.Sample{keyed, plain, keyed} {
				m.MatchBatch(ss, out)
				for i := range ss {
					if ss[i].Key == (sample.SeriesKey{}) && &ss[0] == &keyed[0] {
						t.Fatalf("sample %d: decoded without a key", i)
					}
					want := ref.Match(&plain[i])
					if got := out[i]; !slices.Equal(targetStrings(got.Targets), targetStrings(want.Targets)) ||
						!slices.Equal(got.Rules, want.Rules) || got.SeriesID != plain[i].SeriesID() {
						t.Fatalf("sample %d: got %q %v, want %q %v", i, targetStrings(got.Targets), got.SeriesID, targetStrings(want.Targets), plain[i].SeriesID())
					}
				}
			}
			misses := m.Stats().Misses
			if tc.opts.Seed == d.Seed() && misses != 60 {
				t.Errorf("%d misses, want one per series: keyed or not, a series is one entry", misses)
			}
			if tc.opts.Seed != d.Seed() && misses != 120 {
				t.Errorf("%d misses, want two per series: one keyed, one hashed under the Matcher's seed", misses)
			}
		})
	}
}
