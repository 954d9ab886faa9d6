package rules

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/aggregator"
	goldenfile "github.com/tumblemetrics/tumble/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name+".golden"), got, *update)
}

func describe(t *testing.T, rs *RuleSet) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := rs.Describe(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"bare", `
mappingRules:
  - name: mysql
    filter: app:mysql*
    aggregations: [Last]
    storagePolicies: [{resolution: 1m, retention: 48h}]
rollupRules:
  - name: requests by app
    filter: __name__:requests app:*
    transforms:
      - rollup:
          metricName: requests_by_app
          groupBy: [app]
          aggregations: [Sum, Count]
    storagePolicies: [{resolution: 10s, retention: 2d}]
`},
		{"downsample", `
downsample:
  rules:
    mappingRules:
      - name: everything
        filter: "__name__:*"
        aggregations: [Max]
        storagePolicies:
          - resolution: 1m
            retention: 720h
`},
		{"exclude_by", `
rollupRules:
  - name: without pod
    filter: "__name__:cpu_seconds __m3_type__:gauge"
    transforms:
      - rollup:
          metricName: cpu_seconds_no_pod
          excludeBy: [pod, instance]
          aggregations: [Mean, Max, P95]
    tags:
      - {name: rolled_up, value: "true"}
    storagePolicies: [{resolution: 30s, retention: 7d}]
`},
		{"aggregate", `
rollupRules:
  - name: rate max
    filter: "__name__:bytes_total"
    transforms:
      - transform: {type: PerSecond}
      - aggregate: {type: Max}
      - transform: {type: Add}
    storagePolicies: [{resolution: 1m, retention: 1w}]
`},
		{"template", `
rollupRules:
  - name: per service
    filter: "__name__:{http,grpc}_requests service:*"
    transforms:
      - rollup:
          metricName: "{{ .MetricName }}_by_service"
          groupBy: [service]
          aggregations: [Sum]
    storagePolicies: [{resolution: 10s, retention: 1d12h}]
`},
		{"defaults", `
mappingRules:
  - name: timers by default
    filter: "__m3_type__:timer team:payments"
    storagePolicies: [{resolution: 10s, retention: 2d}]
  - name: anything by default
    filter: "team:search"
    storagePolicies: [{resolution: 1m, retention: 1y}]
rollupRules:
  - name: increase by default
    filter: "__name__:jobs_total"
    transforms:
      - transform: {type: Increase}
      - rollup: {metricName: jobs, groupBy: [queue]}
    storagePolicies: [{resolution: 1m, retention: 30d}]
`},
		{"anchors", `
mappingRules:
  - name: a
    filter: "__name__:a"
    aggregations: [Last]
    storagePolicies: &keep
      - resolution: 10s
        retention: 2d
      - resolution: 5m
        retention: 90d
  - name: b
    filter: "__name__:b"
    aggregations: [Sum]
    storagePolicies: *keep
`},
		{"merge", `
mappingRules:
  - &base
    name: a
    filter: "__name__:a"
    aggregations: [Last]
    storagePolicies: [{resolution: 1m, retention: 2d}]
  - <<: *base
    name: b
    filter: "__name__:b"
  - <<: [*base]
    name: c
    aggregations: [Max]
`},
		{"empty_list", `
mappingRules: []
rollupRules:
  - name: only
    filter: "__name__:x"
    transforms: [{aggregate: {type: Count}}]
    storagePolicies: [{resolution: 1s, retention: 1h}]
`},
		{"tags_and_nothing_grouped", `
mappingRules:
  - name: tagged
    filter: "env:prod"
    aggregations: [Last]
    tags: [{name: tier, value: gold}, {name: env, value: production}]
    storagePolicies: [{resolution: 1m, retention: 2d}]
rollupRules:
  - name: total
    filter: "__name__:requests"
    transforms:
      - rollup: {metricName: requests_all, groupBy: [], aggregations: [Sum]}
    storagePolicies: [{resolution: 1m, retention: 2d}, {resolution: 10s, retention: 1d}]
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Parse(tc.name+".yaml", []byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			golden(t, "parse_"+tc.name, describe(t, rs))
		})
	}
}

// TestParseExamples parses the rule files under testdata/rules and checks
// their summaries.
func TestParseExamples(t *testing.T) {
	files, err := filepath.Glob("../testdata/rules/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m3, err := filepath.Glob("../testdata/rules/m3/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, m3...)
	if len(files) < 5 {
		t.Fatalf("found %d example files, want the M3 examples and example.yaml", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel("../testdata/rules", f)
		name := strings.TrimSuffix(strings.ReplaceAll(rel, string(filepath.Separator), "_"), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(filepath.Base(f), data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			golden(t, "example_"+name, describe(t, rs))
		})
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "read rule file: ") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("ParseFile of a missing file: got %v, want a wrapped not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		type unwrapper interface{ Unwrap() error }
		u, ok := err.(unwrapper)
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestRuleSetAccessors(t *testing.T) {
	rs := mustParse(t, matchRules)
	if rs.File() != "test.yaml" || rs.Len() != 7 || len(rs.MappingRules()) != 4 || len(rs.RollupRules()) != 3 {
		t.Fatalf("got file %q, %d rules (%d mapping, %d rollup), want test.yaml, 7 (4, 3)",
			rs.File(), rs.Len(), len(rs.MappingRules()), len(rs.RollupRules()))
	}
	for i, r := range rs.Rules() {
		if r.ID != i {
			t.Errorf("rule %s: ID %d, want %d", r, r.ID, i)
		}
	}
	for _, tc := range []struct {
		list List
		name string
		want string
	}{
		{MappingRules, "tag api", `mappingRules "tag api" map line 7 tags {env="all", tier="gold"}`},
		{MappingRules, "drop debug", `mappingRules "drop debug" drop line 16 tags {}`},
		{RollupRules, "by route", `rollupRules "by route" rollup line 20 tags {} name req_by_route by [app route] exclude false`},
		{RollupRules, "without pod", `rollupRules "without pod" rollup line 28 tags {rolled="yes"} name {{ .MetricName }}_no_pod by [pod] exclude true pre PerSecond post Add`},
		{RollupRules, "max per series", `rollupRules "max per series" aggregate line 39 tags {}`},
	} {
		r := rs.Rule(tc.list, tc.name)
		if r == nil {
			t.Fatalf("Rule(%s, %q) = nil", tc.list, tc.name)
		}
		got := fmt.Sprintf("%s %s line %d tags %s", r, r.Op, r.Line, r.Tags)
		if r.Op == Rollup {
			got += fmt.Sprintf(" name %s by %v exclude %v", r.MetricName, r.GroupLabels, r.Exclude)
		}
		if r.Pre != aggregator.NoTransform || r.Post != aggregator.NoTransform {
			got += fmt.Sprintf(" pre %s post %s", r.Pre, r.Post)
		}
		if got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	if r := rs.Rule(RollupRules, "keep api"); r != nil {
		t.Errorf("Rule(rollupRules, a mapping rule's name) = %s, want nil", r)
	}
	unnamed := &Rule{List: RollupRules, Index: 3}
	if got := unnamed.String(); got != "rollupRules[3]" {
		t.Errorf("String of an unnamed rule = %q, want rollupRules[3]", got)
	}
}
