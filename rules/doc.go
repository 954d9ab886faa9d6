// Package rules reads M3's downsample rules (mapping rules and rollup rules)
// and matches samples against them, telling which output series
// (aggregator.Target) each sample feeds.
//
//	rs, err := rules.ParseFile("rules.yaml")
//	if err != nil {
//	    for _, e := range rules.ErrorList(err) {
//	        log.Print(e) // rules.yaml:14: rollupRules "by route": transforms[1].rollup.aggregations[2]: unknown aggregation "P98" (...)
//	    }
//	    return err // a running server keeps its last good RuleSet
//	}
//	m := rules.NewMatcher(rs, rules.MatcherOptions{CacheSize: 1 << 20})
//	for s := range samples { // one goroutine per Matcher
//	    res := m.Match(&s)
//	    for _, t := range res.Targets {
//	        route(t, &s) // one record per output series
//	    }
//	}
//	rs.Describe(os.Stdout) // what each rule matches and writes
//
// # Rule files
//
// A file holds M3's rule lists, under downsample.rules as in an M3
// coordinator configuration or alone:
//
//	mappingRules:
//	  - name: gauges at 1m
//	    filter: "__m3_type__:gauge"
//	    aggregations: [Last]
//	    storagePolicies: [{resolution: 1m, retention: 40d}]
//	  - name: drop debug metrics
//	    filter: "__name__:debug_*"
//	    drop: true
//	rollupRules:
//	  - name: http latency by route
//	    filter: "__name__:http_request_duration_seconds"
//	    transforms:
//	      - rollup:
//	          metricName: http_request_duration_seconds_by_route
//	          groupBy: [service, route]
//	          aggregations: [P50, P99, Count]
//	    storagePolicies: [{resolution: 10s, retention: 2d}]
//
// A mapping rule has name, filter, aggregations, storagePolicies, drop and
// tags ({name, value} pairs added to its output). A rollup rule has name,
// filter, transforms, storagePolicies and tags; its transforms are a
// pipeline of items, each one of transform: {type: Increase|PerSecond|Add},
// rollup: {metricName, groupBy or excludeBy, aggregations} or aggregate:
// {type: <aggregation>}. tumble runs the pipelines M3 users write: at most
// one transform, then one rollup or aggregate, then at most one transform
// (Target.Pre and Target.Post). A metricName may hold {{ .MetricName }}, the
// input name. Durations take M3's units and also d, w and y.
//
// Parsing is strict, and reports every fault of a file, each as an *Error
// naming the rule, the field, the YAML line and the reason: unknown fields,
// bad durations, unknown or repeated aggregations, Median with P50 (the same
// series), groupBy with excludeBy, a missing name, filter, metricName,
// transforms or storagePolicies (which only a drop rule goes without),
// repeated rule names, malformed filters, a retention shorter than its
// resolution, a label called quantile on the output of a rule whose
// aggregations add one, and aggregations that are not defined on the values
// they would see. Those values have a known type when the filter pins
// __m3_type__ or a transform comes first: Increase yields counter
// increments, PerSecond a gauge of rates, Add a cumulative total (see
// aggregator.Type.Supports): P99 after Increase is an error.
//
// # Filters
//
// A filter is M3's: space-separated tag:pattern terms that must all hold.
// __name__ stands for the metric name and __m3_type__ for the sample type
// (counter, cumulative, gauge or timer; M3 knows counter, gauge and timer).
// Patterns are globs: * (any run of characters), ? (one character), [a-z],
// [!a-z] and {a,b} (alternatives, which may hold *, ? and [...]); a leading
// ! negates a pattern. A term on a tag the series lacks fails, also when
// negated: env:!prod passes env="dev" but not a series without env, as in
// M3, whose filter wants every tag it names. Beyond M3, ? and [...] work on
// UTF-8 characters rather than bytes, a pattern may hold any number of *, a
// value may hold ':', and alternatives may hold globs.
//
// # Matching
//
// A series feeds, for every rule whose filter it passes:
//
//   - a mapping rule: the input name and labels plus the rule's tags;
//   - a rollup: metricName with the input's groupBy labels (a series lacking
//     one is not rolled up, as M3 documents; MatcherOptions.PartialGroupBy
//     keeps the labels it has instead), or with every input label but the
//     excludeBy ones, plus the rule's tags;
//   - an aggregate: the input name and labels.
//
// A rule's tags replace input labels of the same name. Targets that are
// equal (same Target.Key) are kept once.
//
// A drop rule (drop: true) is M3's drop_if_only_match: the series itself is
// not kept (Result.Dropped), but it still feeds the other mapping rules it
// matches and every rollup rule. In M3 a drop rule likewise only removes
// the raw series and the default namespaces' copies, never what another
// rule asks for; to drop a metric entirely, keep the other rules' filters
// off it (e.g. "__name__:!debug_*").
//
// The Matcher indexes rules by their __name__ pattern (plain names in a
// map; patterns by their leading or trailing plain text), so thousands of
// rules cost a few map lookups per new series, and caches each series'
// Result (two generations of MatcherOptions.CacheSize series), so a known
// series costs a hash and a lookup and allocates nothing. Targets are built
// once per series, when it enters the cache.
//
// # Concurrency
//
// A RuleSet is immutable and may be shared by any number of goroutines. A
// Matcher belongs to one goroutine; its counters (RuleCounts, Stats) may be
// read from any goroutine, e.g. by a metrics collector.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package rules
