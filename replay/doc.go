// Package replay aggregates a stream of JSON samples exactly as a tumble
// shard does, and writes the points as JSON lines (the README's "Replay").
// It is the engine of `tumblectl replay` and the oracle that the
// server's results are compared with.
//
// Each sample is decoded, matched against the rules and added to every
// target it feeds; the watermark follows the largest timestamp read so far,
// and windows close as it passes their end plus the lateness. At the end of
// the input every window still open is closed.
//
//	rs, err := rules.ParseFile("rules.yaml")
//	...
//	sum, err := replay.Run(rs, os.Stdin, os.Stdout, replay.Options{
//	    Skip: func(le replay.LineError) { fmt.Fprintln(os.Stderr, le) },
//	})
//
// A line that does not decode is reported to Options.Skip with its number
// and skipped; it never stops the run.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package replay
