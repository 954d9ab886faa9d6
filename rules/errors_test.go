package rules

import (
	"errors"
	"strings"
	"testing"
)

// wantErr is one expected fault: its line, list, rule (name, or index when
// unnamed), field and a part of its reason.
type wantErr struct {
	line   int
	list   List
	rule   string
	index  int
	field  string
	reason string
}

func TestParseErrors(t *testing.T) {
	const policy = "    storagePolicies: [{resolution: 1m, retention: 2d}]\n"
	for _, tc := range []struct {
		name string
		doc  string
		want []wantErr
	}{
		{"unknown rule field", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregation: [Last]
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregation", "unknown field (want one of name, filter, aggregations, storagePolicies, drop, tags, traceSelection)"}}},
		{"unknown top-level field", `
mappingRule: []
`, []wantErr{{1, 0, "", 0, "mappingRule", "unknown field (want one of mappingRules, rollupRules, traceSelection)"}}},
		{"trace selection of an aggregation without a sample", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregations: [Sum, P99]
    traceSelection: {aggregations: [Sum, P999], maxPerSecond: -1}
` + policy, []wantErr{
			{5, MappingRules, "a", 0, "traceSelection.aggregations[0]", "Sum names no sample, so no trace"},
			{5, MappingRules, "a", 0, "traceSelection.maxPerSecond", "want a finite number of traces per second, 0 or more"},
			{5, MappingRules, "a", 0, "traceSelection.aggregations[1]", "P999 is not among the rule's aggregations [Sum P99]"},
		}},
		{"trace selection of a drop rule", `
mappingRules:
  - name: a
    filter: "app:x"
    drop: true
    traceSelection: {aggregations: [Max]}
`, []wantErr{{5, MappingRules, "a", 0, "traceSelection", "a drop rule keeps nothing, so it selects no trace"}}},
		{"file trace selection", `
traceSelection: {tenantLabel: __name__, tenantMaxPerSecond: fast}
mappingRules: []
`, []wantErr{
			{1, 0, "", 0, "traceSelection.tenantLabel", "label \"__name__\" is internal"},
			{1, 0, "", 0, "traceSelection.tenantMaxPerSecond", "want a number of traces per second"},
		}},
		{"unknown field under downsample", `
downsample:
  rules: {mappingRules: []}
  remoteAggregator: {}
`, []wantErr{{3, 0, "", 0, "downsample.remoteAggregator", "unknown field (want one of rules)"}}},
		{"unknown field in a rollup", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: y, groupby: [app]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].rollup.groupby", "unknown field (want one of metricName, groupBy, excludeBy, aggregations)"}}},
		{"field given twice", `
mappingRules:
  - name: a
    filter: "app:x"
    filter: "app:y"
` + policy, []wantErr{{4, MappingRules, "a", 0, "filter", "given twice (first at line 3)"}}},
		{"empty and missing durations", `
mappingRules:
  - name: a
    filter: "app:x"
    storagePolicies:
      - resolution:
        retention: 2d
      - resolution: 1m
`, []wantErr{
			{5, MappingRules, "a", 0, "storagePolicies[0].resolution", "empty: want a duration"},
			{7, MappingRules, "a", 0, "storagePolicies[1]", "missing retention"},
		}},
		{"bad duration", `
mappingRules:
  - name: a
    filter: "app:x"
    storagePolicies:
      - resolution: 1m
        retention: 2x
`, []wantErr{{6, MappingRules, "a", 0, "storagePolicies[0].retention", `unknown unit "x"`}}},
		{"duration without unit", `
mappingRules:
  - name: a
    filter: "app:x"
    storagePolicies: [{resolution: 60, retention: 2d}]
`, []wantErr{{4, MappingRules, "a", 0, "storagePolicies[0].resolution", "want a number and a unit"}}},
		{"unknown aggregation", `
rollupRules:
  - name: http latency by route
    filter: "__name__:http_request_duration_seconds"
    transforms:
      - transform: {type: PerSecond}
      - rollup:
          metricName: x
          groupBy: [route]
          aggregations: [P50, P99, P98]
` + policy, []wantErr{{9, RollupRules, "http latency by route", 0, "transforms[1].rollup.aggregations[2]", `unknown aggregation "P98" (want one of Last, Min,`}}},
		{"unknown transform", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - transform: {type: Reset}
      - rollup: {metricName: y, groupBy: [app], aggregations: [Sum]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].transform.type", `unknown transform "Reset" (want Increase, PerSecond or Add)`}}},
		{"duplicate aggregation", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregations: [Sum, Max, Sum]
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregations[2]", "Sum listed twice (first at aggregations[0])"}}},
		{"Median with P50", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregations: [P50, Max, Median]
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregations[2]", "Median and P50 (at aggregations[0]) are the same quantile"}}},
		{"groupBy with excludeBy", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup:
          metricName: y
          groupBy: [app]
          excludeBy: [pod]
` + policy, []wantErr{{6, RollupRules, "r", 0, "transforms[0].rollup", "groupBy and excludeBy exclude each other"}}},
		{"missing name", `
mappingRules:
  - name: a
    filter: "app:x"
` + policy + `  - filter: "app:y"
` + policy, []wantErr{{5, MappingRules, "", 1, "name", "missing name"}}},
		{"missing filter", `
mappingRules:
  - name: a
` + policy, []wantErr{{2, MappingRules, "a", 0, "filter", "missing filter"}}},
		{"missing metricName", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {groupBy: [app]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].rollup.metricName", "missing metricName"}}},
		{"missing storagePolicies", `
mappingRules:
  - name: a
    filter: "app:x"
rollupRules:
  - name: r
    filter: "app:x"
    transforms: [{aggregate: {type: Sum}}]
`, []wantErr{
			{2, MappingRules, "a", 0, "storagePolicies", "missing storagePolicies"},
			{5, RollupRules, "r", 0, "storagePolicies", "missing storagePolicies"},
		}},
		{"missing transforms", `
rollupRules:
  - name: r
    filter: "app:x"
` + policy, []wantErr{{2, RollupRules, "r", 0, "transforms", "missing transforms"}}},
		{"drop rule with aggregations", `
mappingRules:
  - name: d
    filter: "app:x"
    drop: true
    aggregations: [Last]
`, []wantErr{{5, MappingRules, "d", 0, "aggregations", "a drop rule keeps nothing"}}},
		{"drop is not a bool", `
mappingRules:
  - name: d
    filter: "app:x"
    drop: "yes"
`, []wantErr{{4, MappingRules, "d", 0, "drop", "want true or false"}}},
		{"duplicate rule names", `
mappingRules:
  - name: a
    filter: "app:x"
` + policy + `  - name: a
    filter: "app:y"
` + policy, []wantErr{{5, MappingRules, "a", 1, "name", "duplicate name: the rule at line 2 has it too"}}},
		{"same name in both lists", `
mappingRules:
  - name: a
    filter: "app:x"
` + policy + `rollupRules:
  - name: a
    filter: "app:x"
    transforms: [{aggregate: {type: Sum}}]
` + policy, nil},
		{"bad filter", `
mappingRules:
  - name: a
    filter: "app:x route:/a/[b"
` + policy, []wantErr{{3, MappingRules, "a", 0, "filter", `column 16: pattern "/a/[b": unclosed "["`}}},
		{"retention shorter than resolution", `
mappingRules:
  - name: a
    filter: "app:x"
    storagePolicies: [{resolution: 1h, retention: 30m}]
`, []wantErr{{4, MappingRules, "a", 0, "storagePolicies[0]", "retention 30m is shorter than the resolution 1h"}}},
		{"policy listed twice", `
mappingRules:
  - name: a
    filter: "app:x"
    storagePolicies: [{resolution: 1m, retention: 2d}, {resolution: 60s, retention: 48h}]
`, []wantErr{{4, MappingRules, "a", 0, "storagePolicies[1]", "policy 1m:2d listed twice (first at storagePolicies[0])"}}},
		{"quantile in groupBy", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: y, groupBy: [app, quantile], aggregations: [P50, P99]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].rollup.groupBy[1]", `label "quantile" clashes`}}},
		{"quantile in tags", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregations: [Count, P99]
    tags: [{name: quantile, value: "1"}]
` + policy, []wantErr{{5, MappingRules, "a", 0, "tags[0].name", `label "quantile" clashes`}}},
		{"quantile required by the filter", `
mappingRules:
  - name: a
    filter: "quantile:*"
    aggregations: [Max, P99]
` + policy, []wantErr{{3, MappingRules, "a", 0, "filter", "the filter passes only series that carry it"}}},
		{"quantile with one aggregation", `
mappingRules:
  - name: a
    filter: "quantile:*"
    aggregations: [P99]
    tags: [{name: quantile, value: "1"}]
` + policy, nil},
		{"P99 of counter increments", `
rollupRules:
  - name: r
    filter: "__name__:requests_total"
    transforms:
      - transform: {type: Increase}
      - rollup:
          metricName: requests
          groupBy: [app]
          aggregations: [Sum, P99]
` + policy, []wantErr{{9, RollupRules, "r", 0, "transforms[1].rollup.aggregations[1]", "P99 is not defined on counter values, which the Increase transform before it yields"}}},
		{"Sum of cumulative totals", `
rollupRules:
  - name: r
    filter: "__name__:requests_total"
    transforms:
      - transform: {type: Add}
      - aggregate: {type: Sum}
` + policy, []wantErr{{6, RollupRules, "r", 0, "transforms[1].aggregate.type", "Sum is not defined on cumulative values, which the Add transform before it yields"}}},
		{"P99 of counters by type", `
mappingRules:
  - name: a
    filter: "__m3_type__:{counter,gauge}"
    aggregations: [Max, P99]
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregations[1]", "P99 is not defined on counter values, which the filter admits through __m3_type__"}}},
		{"Increase of gauges by type", `
mappingRules:
  - name: a
    filter: "__m3_type__:gauge"
    aggregations: [Increase]
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregations[0]", "Increase is not defined on gauge values"}}},
		{"two rollups", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: y, groupBy: [app]}
      - rollup: {metricName: z, groupBy: [app]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms", "unsupported pipeline [rollup, rollup]: want at most one transform, then one rollup or aggregate, then at most one transform"}}},
		{"two transforms before", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - transform: {type: Increase}
      - transform: {type: PerSecond}
      - aggregate: {type: Sum}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms", "unsupported pipeline [transform, transform, aggregate]"}}},
		{"transform only", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms: [{transform: {type: Increase}}]
` + policy, []wantErr{{4, RollupRules, "r", 0, "transforms", "unsupported pipeline [transform]"}}},
		{"two operations in one item", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - transform: {type: Increase}
        aggregate: {type: Sum}
` + policy, []wantErr{{6, RollupRules, "r", 0, "transforms[0]", "holds both transform and aggregate"}}},
		{"empty item", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms: [{}]
` + policy, []wantErr{{4, RollupRules, "r", 0, "transforms[0]", "empty item"}}},
		{"aggregate with tags", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms: [{aggregate: {type: Sum}}]
    tags: [{name: a, value: b}]
` + policy, []wantErr{{5, RollupRules, "r", 0, "tags", "tags apply to a rollup's output only"}}},
		{"template twice", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: "{{ .MetricName }}_{{ .MetricName }}", groupBy: [app]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].rollup.metricName", "may appear once"}}},
		{"unknown template", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: "{{ .Name }}_x", groupBy: [app]}
` + policy, []wantErr{{5, RollupRules, "r", 0, "transforms[0].rollup.metricName", "unknown template"}}},
		{"reserved tag", `
mappingRules:
  - name: a
    filter: "app:x"
    tags: [{name: __m3_graphite_prefix__, value: stats}]
` + policy, []wantErr{{4, MappingRules, "a", 0, "tags[0].name", "reserved"}}},
		{"internal groupBy label", `
rollupRules:
  - name: r
    filter: "app:x"
    transforms:
      - rollup: {metricName: y, groupBy: [__name__, app, app]}
` + policy, []wantErr{
			{5, RollupRules, "r", 0, "transforms[0].rollup.groupBy[0]", `label "__name__" is internal`},
			{5, RollupRules, "r", 0, "transforms[0].rollup.groupBy[2]", `label "app" listed twice (first at transforms[0].rollup.groupBy[1])`},
		}},
		{"not a list", `
mappingRules:
  - name: a
    filter: "app:x"
    aggregations: Last
` + policy, []wantErr{{4, MappingRules, "a", 0, "aggregations", `want a list, got "Last"`}}},
		{"wrong kinds", `
mappingRules:
  - name: [a]
    filter: {app: x}
    drop: true
rollupRules: {name: r}
`, []wantErr{
			{2, MappingRules, "", 0, "name", "want a string, got a list"},
			{3, MappingRules, "", 0, "filter", "want a string, got a mapping"},
			{5, 0, "", 0, "rollupRules", "want a list, got a mapping"},
		}},
		{"rule not a mapping", `
rollupRules:
  - just a string
`, []wantErr{{2, RollupRules, "", 0, "", "want a mapping (a rule)"}}},
		{"every fault of the file", `
mappingRules:
  - name: a
    filter: "app:["
    aggregations: [Last, Lsat]
  - name: b
    filter: "app:x"
    storagePolicies: [{resolution: 1m, retention: 1s}]
rollupRules:
  - filter: "app:x"
    transforms: [{aggregate: {type: Sum}}]
` + policy, []wantErr{
			{2, MappingRules, "a", 0, "storagePolicies", "missing storagePolicies"},
			{3, MappingRules, "a", 0, "filter", `unclosed "["`},
			{4, MappingRules, "a", 0, "aggregations[1]", `unknown aggregation "Lsat"`},
			{7, MappingRules, "b", 1, "storagePolicies[0]", "shorter than the resolution"},
			{9, RollupRules, "", 0, "name", "missing name"},
		}},
		{"malformed YAML", `
mappingRules:
  - name: a
   filter: x
`, []wantErr{{1, 0, "", 0, "", "malformed YAML: did not find expected '-' indicator"}}}, // the line is the YAML parser's
		{"tab in indentation", "mappingRules:\n\t- name: a\n", []wantErr{{2, 0, "", 0, "", "malformed YAML: found character that cannot start any token"}}},
		{"empty file", ``, []wantErr{{0, 0, "", 0, "", "empty rule file"}}},
		{"comments only", "# nothing\n", []wantErr{{0, 0, "", 0, "", "empty rule file"}}},
		{"empty mapping", "{}\n", []wantErr{{1, 0, "", 0, "", "empty rule file"}}},
		{"two documents", "mappingRules: []\n---\nrollupRules: []\n", []wantErr{{2, 0, "", 0, "", "a second YAML document"}}},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
			[]wantErr{{1, 0, "", 0, "", "more than 1048576 values once its aliases are expanded"}}},
		{"merge key of a scalar", `
mappingRules:
  - <<: 5
    name: a
    filter: "app:x"
` + policy, []wantErr{{2, MappingRules, "a", 0, "", "a merge key (<<) wants a mapping"}}},
		{"unknown merged field", `
defaults: &d {filter: "app:x", retention: 2d}
mappingRules:
  - <<: *d
    name: a
` + policy, []wantErr{
			{1, 0, "", 0, "defaults", "unknown field"},
			{1, MappingRules, "a", 0, "retention", "unknown field"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.TrimPrefix(tc.doc, "\n")
			rs, err := Parse("rules.yaml", []byte(doc))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if rs != nil {
				t.Errorf("Parse returned a RuleSet with an error")
			}
			got := ErrorList(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.File != "rules.yaml" || g.Line != w.line || g.List != w.list || g.Rule != w.rule ||
					g.List != 0 && g.Rule == "" && g.Index != w.index || g.Field != w.field || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("error %d:\ngot  line %d %s %q [%d] field %q reason %q\nwant line %d %s %q [%d] field %q reason containing %q",
						i, g.Line, g.List, g.Rule, g.Index, g.Field, g.Reason, w.line, w.list, w.rule, w.index, w.field, w.reason)
				}
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	doc := `rollupRules:
  - name: http latency by route
    filter: "__name__:http_request_duration_seconds"
    transforms:
      - transform: {type: PerSecond}
      - rollup:
          metricName: x
          groupBy: [route]
          aggregations: [P50, P99, P98]
    storagePolicies: [{resolution: 1m, retention: 2d}]
`
	_, err := Parse("rules.yaml", []byte(doc))
	want := `rules.yaml:9: rollupRules "http latency by route": transforms[1].rollup.aggregations[2]: unknown aggregation "P98" (want one of Last, Min, Max, Mean, Median, Count, Sum, SumSq, Stdev, P10, P20, P25, P30, P40, P50, P60, P70, P75, P80, P90, P95, P99, P999, P9999, Increase, Rate)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%T, *Error) = false, want true", err)
	}

	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "r.yaml", Line: 3, List: MappingRules, Index: 2, Field: "name", Reason: "missing name"}, `r.yaml:3: mappingRules[2]: name: missing name`},
		{Error{File: "r.yaml", Line: 1, Field: "x", Reason: "unknown field"}, `r.yaml:1: x: unknown field`},
		{Error{Line: 1, Reason: "malformed YAML: oops"}, `line 1: malformed YAML: oops`},
		{Error{File: "r.yaml", Reason: "empty rule file"}, `r.yaml: empty rule file`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestErrorUnwrapsFilterError(t *testing.T) {
	_, err := Parse("r.yaml", []byte("mappingRules:\n  - {name: a, filter: 'app:[', storagePolicies: [{resolution: 1m, retention: 1h}]}\n"))
	var fe *FilterError
	if !errors.As(err, &fe) || fe.Column != 5 {
		t.Errorf("errors.As(err, *FilterError) gives %v, want column 5", fe)
	}
}
