package otlp

import (
	"testing"

	"google.golang.org/grpc/encoding"
)

// TestGRPCGzip: the package installs gzip for gRPC, which the collector's
// OTLP exporter sends by default; without it a gRPC server answers
// Unimplemented and the collector drops the data as a permanent error.
// (In-process tests with the OpenTelemetry SDK cannot tell: the SDK's
// exporter installs it too.)
func TestGRPCGzip(t *testing.T) {
	if encoding.GetCompressor("gzip") == nil {
		t.Fatal("no gzip compressor installed for gRPC")
	}
}
