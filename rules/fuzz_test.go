package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tumblemetrics/tumble/sample"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/rules/*.yaml")
	m3, _ := filepath.Glob("../testdata/rules/m3/*.yaml")
	for _, file := range append(files, m3...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(matchRules))
	f.Add([]byte("mappingRules:\n  - {name: a, filter: 'app:[', aggregations: [P98, P50, Median]}\n"))
	f.Add([]byte("rollupRules:\n  - name: r\n    filter: 'app:x'\n    transforms: [{transform: {type: Increase}}, {rollup: {metricName: y, groupBy: [a], excludeBy: [b], aggregations: [P99]}}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("mappingRules:\n  - &r {name: a, <<: *r}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse("fuzz.yaml", data)
		if (rs == nil) == (err == nil) {
			t.Fatalf("Parse returned RuleSet %v and error %v: want exactly one", rs != nil, err)
		}
		if err != nil {
			members := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				members = j.Unwrap()
			}
			if len(members) == 0 {
				t.Fatal("an error joining nothing")
			}
			for _, m := range members {
				var e *Error
				if !errors.As(m, &e) || e != m {
					t.Fatalf("error %T %q is not an *Error", m, m)
				}
				if e.Reason == "" || e.File != "fuzz.yaml" {
					t.Fatalf("error without a reason or file: %#v", e)
				}
			}
			if len(ErrorList(err)) != len(members) {
				t.Fatalf("ErrorList found %d errors, want %d", len(ErrorList(err)), len(members))
			}
			return
		}
		var b bytes.Buffer
		if err := rs.Describe(&b); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs.Rules() {
			if r.ID != i || r.Filter == nil || (r.Op != Drop && len(r.Policies) == 0) {
				t.Fatalf("rule %s: ID %d, filter %v, %d policies", r, r.ID, r.Filter, len(r.Policies))
			}
		}
		m := NewMatcher(rs, MatcherOptions{CacheSize: 2})
		for _, s := range []*sample.Sample{
			series("x", sample.Gauge, "app=x"),
			series("http_request_bucket", sample.Timer, "app=x", "le=1", "route=/"),
		} {
			m.Match(s)
		}
	})
}

func FuzzFilter(f *testing.F) {
	for _, seed := range []struct{ filter, name, labels string }{
		{"__name__:http_* app:web", "http_requests", "app=web,pod=a"},
		{"env:!{prod,staging} code:5[0-9][!0]", "x", "env=dev,code=501"},
		{"route:{/api/*,/v?/*}", "x", "route=/v1/users"},
		{"__m3_type__:{gauge,timer}", "x", ""},
		{"a*b*c", "aXbYc", ""},
		{"app:[a-", "x", "app=a"},
		{"app:{a,{b}}", "x", "app=b"},
		{"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaa", ""},
		{"x:é?[à-ü]", "x", "x=éaü"},
	} {
		f.Add(seed.filter, seed.name, seed.labels)
	}
	f.Fuzz(func(t *testing.T, filter, name, labels string) {
		s := fuzzSeries(name, labels)
		// The filter.
		flt, err := ParseFilter(filter)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Column < 1 || fe.Column > len(filter)+1 {
				t.Fatalf("ParseFilter(%q): error %v, want a *FilterError within the filter", filter, err)
			}
		} else {
			got := flt.MatchSample(s)
			if want, ok := refFilter(filter, s); ok && got != want {
				t.Fatalf("%q on %s%s %s: got %v, reference %v", filter, s.Name, s.Labels, s.Type, got, want)
			}
		}
		// The same text as one pattern, on the name.
		p, gerr := compilePattern(filter)
		if gerr != nil {
			if gerr.off < 0 || gerr.off > len(filter) {
				t.Fatalf("compilePattern(%q): offset %d out of range", filter, gerr.off)
			}
			return
		}
		got := p.match(name)
		if re, ok := refRegexp(filter); ok && utf8.ValidString(filter) && utf8.ValidString(name) {
			if want := re.MatchString(name) != strings.HasPrefix(filter, "!"); got != want {
				t.Fatalf("pattern %q (kind %d) on %q: got %v, reference %v (%s)", filter, p.kind, name, got, want, re)
			}
		}
	})
}

// fuzzSeries builds a series from "k=v,k=v"; its type follows the name's
// length.
func fuzzSeries(name, labels string) *sample.Sample {
	m := map[string]string{}
	for _, kv := range strings.Split(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	ls := sample.FromMap(m)
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return &sample.Sample{Name: name, Labels: ls, Type: sample.Type(len(name)%4 + 1)}
}

// refFilter evaluates filter on s with the reference glob; ok is false when
// the reference cannot judge it.
func refFilter(filter string, s *sample.Sample) (bool, bool) {
	all := true
	for _, term := range strings.FieldsFunc(filter, func(r rune) bool { return r == ' ' || r == '\t' }) {
		tag, pat, _ := strings.Cut(term, ":")
		var value string
		switch tag {
		case NameTag:
			value = s.Name
		case TypeTag:
			value = s.Type.String()
		default:
			v, ok := s.Labels.Get(tag)
			if !ok {
				all = false
				continue
			}
			value = v
		}
		re, ok := refRegexp(pat)
		if !ok || !utf8.ValidString(value) {
			return false, false
		}
		if re.MatchString(value) == strings.HasPrefix(pat, "!") {
			all = false
		}
	}
	return all, true
}

// refRegexp translates a glob into a regular expression, independently of
// the package's parser; a leading ! is left to the caller.
func refRegexp(glob string) (*regexp.Regexp, bool) {
	rs := []rune(strings.TrimPrefix(glob, "!"))
	var b strings.Builder
	b.WriteString(`^(?s:`)
	inAlt := false
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '*':
			b.WriteString(`.*`)
		case c == '?':
			b.WriteString(`.`)
		case c == '[':
			j := i + 1
			b.WriteString(`[`)
			if j < len(rs) && rs[j] == '!' {
				b.WriteString(`^`)
				j++
			}
			start := j
			for j < len(rs) && rs[j] != ']' {
				lo := rs[j]
				j++
				if j+1 < len(rs) && rs[j] == '-' && rs[j+1] != ']' {
					fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, rs[j+1])
					j += 2
				} else {
					fmt.Fprintf(&b, `\x{%x}`, lo)
				}
			}
			if j >= len(rs) || j == start {
				return nil, false
			}
			b.WriteString(`]`)
			i = j
		case c == '{' && !inAlt:
			inAlt = true
			b.WriteString(`(?:`)
		case c == ',' && inAlt:
			b.WriteString(`|`)
		case c == '}' && inAlt:
			inAlt = false
			b.WriteString(`)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if inAlt {
		return nil, false
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	return re, err == nil
}
