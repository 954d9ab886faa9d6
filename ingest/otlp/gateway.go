package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	// OTLP exporters compress with gzip (the collector's by default): a
	// gRPC server in this process takes it, decompressed within its
	// message size limit, as grpc-go bounds it.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// The gateways' names in metrics and dead letters.
const (
	GatewayHTTP = "otlp_http"
	GatewayGRPC = "otlp_grpc"
)

// Options configures a Gateway.
type Options struct {
	Writer  *ingest.Writer
	Limits  ingest.Limits
	Samples sample.Limits // each sample's; the router holds them too
	Metrics *ingest.Metrics
	// PromoteResourceAttributes are copied from a resource onto its
	// series as labels (service.name and service.instance.id always
	// are, as job and instance).
	PromoteResourceAttributes []string
	Logger                    *slog.Logger
	Now                       func() time.Time // nil means time.Now
}

// Gateway takes OTLP metrics over HTTP (ServeHTTP: POST /v1/metrics,
// protobuf or JSON, gzip or not) and gRPC (Register: the collector's
// MetricsService). It answers once Kafka has acknowledged every sample;
// refused data points are a partial success (the client does not send them
// again; they go to the dead-letter topic); a request Kafka did not take
// is answered 503 with Retry-After, or gRPC's Unavailable, which the
// OpenTelemetry exporters retry. Any goroutine may use it.
type Gateway struct {
	opts Options
	dec  *Decoder
}

// New returns a Gateway writing through opts.Writer.
func New(opts Options) (*Gateway, error) {
	if opts.Writer == nil {
		return nil, errors.New("otlp: Writer is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Gateway{opts: opts, dec: NewDecoder(opts.PromoteResourceAttributes)}, nil
}

// export writes req's samples and returns how many, and those refused.
func (g *Gateway) export(ctx context.Context, gateway string, req *colmetricspb.ExportMetricsServiceRequest) (int, []ingest.Refused, error) {
	// Counted before any sample is made: a request of tiny points must not
	// make millions of them.
	if max := g.opts.Limits.MaxSamples; max > 0 {
		if n := countSamples(req, max); n > max {
			return 0, nil, &ingest.TooLargeError{What: "samples", Size: int64(n), Limit: int64(max)}
		}
	}
	samples, refused := g.dec.Decode(req, g.opts.Samples, g.opts.Now().UnixMilli(), nil, nil)
	if err := g.opts.Writer.Write(ctx, gateway, samples, refused); err != nil {
		g.opts.Logger.Warn("otlp: Kafka did not take a request; the client is told to send it again", "gateway", gateway, "samples", len(samples), "err", err)
		return len(samples), nil, err
	}
	return len(samples), refused, nil
}

// countSamples returns how many samples req makes, or a number past max
// as soon as it knows it makes more.
func countSamples(req *colmetricspb.ExportMetricsServiceRequest, max int) int {
	n := 0
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				n += len(m.GetGauge().GetDataPoints()) + len(m.GetSum().GetDataPoints()) + len(m.GetExponentialHistogram().GetDataPoints())
				for _, dp := range m.GetHistogram().GetDataPoints() {
					n += len(dp.GetBucketCounts()) + 2
				}
				for _, dp := range m.GetSummary().GetDataPoints() {
					n += len(dp.GetQuantileValues()) + 2
				}
				if n > max {
					return n
				}
			}
		}
	}
	return n
}

// response is the answer to a request of which refused were refused.
func response(refused []ingest.Refused, written int) *colmetricspb.ExportMetricsServiceResponse {
	resp := &colmetricspb.ExportMetricsServiceResponse{}
	if len(refused) > 0 {
		resp.PartialSuccess = &colmetricspb.ExportMetricsPartialSuccess{
			RejectedDataPoints: int64(len(refused)),
			ErrorMessage:       ingest.RefusedError(refused, written).Error(),
		}
	}
	return resp
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	json := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	written, refused, err := g.serveHTTP(r, json)
	code := http.StatusOK
	var body proto.Message = response(refused, written)
	if err != nil {
		code = ingest.HTTPCode(err)
		st := &spb.Status{Code: int32(grpcCode(err)), Message: err.Error()}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", ingest.RetryAfter)
		}
		body = st
	}
	var b []byte
	if json {
		w.Header().Set("Content-Type", "application/json")
		b, _ = protojson.Marshal(body)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ = proto.Marshal(body)
	}
	w.WriteHeader(code)
	w.Write(b)
	g.opts.Metrics.Observe(GatewayHTTP, code, written, err == nil || !errors.Is(err, ingest.ErrUnavailable), refused)
}

func (g *Gateway) serveHTTP(r *http.Request, json bool) (int, []ingest.Refused, error) {
	if r.Method != http.MethodPost {
		return 0, nil, fmt.Errorf("otlp: method %s, want POST", r.Method)
	}
	ct := r.Header.Get("Content-Type")
	if !json && ct != "" && !strings.HasPrefix(ct, "application/x-protobuf") {
		return 0, nil, fmt.Errorf("otlp: content type %q, want application/x-protobuf or application/json: %w", ct, ingest.ErrUnsupported)
	}
	body, err := ingest.ReadBody(r, g.opts.Limits)
	if err != nil {
		return 0, nil, err
	}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		if body, err = ingest.Gunzip(body, g.opts.Limits); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, fmt.Errorf("otlp: content encoding %q, want gzip or none: %w", enc, ingest.ErrUnsupported)
	}
	req := &colmetricspb.ExportMetricsServiceRequest{}
	if json {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, req)
	} else {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("otlp: the body is not an ExportMetricsServiceRequest: %w", err)
	}
	return g.export(r.Context(), GatewayHTTP, req)
}

func grpcCode(err error) codes.Code {
	var tl *ingest.TooLargeError
	switch {
	case errors.Is(err, ingest.ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.As(err, &tl):
		return codes.ResourceExhausted
	}
	return codes.InvalidArgument
}

// Register serves the gateway as the OTLP MetricsService on gs, gzip
// compressed or not.
func (g *Gateway) Register(gs *grpc.Server) {
	colmetricspb.RegisterMetricsServiceServer(gs, &grpcService{g: g})
}

type grpcService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	g *Gateway
}

func (s *grpcService) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	written, refused, err := s.g.export(ctx, GatewayGRPC, req)
	code := http.StatusOK
	if err != nil {
		code = ingest.HTTPCode(err)
	}
	s.g.opts.Metrics.Observe(GatewayGRPC, code, written, err == nil || !errors.Is(err, ingest.ErrUnavailable), refused)
	if err != nil {
		return nil, status.Error(grpcCode(err), err.Error())
	}
	return response(refused, written), nil
}
