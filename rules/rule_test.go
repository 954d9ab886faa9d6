package rules

import (
	"slices"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// TestTargetRule: a target names the rule that made it; of equal targets
// of two rules, the first rule's is kept.
func TestTargetRule(t *testing.T) {
	rs := mustParse(t, matchRules)
	res := NewMatcher(rs, MatcherOptions{}).Match(series("req", sample.Timer, "app=api", "route=/a", "pod=p1"))
	got := make([]string, len(res.Targets))
	for i, tg := range res.Targets {
		got[i] = tg.Rule
		if tg.Selects != nil && tg.Selects.Rule != tg.Rule {
			t.Errorf("target %s: selection spec of rule %q, target of %q", targetString(tg), tg.Selects.Rule, tg.Rule)
		}
	}
	// "keep api again" makes the target of "keep api".
	if want := []string{"keep api", "by route", "without pod"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
