package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/replay"
)

// replayCmd aggregates a file of JSON samples as the server would.
func replayCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesPath := fs.String("rules", "", "rule file in M3's mappingRules/rollupRules format (required)")
	input := fs.String("input", "-", "JSON samples, one per line; - reads stdin")
	output := fs.String("output", "-", "where to write the points as JSON lines; - writes stdout")
	lateness := fs.Duration("lateness", 0, "how long after a window's end its samples are accepted (default: one resolution, at most 2m)")
	sigFigs := fs.Int("significant-figures", 2, "precision of histogram percentiles (1-5; 2 means under 1% error)")
	exact := fs.Int("exact-limit", 0, "samples a window keeps exactly before it uses a histogram (default 2048)")
	shards := fs.Int("shards", 0, "if set, each point names the shard that holds its series in a cluster of that many shards")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) > 0 {
		return exitError, fmt.Errorf("replay: unexpected argument %q", pos[0])
	}
	if *rulesPath == "" {
		return exitError, fmt.Errorf("replay: --rules is required")
	}
	rs, in, err := openRulesAndInput(*rulesPath, *input, stdin)
	if err != nil {
		return exitError, err
	}
	defer in.Close()
	out, err := createOutput(*output, stdout)
	if err != nil {
		return exitError, err
	}
	sum, err := replay.Run(rs, in, out, replay.Options{
		Aggregator: aggregator.Options{Lateness: *lateness, SignificantFigures: *sigFigs, ExactLimit: *exact},
		Skip:       func(le replay.LineError) { fmt.Fprintf(stderr, "%s: %v\n", *input, le) },
		Shards:     *shards,
	})
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("replay: close output: %w", cerr)
	}
	if err != nil {
		return exitError, err
	}
	st := sum.Stats
	fmt.Fprintf(stderr, "replay: %d lines, %d samples (%d skipped, %d matched no rule, %d dropped by a rule), %d points; "+
		"late %d, type mismatches %d, out-of-order cumulative %d, baselines %d, clamped %d\n",
		sum.Lines, sum.Samples, sum.Skipped, sum.Unmatched, sum.Dropped, sum.Points,
		st.Late, st.TypeMismatch, st.OutOfOrder, st.Baselines, st.Clamped)
	if sum.Skipped > 0 {
		return exitSkipped, nil
	}
	return exitOK, nil
}
