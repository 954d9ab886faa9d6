// Package influx is the gateway of InfluxDB's line protocol: Telegraf's
// influxdb and influxdb_v2 outputs, the InfluxDB client libraries and
// anything that writes to InfluxDB send to POST /write (1.x) or
// /api/v2/write (2.x), and tumble writes the samples to its raw topic
// (package ingest).
//
//	cpu,host=a,region=eu usage_user=0.5,usage_idle=93.1 1700000000000000000
//
// becomes the gauges cpu_usage_user{host="a",region="eu"} and
// cpu_usage_idle{…} at 1700000000000 ms: each numeric or boolean field is
// a sample named measurement_field (a field named value: the measurement
// alone), the tags are its labels, and a trace_id tag is its trace.
// String fields, and lines that do not parse, are refused with the line's
// number and the reason; the rest of the request is written.
//
//	h, err := influx.NewHandler(influx.Options{Writer: w, Metrics: m})
//	mux.Handle("POST /api/v2/write", h)
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package influx
