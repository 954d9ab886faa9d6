package rules_test

import (
	"fmt"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

func ExampleMatcher() {
	rs, err := rules.Parse("rules.yaml", []byte(`
rollupRules:
  - name: http latency by route
    filter: "__name__:http_request_duration_seconds __m3_type__:timer"
    transforms:
      - rollup:
          metricName: http_request_duration_seconds_by_route
          groupBy: [service, route]
          aggregations: [P99, Count]
    storagePolicies: [{resolution: 10s, retention: 2d}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := rules.NewMatcher(rs, rules.MatcherOptions{})
	s := sample.Sample{
		Name:   "http_request_duration_seconds",
		Labels: sample.FromMap(map[string]string{"service": "checkout", "route": "/pay", "pod": "checkout-7f9c"}),
		Type:   sample.Timer, Value: 0.182, TimestampMs: 1763800000123,
	}
	res := m.Match(&s)
	for _, t := range res.Targets {
		fmt.Println(t.Name, t.Labels, t.Aggregations, t.Policies[0])
	}
	fmt.Println(m.RuleCount(rs.Rule(rules.RollupRules, "http latency by route")))
	// Output:
	// http_request_duration_seconds_by_route {route="/pay", service="checkout"} [Count P99] 10s:2d
	// 1
}

func ExampleParse_errors() {
	_, err := rules.Parse("rules.yaml", []byte(`
rollupRules:
  - name: requests
    filter: "__name__:http_requests_total"
    transforms:
      - transform: {type: Increase}
      - rollup: {metricName: requests, groupBy: [service], aggregations: [Sum, P99, P98]}
`))
	for _, e := range rules.ErrorList(err) {
		fmt.Println(e)
	}
	// Output:
	// rules.yaml:3: rollupRules "requests": storagePolicies: missing storagePolicies: say at which resolution and for how long to keep the output
	// rules.yaml:7: rollupRules "requests": transforms[1].rollup.aggregations[2]: unknown aggregation "P98" (want one of Last, Min, Max, Mean, Median, Count, Sum, SumSq, Stdev, P10, P20, P25, P30, P40, P50, P60, P70, P75, P80, P90, P95, P99, P999, P9999, Increase, Rate)
	// rules.yaml:7: rollupRules "requests": transforms[1].rollup.aggregations[1]: P99 is not defined on counter values, which the Increase transform before it yields
}
