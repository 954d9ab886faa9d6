package rules

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// TestExamples matches series against M3's documented rule examples and
// tumble's example file, expecting what their documentation says.
func TestExamples(t *testing.T) {
	bucket := func(drop ...string) *sample.Sample {
		kv := []string{"k8s_pod=web-1", "le=0.5", "git_sha=abc", "route=/pay", "status_code=200", "region=eu"}
		kv = slices.DeleteFunc(kv, func(p string) bool {
			for _, d := range drop {
				if len(p) > len(d) && p[:len(d)+1] == d+"=" {
					return true
				}
			}
			return false
		})
		return series("http_request_bucket", sample.Cumulative, kv...)
	}
	for _, tc := range []struct {
		file        string
		name        string
		s           *sample.Sample
		wantTargets []string
		wantDropped bool
	}{
		// Mapping rules: mysql metrics at 1m:48h, nginx metrics at 30s:24h and 1m:48h.
		{"m3/mapping_rules.yaml", "mysql", series("mysql_queries", sample.Counter, "app=mysql-primary"),
			[]string{`mysql_queries{app="mysql-primary"} [Last] 1m:2d`}, false},
		{"m3/mapping_rules.yaml", "nginx", series("nginx_requests", sample.Gauge, "app=nginx-edge", "pod=a"),
			[]string{`nginx_requests{app="nginx-edge", pod="a"} [Last] 30s:1d,1m:2d`}, false},
		{"m3/mapping_rules.yaml", "other app", series("pg_queries", sample.Gauge, "app=postgres"), nil, false},
		{"m3/mapping_rules.yaml", "no app", series("mysql_queries", sample.Gauge), nil, false},

		// Rollup rules: the buckets without the pod, as a monotonic counter.
		{"m3/rollup_rules.yaml", "bucket", bucket(),
			[]string{`http_request_rollup_no_pod_bucket{git_sha="abc", le="0.5", region="eu", route="/pay", status_code="200"} [Sum] 30s:30d pre=Increase post=Add`}, false},
		{"m3/rollup_rules.yaml", "bucket without a groupBy tag", bucket("region"), nil, false},
		{"m3/rollup_rules.yaml", "bucket without a filter tag", bucket("k8s_pod"), nil, false},
		{"m3/rollup_rules.yaml", "another metric", series("http_request_count", sample.Cumulative, "k8s_pod=a", "le=1", "git_sha=x", "route=/"), nil, false},

		// Drop the raw buckets, keep the rollup under the same name.
		{"m3/rollup_drop_raw.yaml", "bucket", bucket(),
			[]string{`http_request_bucket{git_sha="abc", le="0.5", region="eu", route="/pay", status_code="200"} [Sum] 30s:30d pre=Increase post=Add`}, true},
		{"m3/rollup_drop_raw.yaml", "bucket without a groupBy tag is dropped and not rolled up", bucket("status_code"), nil, true},
		{"m3/rollup_drop_raw.yaml", "bucket without a filter tag is kept", bucket("git_sha"), nil, false},

		// Requests per second by status code.
		{"m3/requests_per_second.yaml", "requests", series("http_requests", sample.Cumulative, "app=shop", "status_code=500", "endpoint=/buy", "instance=i-1"),
			[]string{`http_requests_by_status_code{app="shop", endpoint="/buy", status_code="500"} [Sum] 5s:6h pre=PerSecond`}, false},

		// tumble's example.
		{"example.yaml", "gauge", series("memory_bytes", sample.Gauge, "service=api", "pod=p1"),
			[]string{`memory_bytes{pod="p1", service="api"} [Last Max] 1m:40d`}, false},
		{"example.yaml", "debug gauge", series("debug_queue_depth", sample.Gauge, "service=api"), nil, true},
		{"example.yaml", "counter is not a gauge", series("jobs", sample.Counter, "service=api"), nil, false},
		{"example.yaml", "latency", series("http_request_duration_seconds", sample.Timer, "service=api", "route=/pay", "pod=p1"),
			[]string{`http_request_duration_seconds_by_route{route="/pay", service="api"} [Count Sum P50 P90 P99 P999] 10s:2d,1m:40d`}, false},
		{"example.yaml", "latency sent as a gauge", series("http_request_duration_seconds", sample.Gauge, "service=api", "route=/pay"),
			[]string{`http_request_duration_seconds{route="/pay", service="api"} [Last Max] 1m:40d`}, false},
		{"example.yaml", "requests", series("http_requests_total", sample.Cumulative, "service=api", "status=200", "pod=p1"),
			[]string{`http_requests_by_status{service="api", status="200"} [Sum] 10s:2d,1m:40d pre=Increase`}, false},
	} {
		t.Run(tc.file+"/"+tc.name, func(t *testing.T) {
			rs, err := ParseFile(filepath.Join("..", "testdata", "rules", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			res := NewMatcher(rs, MatcherOptions{}).Match(tc.s)
			if got := targetStrings(res.Targets); !slices.Equal(got, tc.wantTargets) {
				t.Errorf("targets:\ngot  %q\nwant %q", got, tc.wantTargets)
			}
			if res.Dropped != tc.wantDropped {
				t.Errorf("dropped: got %v, want %v", res.Dropped, tc.wantDropped)
			}
		})
	}
}

// TestExampleRollupMeetsOnOneSeries checks that the samples of two
// instances feed one output series.
func TestExampleRollupMeetsOnOneSeries(t *testing.T) {
	rs, err := ParseFile("../testdata/rules/m3/requests_per_second.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(rs, MatcherOptions{})
	a := m.Match(series("http_requests", sample.Cumulative, "app=shop", "status_code=500", "endpoint=/buy", "instance=i-1"))
	b := m.Match(series("http_requests", sample.Cumulative, "app=shop", "status_code=500", "endpoint=/buy", "instance=i-2"))
	if len(a.Targets) != 1 || len(b.Targets) != 1 {
		t.Fatalf("got %d and %d targets, want 1 each", len(a.Targets), len(b.Targets))
	}
	if a.Targets[0].ID != b.Targets[0].ID || a.Targets[0].Key != b.Targets[0].Key {
		t.Errorf("the instances feed different series: %s and %s", targetString(a.Targets[0]), targetString(b.Targets[0]))
	}
}
