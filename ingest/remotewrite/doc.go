// Package remotewrite is the gateway of Prometheus remote write 1.0: a
// Prometheus server, or an agent that speaks its protocol (Grafana Alloy,
// vmagent, the OpenTelemetry collector's prometheusremotewrite exporter),
// sends its samples to POST /api/v1/write and tumble writes them to its
// raw topic (package ingest).
//
// A series' __name__ is the sample's name, its other labels the sample's
// labels. Its type comes from the metric metadata the client sends
// (Prometheus: metadata_config, on by default): a counter's series, and a
// classic histogram's or a summary's _bucket, _count and _sum series, are
// cumulative; the rest are gauges. Without metadata yet, a name ending in
// _total, _bucket, _count or _sum is cumulative. The trace ID of an
// exemplar (label trace_id, or traceID) becomes the trace of the series'
// sample nearest to it in time, so the P99 of a rule over those samples can
// name it. Native histograms are refused, each with its reason.
//
// The Handler reads a 1.0 request from the wire itself (wire.go), taking
// and refusing what prompb's generated decoder would, with none of its
// allocations: every label name and value is part of one string, the
// body's; the labels of a series' samples are its part of one slice of
// labels per request. A series is checked once (sample.Validate, the
// limits on its labels); its samples then each on their own: a finite
// value, a timestamp within the limits. A series is named as a string
// only to refuse a sample of it. BenchmarkDecode measures it.
//
// The Handler remembers the series it found valid, by two hashes of their
// label fields as sent (under 200 bytes a series, two generations of
// DefaultKnownSeries): a series sent again is neither checked nor hashed
// again. The label fields of a series sent as Prometheus sends them
// (labels first, each a name and a value) are transcoded to the head of a
// native Series and written as they are (ingest.Writer.WriteHeads): the
// labels are not encoded again for Kafka.
//
//	h, err := remotewrite.NewHandler(remotewrite.Options{Writer: w, Metrics: m})
//	mux.Handle("POST /api/v1/write", h)
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package remotewrite
