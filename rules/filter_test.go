package rules

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// series is a test series: name, type and labels as "k=v" pairs.
func series(name string, typ sample.Type, kv ...string) *sample.Sample {
	m := map[string]string{}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return &sample.Sample{Name: name, Type: typ, Labels: sample.FromMap(m), Value: 1, TimestampMs: 1}
}

func TestFilterMatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter string
		s      *sample.Sample
		want   bool
	}{
		{"literal tag", "app:mysql", series("up", sample.Gauge, "app=mysql"), true},
		{"literal tag differs", "app:mysql", series("up", sample.Gauge, "app=mysql2"), false},
		{"missing tag", "app:*", series("up", sample.Gauge, "env=prod"), false},
		{"star requires the tag", "app:* env:*", series("up", sample.Gauge, "app=", "env=x"), true},
		{"prefix", "app:mysql*", series("up", sample.Gauge, "app=mysql-primary"), true},
		{"suffix", "app:*sql", series("up", sample.Gauge, "app=postgresql"), true},
		{"contains", "app:*ngin*", series("up", sample.Gauge, "app=edge-nginx-1"), true},
		{"single character", "pod:web-?", series("up", sample.Gauge, "pod=web-7"), true},
		{"single character too many", "pod:web-?", series("up", sample.Gauge, "pod=web-17"), false},
		{"range", "code:5[0-9][0-9]", series("up", sample.Gauge, "code=503"), true},
		{"range misses", "code:5[0-9][0-9]", series("up", sample.Gauge, "code=404"), false},
		{"negated range", "code:[!5]*", series("up", sample.Gauge, "code=404"), true},
		{"negated range misses", "code:[!5]*", series("up", sample.Gauge, "code=503"), false},
		{"alternatives", "env:{prod,staging}", series("up", sample.Gauge, "env=staging"), true},
		{"alternatives miss", "env:{prod,staging}", series("up", sample.Gauge, "env=dev"), false},
		{"alternatives with globs", "route:{/api/*,/v?/*}", series("up", sample.Gauge, "route=/v2/users"), true},
		{"negation", "env:!prod", series("up", sample.Gauge, "env=dev"), true},
		{"negation misses", "env:!prod", series("up", sample.Gauge, "env=prod"), false},
		{"negation of a missing tag", "env:!prod", series("up", sample.Gauge), false},
		{"graphite path component", "__g1__:api*", series("servers_api1_cpu", sample.Gauge, "__g0__=servers", "__g1__=api1", "__g2__=cpu"), true},
		{"graphite path component misses", "__g1__:api*", series("servers_db1_cpu", sample.Gauge, "__g0__=servers", "__g1__=db1"), false},
		{"negated glob", "env:!{prod,staging}", series("up", sample.Gauge, "env=dev"), true},
		{"name", "__name__:http_requests_total", series("http_requests_total", sample.Cumulative), true},
		{"name misses", "__name__:http_requests_total", series("http_requests", sample.Cumulative), false},
		{"name glob", "__name__:http_*", series("http_requests", sample.Cumulative), true},
		{"negated name", "__name__:!debug_*", series("debug_x", sample.Gauge), false},
		{"negated name passes", "__name__:!debug_*", series("up", sample.Gauge), true},
		{"type", "__m3_type__:timer", series("rt", sample.Timer), true},
		{"type misses", "__m3_type__:timer", series("rt", sample.Gauge), false},
		{"type cumulative", "__m3_type__:cumulative", series("c", sample.Cumulative), true},
		{"type counter is not cumulative", "__m3_type__:counter", series("c", sample.Cumulative), false},
		{"type glob", "__m3_type__:{gauge,timer}", series("c", sample.Timer), true},
		{"type negated", "__m3_type__:!timer", series("c", sample.Counter), true},
		{"all terms hold", "__name__:http_* app:web env:!dev", series("http_x", sample.Timer, "app=web", "env=prod", "pod=a"), true},
		{"one term fails", "__name__:http_* app:web env:!dev", series("http_x", sample.Timer, "app=web", "env=dev", "pod=a"), false},
		{"tabs and spaces", "  app:web\t env:prod ", series("x", sample.Gauge, "app=web", "env=prod"), true},
		{"colon in the value", "addr:*:8080", series("x", sample.Gauge, "addr=10.0.0.1:8080"), true},
		{"first of many labels", "a:1", series("x", sample.Gauge, "a=1", "b=2", "c=3"), true},
		{"last of many labels", "c:3", series("x", sample.Gauge, "a=1", "b=2", "c=3"), true},
		{"labels between", "a:1 c:3", series("x", sample.Gauge, "a=1", "b=2", "c=3"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFilter(tc.filter)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
			}
			if got := f.MatchSample(tc.s); got != tc.want {
				t.Errorf("%q matches %s%s: got %v, want %v", tc.filter, tc.s.Name, tc.s.Labels, got, tc.want)
			}
		})
	}
}

func TestFilterTypes(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   []sample.Type
		typed  bool
	}{
		{"app:x", nil, false},
		{"__m3_type__:gauge", []sample.Type{sample.Gauge}, true},
		{"__m3_type__:{counter,timer}", []sample.Type{sample.Counter, sample.Timer}, true},
		{"__m3_type__:c*", []sample.Type{sample.Counter, sample.Cumulative}, true},
		{"__m3_type__:!timer", []sample.Type{sample.Counter, sample.Cumulative, sample.Gauge}, true},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		got, typed := f.Types()
		if !slices.Equal(got, tc.want) || typed != tc.typed {
			t.Errorf("%q: Types() = %v, %v, want %v, %v", tc.filter, got, typed, tc.want, tc.typed)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		filter string
		column int
		reason string
	}{
		{"", 1, "empty filter"},
		{"   ", 1, "empty filter"},
		{"app", 1, `term "app" has no colon`},
		{"app:x env", 7, `term "env" has no colon`},
		{":x", 1, "empty tag name"},
		{"app:", 5, `tag "app" has an empty pattern`},
		{"app:x app:y", 7, `tag "app" appears twice`},
		{"app:x route:/a/[b", 16, `unclosed "["`},
		{"env:{prod,dev", 5, `unclosed "{"`},
		{"env:!", 5, "a lone ! negates nothing"},
		{"code:[9-0]", 7, "reversed"},
		{"__m3_type__:histogram", 13, "matches no sample type"},
		{"__rollup__:x", 1, "is internal"},
		{"__g0x__:x", 1, "is internal"},
		{"app:\xff", 5, "not valid UTF-8"},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			_, err := ParseFilter(tc.filter)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter(%q) = %v, want a *FilterError", tc.filter, err)
			}
			if fe.Column != tc.column || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("got column %d %q, want column %d %q", fe.Column, fe.Reason, tc.column, tc.reason)
			}
		})
	}
}
