// Package tailsampler is an example decision plug-in for a tail-based trace
// sampler: it keeps a trace when tumble selected it (see package
// selection), and lets the sampler's other policies decide the rest.
//
// A Decider remembers the selected traces; Run feeds it from tumble's
// selections feed (package selectionfeed); the sampler asks Keep when a
// trace's decision wait ends:
//
//	d, err := tailsampler.NewDecider(tailsampler.Options{Candidates: true})
//	...
//	go func() { // owned by the caller, who waits for it
//		err := tailsampler.Run(ctx, conn, d, tailsampler.RunOptions{TokenFile: "tailsampler.token"})
//		...
//	}()
//	...
//	keep, reason := d.Keep(traceID, time.Now()) // when the trace's decision wait ends
//
// Command cmd/tailsampler serves Keep over HTTP for a sampler whose policy
// can call out: GET /keep?trace_id=… answers {"keep": true, "reason": "final"}.
//
// # Sizing the decision wait
//
// A tail sampler buffers a trace's spans for a decision wait, then decides.
// Keep can only say yes if the selection arrived first, so the wait must
// cover the time from the slow request to its selection (plus the time
// from the trace's first span to the request's end, if the sampler counts
// the wait from the first span).
//
// Final selections come with closed windows. A window [start, start+res)
// closes when tumble's watermark passes its end plus the allowed lateness
// (by default one resolution, at most two minutes); then the flush writes
// its point and its selection in one Kafka transaction, and the feed sends
// it once that commits. With 10s windows and the default lateness, a final
// selection arrives 20 s or more after its window starts: up to about 20 s
// after a slow request at the start of the window, about 10 s after one at
// its end, plus the flush. Deciding on finals alone therefore needs a
// decision wait of at least resolution + lateness + a few seconds (25–30 s
// for 10s windows).
//
// Candidates come while a window is open: samples above the previous
// window's threshold (its P95), written as soon as the shard's leader
// reads them, so they reach the sampler within a second or so of the
// sample reaching tumble. With Options.Candidates, a decision wait of
// 10–30 s is enough; finals that arrive within the wait are kept too.
// Candidates are best effort: after a failover some may be missing or
// repeated (a repeat changes nothing here).
//
// TTL must exceed the decision wait, so that a selection that came early
// is still remembered when the trace's wait ends; the default, 5m, leaves
// room. MaxTraces bounds memory: at least the rate of selections (capped
// by the rules' traces-per-second budgets) times TTL; the default,
// 1,000,000, covers about 3,300 selections a second for 5m.
//
// # Restarts
//
// The Decider lives in memory. With RunOptions.TokenFile, a restarted
// sampler resumes the feed after the last batch it handled, so it misses
// no selection made while it was down; the traces it had buffered are
// gone with the restart anyway, and with them the need for the selections
// it had observed. Several sampler replicas each run their own Decider on
// the whole feed, each with its own token file.
package tailsampler
