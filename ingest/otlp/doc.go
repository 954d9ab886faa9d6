// Package otlp is the gateway of OpenTelemetry's metrics protocol: the
// OpenTelemetry SDKs' OTLP exporters and the collector's otlp and otlphttp
// exporters send to POST /v1/metrics (or /otlp/v1/metrics, Prometheus'
// path), as protobuf or JSON, or to the gRPC MetricsService, and tumble
// writes the samples to its raw topic (package ingest).
//
// Names and labels follow OpenTelemetry's Prometheus compatibility, as
// Prometheus' own OTLP receiver does: dots to underscores, the unit and
// _total as suffixes (http.server.request.duration in s is
// http_server_request_duration_seconds); service.name (with
// service.namespace) is job, service.instance.id instance, the scope's
// name and version otel_scope_name and otel_scope_version. Gauges are
// gauges; monotonic sums are cumulative (delta ones, counters of
// increments); histograms are their _bucket, _count and _sum series; an
// exemplar's trace ID becomes the trace of its point (of a histogram, of
// the bucket that holds its value). Exponential histograms are refused,
// each point with its reason, as a partial success.
//
//	g, err := otlp.New(otlp.Options{Writer: w, Metrics: m})
//	mux.Handle("POST /v1/metrics", g)
//	g.Register(grpcServer)
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package otlp
