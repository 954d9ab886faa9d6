// Package selection is tumble's output for tail-based trace samplers: the
// traces behind the tail of each window.
//
// A rule's trace selection (see package rules) names aggregations, P99 by
// default, whose points carry the trace of a real sample at their rank
// (the exemplar). When a window of such a series closes, its point names
// that trace: a selection with reason "final". The shard's leader writes
// the selections of the windows it emits to the selections topic
// (partition = shard, key = the trace ID), in the same Kafka transaction as
// the windows' records in the window log, so that each is written once
// across failovers; read committed, a consumer sees each once.
//
// A tail sampler decides within some seconds of a trace's end, often less
// than a window lasts. While a window is open, the shard's leader also
// writes candidates (reason "candidate"): samples whose value exceeds a
// threshold taken from the previous window of their series (see
// Candidates), a bounded number per series and window. Candidates are
// best effort: written at once, outside transactions, by the leader only,
// and a new leader may repeat some.
//
// Caps keep a burst of slow requests from flooding the sampler: each rule,
// and each tenant (named by a label, see rules.SelectionTenants), may select
// at most so many traces a second across the cluster. The caps are shared
// out between the shards and counted per window of event time, with no
// state from one window to the next (Budget), so that every replica of a
// shard, restarted or not, selects the same traces: within a window the
// selections of each rule are ranked by value, highest first, and taken
// rank by rank across the rules while the budgets last.
//
// A record's value is the selection as JSON (see Selection):
//
//	{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "reason": "final",
//	 "name": "http_request_duration_seconds_by_route", "labels": {"route": "/pay", "service": "checkout"},
//	 "aggregation": "P99", "policy": "10s:2d", "window_start_ms": 1763800000000, "window_end_ms": 1763800010000,
//	 "value": 0.873, "sample_value": 0.873, "sample_timestamp_ms": 1763800004211,
//	 "rule": "http latency by route", "shard": 3, "leader": "node-a", "term": 1234}
package selection
