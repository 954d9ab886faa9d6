// Package graphite is the gateway of Graphite's plaintext protocol
// (carbon's, on TCP and UDP): collectd, StatsD's graphite backend,
// Diamond and the like send "path value timestamp" lines, and tumble
// writes them to its raw topic (package ingest).
//
// A path is mapped as M3 maps it, so that M3's Graphite rules read the
// same: servers.api-1.cpu becomes the gauge servers_api_1_cpu with labels
// __g0__="servers", __g1__="api-1", __g2__="cpu" (the one kind of label
// starting with __ that a sample may carry; rules filter and group by
// them: "__g0__:servers __g2__:cpu", groupBy: [__g1__]). A tagged path,
// disk.used;dc=eu, adds its tags as labels.
//
//	srv, err := graphite.Listen(graphite.Options{Writer: w, TCP: ":2003", UDP: ":2003"})
//	go srv.Run(ctx)
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package graphite
