package main

import (
	"crypto/rand"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/tumblemetrics/tumble/internal/kafkatest"
)

// TestOTLP: two services instrumented with the official OpenTelemetry Go
// SDK — a request counter, a latency histogram recorded inside sampled
// spans (so with exemplars), a queue gauge — export every half second,
// one through the OTLP/HTTP exporter and one through OTLP/gRPC, into
// tumble on real Kafka. What tumble serves is what the replay computes
// from the samples its gateways wrote, named as OpenTelemetry's Prometheus
// compatibility says, and the buckets' exemplars are the spans' traces.
func TestOTLP(t *testing.T) {
	k := kafkatest.Start(t)
	cfg := exporterConfig(t, k, "otlp")
	cfg.Ingest.OTLP = true
	s := startServer(t, &cfg)
	base := "http://" + cfg.Listen
	ctx := t.Context()

	httpExp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(cfg.Listen), otlpmetrichttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	// gRPC gzip-compressed, as the collector's otlp exporter sends by default.
	grpcExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.grpcListener.Addr().String()), otlpmetricgrpc.WithInsecure(),
		otlpmetricgrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	traces := map[string]bool{}
	type service struct {
		mp       *sdkmetric.MeterProvider
		requests metric.Int64Counter
		latency  metric.Float64Histogram
		depth    metric.Int64Gauge
	}
	var services []service
	for name, exp := range map[string]sdkmetric.Exporter{"web-http": httpExp, "web-grpc": grpcExp} {
		mp := sdkmetric.NewMeterProvider(
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(500*time.Millisecond))),
			sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.instance.id", "i-1"))))
		m := mp.Meter("demo")
		sv := service{mp: mp}
		if sv.requests, err = m.Int64Counter("demo.requests", metric.WithUnit("1")); err != nil {
			t.Fatal(err)
		}
		if sv.latency, err = m.Float64Histogram("demo.latency", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1)); err != nil {
			t.Fatal(err)
		}
		if sv.depth, err = m.Int64Gauge("demo.queue.depth"); err != nil {
			t.Fatal(err)
		}
		services = append(services, sv)
	}
	for i := range 400 { // 8 s
		for _, sv := range services {
			var tid trace.TraceID
			var sid trace.SpanID
			rand.Read(tid[:])
			rand.Read(sid[:])
			traces[tid.String()] = true
			sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
			code := []string{"200", "200", "200", "500"}[i%4]
			sv.requests.Add(sctx, 1, metric.WithAttributes(attribute.String("code", code)))
			sv.latency.Record(sctx, float64(i%23)/20)
			sv.depth.Record(sctx, int64(i%17))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, sv := range services {
		if err := sv.mp.Shutdown(ctx); err != nil { // the last export
			t.Fatal(err)
		}
	}

	written := readRaw(t, k.Addr(), cfg.Kafka.RawTopics[0])
	jobs := map[string]bool{}
	for i := range written {
		job, _ := written[i].Labels.Get("job")
		jobs[job] = true
	}
	if !jobs["web-http"] || !jobs["web-grpc"] {
		t.Errorf("jobs %v: want both web-http (OTLP/HTTP) and web-grpc (OTLP/gRPC)", jobs)
	}
	checkExporterServed(t, s, base, &cfg, written, traces)
}
