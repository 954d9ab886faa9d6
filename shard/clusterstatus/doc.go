// Package clusterstatus is the status report of a tumble cluster as its
// nodes serve it on /api/v1/status/cluster (and each node's part on
// /api/v1/status/replicas), and its rendering as a table for operators
// (tumblectl cluster status):
//
//	SHARD  LEADER  TERM  WATERMARK             OUTPUT LAG  REPLICA  STATE      ROLE      BEHIND  LAG RECORDS  CAN LEAD
//	0      a       812   2026-11-22T10:00:10Z  2.1s        a        available  leader    0s      0            yes
//	                                                       b        available  follower  0s      12           yes
//
// Times are Unix milliseconds in the JSON, absent when not known yet (a
// shard no leader has emitted for, a replica that has closed no window).
// BEHIND is how far a replica's own watermark trails the shard's flush
// watermark; OUTPUT LAG is how far the flush watermark trails the
// answering node's clock.
package clusterstatus
