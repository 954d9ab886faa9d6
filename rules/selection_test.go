package rules

import (
	"testing"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

func TestTraceSelection(t *testing.T) {
	const doc = `
traceSelection: {tenantLabel: team, tenantMaxPerSecond: 50}
mappingRules:
  - name: defaults
    filter: "__name__:a"
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: p99 listed
    filter: "__name__:b"
    aggregations: [P50, P99]
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: no percentile
    filter: "__name__:c"
    aggregations: [Sum, Max]
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: chosen
    filter: "__name__:d"
    aggregations: [P99, P999, Max]
    traceSelection: {aggregations: [P999, Max], maxPerSecond: 2.5}
    storagePolicies: [{resolution: 10s, retention: 1d}]
  - name: off
    filter: "__name__:e"
    aggregations: [P99]
    traceSelection: {aggregations: []}
    storagePolicies: [{resolution: 10s, retention: 1d}]
rollupRules:
  - name: rollup without the tenant
    filter: "__name__:f"
    transforms:
      - rollup: {metricName: f_by_route, groupBy: [route], aggregations: [P99]}
    traceSelection: {maxPerSecond: 0}
    storagePolicies: [{resolution: 10s, retention: 1d}]
`
	rs, err := Parse("sel.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rs.SelectionTenants(), (SelectionTenants{TenantLabel: "team", TenantPerSecond: 50}); got != want {
		t.Errorf("selection tenants: got %+v, want %+v", got, want)
	}
	m := NewMatcher(rs, MatcherOptions{})
	in := sample.Labels{{Name: "route", Value: "/pay"}, {Name: "team", Value: "payments"}}
	for _, tc := range []struct {
		metric string
		want   *aggregator.SelectionSpec
	}{
		{"a", &aggregator.SelectionSpec{Rule: "defaults", Aggregations: aggregator.SetOf(aggregator.P99), PerSecond: DefaultTracesPerSecond, Tenant: "payments", TenantPerSecond: 50}},
		{"b", &aggregator.SelectionSpec{Rule: "p99 listed", Aggregations: aggregator.SetOf(aggregator.P99), PerSecond: DefaultTracesPerSecond, Tenant: "payments", TenantPerSecond: 50}},
		{"c", nil},
		{"d", &aggregator.SelectionSpec{Rule: "chosen", Aggregations: aggregator.SetOf(aggregator.P999, aggregator.Max), PerSecond: 2.5, Tenant: "payments", TenantPerSecond: 50}},
		{"e", nil},
		{"f", &aggregator.SelectionSpec{Rule: "rollup without the tenant", Aggregations: aggregator.SetOf(aggregator.P99), TenantPerSecond: 50}},
	} {
		s := sample.Sample{Name: tc.metric, Labels: in, Type: sample.Timer, Value: 1}
		res := m.Match(&s)
		if len(res.Targets) != 1 {
			t.Fatalf("%s: %d targets", tc.metric, len(res.Targets))
		}
		got := res.Targets[0].Selects
		if !got.Equal(tc.want) {
			t.Errorf("%s: selection spec %+v, want %+v", tc.metric, got, tc.want)
		}
		if got != nil && !got.Valid() {
			t.Errorf("%s: selection spec %+v not valid", tc.metric, got)
		}
	}
}
