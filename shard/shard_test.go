package shard

import (
	"fmt"
	"math"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// TestStable: the shard of a series is part of the data layout of every
// running cluster; these values must never change.
func TestStable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels sample.Labels
		shards int
		want   int
	}{
		{"http_request_duration_seconds_by_route", sample.Labels{{Name: "route", Value: "/pay"}, {Name: "service", Value: "checkout"}}, 16, 3},
		{"http_request_duration_seconds_by_route", sample.Labels{{Name: "route", Value: "/cart"}, {Name: "service", Value: "checkout"}}, 16, 15},
		{"http_requests_by_status", sample.Labels{{Name: "service", Value: "checkout"}, {Name: "status", Value: "200"}}, 7, 5},
		{"up", nil, 1, 0},
	} {
		t.Run(fmt.Sprintf("%s%s/%d", tc.name, tc.labels, tc.shards), func(t *testing.T) {
			if got := Of(tc.labels.Hash(tc.name), tc.shards); got != tc.want {
				t.Errorf("got shard %d, want %d", got, tc.want)
			}
		})
	}
}

// TestUniform: 100k series spread over 16 shards within 5% of even.
func TestUniform(t *testing.T) {
	const n, shards = 100_000, 16
	var counts [shards]int
	for i := range n {
		ls := sample.Labels{{Name: "pod", Value: fmt.Sprintf("pod-%d", i)}}
		counts[Of(ls.Hash("m"), shards)]++
	}
	for s, c := range counts {
		if math.Abs(float64(c)-n/shards) > 0.05*n/shards {
			t.Errorf("shard %d holds %d series, want %d ± 5%%", s, c, n/shards)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		shards int
		ok     bool
	}{{0, false}, {1, true}, {64, true}, {MaxShards, true}, {MaxShards + 1, false}, {-3, false}} {
		if err := Validate(tc.shards); (err == nil) != tc.ok {
			t.Errorf("Validate(%d): got %v, want ok=%v", tc.shards, err, tc.ok)
		}
	}
}
