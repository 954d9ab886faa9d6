package rules

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		kind    patKind
		yes, no []string
	}{
		{"http", patEqual, []string{"http"}, []string{"", "https", "htt", "HTTP"}},
		{"*", patAll, []string{"", "x", "anything at all"}, nil},
		{"http_*", patPrefix, []string{"http_", "http_requests"}, []string{"http", "grpc_x", "xhttp_"}},
		{"*_total", patSuffix, []string{"_total", "requests_total"}, []string{"total", "requests_totals"}},
		{"*error*", patContains, []string{"error", "an error here", "errors"}, []string{"err", "eror"}},
		{"a*z", patPrefixSuffix, []string{"az", "abcz", "a-z"}, []string{"a", "z", "za", "azy"}},
		{"aa*aa", patPrefixSuffix, []string{"aaaa", "aa_aa"}, []string{"aaa", "aa"}},
		{"{a,b,cd}", patLiterals, []string{"a", "b", "cd"}, []string{"", "c", "ab", "cdd"}},
		{"{a,}", patLiterals, []string{"a", ""}, []string{"b"}},
		{"?", patNFA, []string{"a", "é", "日"}, []string{"", "ab"}},
		{"h?llo", patNFA, []string{"hello", "hallo", "hällo"}, []string{"hllo", "heello"}},
		{"[a-c]x", patNFA, []string{"ax", "bx", "cx"}, []string{"dx", "x", "Ax"}},
		{"[!a-c]x", patNFA, []string{"dx", "Ax", "éx"}, []string{"ax", "cx", "x"}},
		{"[abc]", patNFA, []string{"a", "c"}, []string{"d", "ab"}},
		{"[a-cx-z0-9_]", patNFA, []string{"b", "y", "5", "_"}, []string{"d", "-"}},
		{"[-a]", patNFA, []string{"-", "a"}, []string{"b"}},
		{"[a-]", patNFA, []string{"-", "a"}, []string{"b"}},
		{"[é-ê]", patNFA, []string{"é", "ê"}, []string{"e", "ë"}},
		{"{http,grpc}_*", patNFA, []string{"http_x", "grpc_", "grpc_server"}, []string{"http", "rpc_x", "https_x"}},
		{"{*_total,*_count}", patNFA, []string{"a_total", "b_count", "_count"}, []string{"total", "a_sum"}},
		{"{a?,b[0-9]}z", patNFA, []string{"axz", "b7z"}, []string{"bxz", "az", "ab7z"}},
		{"a*b*c", patNFA, []string{"abc", "a_b_c", "abbbc", "acbc"}, []string{"ab", "acb", "bac"}},
		{"*a*b*a*", patNFA, []string{"aba", "xxaxxbxxaxx"}, []string{"ab", "baa"}},
		{"**x", patSuffix, []string{"x", "yx"}, []string{"xy"}},
		{"}a,b", patEqual, []string{"}a,b"}, []string{"a"}}, // '}' and ',' outside {...} are plain text
		{"!http_*", patPrefix, []string{"grpc", "http"}, []string{"http_", "http_x"}},
		{"!{a,b}", patLiterals, []string{"c", ""}, []string{"a", "b"}},
		{"!*", patAll, nil, []string{"", "x"}},
		{"x\\*", patPrefix, []string{"x\\", "x\\*", "x\\yz"}, []string{"x*", "xy"}}, // no escapes: '\' is plain text
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatalf("compilePattern(%q): %s", tc.pattern, err.reason)
			}
			if p.kind != tc.kind {
				t.Errorf("kind = %d, want %d", p.kind, tc.kind)
			}
			for _, s := range tc.yes {
				if !p.match(s) {
					t.Errorf("match(%q) = false, want true", s)
				}
			}
			for _, s := range tc.no {
				if p.match(s) {
					t.Errorf("match(%q) = true, want false", s)
				}
			}
		})
	}
}

func TestPatternInvalidUTF8Value(t *testing.T) {
	// An invalid byte of a value is one character that no literal equals.
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"a?b", "a\xffb", true},
		{"a[!x]b", "a\xffb", true},
		{"a\uFFFDb", "a\xffb", false},
		{"{a\uFFFD,c}?", "a\xffb", false},
	} {
		p, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("compilePattern(%q): %s", tc.pattern, err.reason)
		}
		if got := p.match(tc.value); got != tc.want {
			t.Errorf("%q.match(%q) = %v, want %v", tc.pattern, tc.value, got, tc.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		off     int
		reason  string
	}{
		{"!", 0, "negates nothing"},
		{"a[bc", 1, `unclosed "["`},
		{"a[!", 1, `unclosed "["`},
		{"[]", 0, "empty character class"},
		{"[!]", 0, "empty character class"},
		{"[z-a]", 1, "range z-a is reversed"},
		{"x{a,b", 1, `unclosed "{"`},
		{"{}", 0, `empty alternatives`},
		{"{a,{b}}", 3, `nested "{"`},
		{"{a,[b}", 3, `unclosed "["`},
		{"!{a", 1, `unclosed "{"`},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			_, err := compilePattern(tc.pattern)
			if err == nil {
				t.Fatalf("compilePattern(%q) = nil error, want %q", tc.pattern, tc.reason)
			}
			if err.off != tc.off || !strings.Contains(err.reason, tc.reason) {
				t.Errorf("got offset %d %q, want offset %d %q", err.off, err.reason, tc.off, tc.reason)
			}
		})
	}
}

func TestPatternLinearTime(t *testing.T) {
	// A pattern that makes backtracking matchers take exponential time.
	p, err := compilePattern(strings.Repeat("*a", 30) + "b")
	if err != nil {
		t.Fatal(err.reason)
	}
	if p.match(strings.Repeat("a", 10000)) {
		t.Fatal("match = true, want false")
	}
	long, err := compilePattern("{" + strings.Repeat("a*,", 200) + "b}" + strings.Repeat("?", 100))
	if err != nil {
		t.Fatal(err.reason)
	}
	if !long.match(strings.Repeat("a", 300)) {
		t.Fatal("match of a program over 256 states = false, want true")
	}
}
