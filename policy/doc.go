// Package policy is the storage policy of an aggregated series: the
// resolution of its windows and how long its points are kept, written as M3
// writes it, "resolution:retention":
//
//	p, err := policy.Parse("10s:2d") // Policy{Resolution: 10s, Retention: 48h}
//	p.String()                       // "10s:2d"
//
// The aggregator closes windows of p.Resolution; the storage engine keeps
// each policy's series apart and deletes them after p.Retention. Durations
// take Go's units plus d (24h), w (7d) and y (365d).
package policy
