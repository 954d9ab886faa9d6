package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// rulesCheckCmd validates a rule file and describes what each rule does.
func rulesCheckCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 1 {
		return exitError, fmt.Errorf("rules check: want one rule file, got %d arguments", len(pos))
	}
	rs, err := rules.ParseFile(pos[0])
	if err != nil {
		return exitError, err
	}
	if err := rs.Describe(stdout); err != nil {
		return exitError, fmt.Errorf("rules check: %w", err)
	}
	return exitOK, nil
}

// rulesTestCmd shows, for each sample of a file, the rules it hits and the
// series it feeds.
func rulesTestCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "JSON samples, one per line; - reads stdin (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) != 1 {
		return exitError, fmt.Errorf("rules test: want one rule file, got %d arguments", len(pos))
	}
	if *input == "" {
		return exitError, fmt.Errorf("rules test: --input is required")
	}
	rs, in, err := openRulesAndInput(pos[0], *input, stdin)
	if err != nil {
		return exitError, err
	}
	defer in.Close()
	m := rules.NewMatcher(rs, rules.MatcherOptions{})
	w := bufio.NewWriter(stdout)
	skipped, line := 0, 0
	skip := func(le replay.LineError) {
		skipped++
		fmt.Fprintf(stderr, "%s: %v\n", *input, le)
	}
	err = replay.EachSample(in, skip, &line, func(s *sample.Sample) error {
		describeMatch(w, s, m.Match(s))
		return nil
	})
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("rules test: write: %w", ferr)
	}
	if err != nil {
		return exitError, err
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "rules test: %d of %d lines skipped\n", skipped, line)
		return exitSkipped, nil
	}
	return exitOK, nil
}

// describeMatch writes which rules sample s hits and which series it feeds.
func describeMatch(w io.Writer, s *sample.Sample, res rules.Result) {
	fmt.Fprintf(w, "%s%s %s\n", s.Name, s.Labels, s.Type)
	if len(res.Rules) == 0 {
		fmt.Fprintln(w, "  no rule matches: the sample is not kept")
		return
	}
	for _, r := range res.Rules {
		fmt.Fprintf(w, "  matches %s %q (line %d, %s)\n", r.List, r.Name, r.Line, r.Op)
	}
	if res.Dropped && len(res.Targets) == 0 {
		fmt.Fprintln(w, "  dropped: no output series")
	}
	seen := map[string]uint64{}
	for _, t := range res.Targets {
		aggs := t.Aggregations
		if aggs == 0 {
			aggs = aggregator.Defaults(t.Pre.Effective(s.Type))
		}
		var pols []string
		for _, p := range t.Policies {
			pols = append(pols, p.String())
		}
		var pipe string
		if t.Pre != aggregator.NoTransform {
			pipe += " after " + t.Pre.String()
		}
		if t.Post != aggregator.NoTransform {
			pipe += " then " + t.Post.String()
		}
		fmt.Fprintf(w, "  feeds %s%s %s%s at %s\n", t.Name, t.Labels, aggs, pipe, strings.Join(pols, ", "))
		typ := t.Pre.Effective(s.Type)
		for _, a := range aggs.Types() {
			name := aggregator.OutputName(t.Name, a, aggs.Len())
			ls := aggregator.OutputLabels(t.Labels, a, aggs.Len())
			if !a.Supports(typ) {
				fmt.Fprintf(w, "    %s%s: not kept, %s is not defined on %s values\n", name, ls, a, typ)
				continue
			}
			fmt.Fprintf(w, "    %s%s (%s)\n", name, ls, a)
			for _, p := range t.Policies {
				key := name + ls.String() + " " + p.String()
				if other, ok := seen[key]; ok && other != t.Key {
					fmt.Fprintf(w, "    conflict: another rule also writes %s at %s\n", name+ls.String(), p)
				}
				seen[key] = t.Key
			}
		}
	}
}
