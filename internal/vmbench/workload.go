package vmbench

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/sample"
)

// The shape of the workload: 20 services × 50 routes × 100 pods a service
// give 100,000 input series of one timer, each with ten samples a window,
// rolled up by service and route into 1,000 output series.
const (
	MetricName     = "http_request_duration_seconds"
	Services       = 20
	Routes         = 50
	PodsPerService = 100
	Series         = Services * Routes * PodsPerService
	Outputs        = Services * Routes

	// PerWindow is how many samples each series has in a window.
	PerWindow = 10
	// WindowMs is the window (and tumble's resolution), in milliseconds.
	WindowMs = 10_000
	// WindowSamples is how many samples a window holds.
	WindowSamples = Series * PerWindow
	// RequestSamples is how many samples a request (or record) holds.
	RequestSamples = 1_000
	// TraceEvery: one sample in TraceEvery, on average, carries a trace ID.
	TraceEvery = 10
)

// Arrival is how the samples of a window are grouped into requests.
type Arrival int

const (
	// Alone: a request holds 1,000 samples of 1,000 different series, one
	// each, the series in shuffled order; ten passes over all the series,
	// each in a new order, make a window. A fleet of pods each scraped or
	// flushed every second, the series of many pods mixed in each request.
	Alone Arrival = iota
	// Together: a request holds 100 series with their ten samples each, as
	// a producer that batches a window of its series sends them.
	Together
)

// Arrivals are the arrival modes, in the order the benchmarks run them.
var Arrivals = []Arrival{Alone, Together}

func (a Arrival) String() string {
	switch a {
	case Alone:
		return "alone"
	case Together:
		return "together"
	}
	return fmt.Sprintf("Arrival(%d)", int(a))
}

// Workload is one window of samples, encoded for each system. Every
// request index names the same samples in every encoding. The samples'
// timestamps lie in [StartMs, StartMs+WindowMs); a run that goes on for
// several windows sends the same requests again, each window's samples
// moved on by WindowMs after they are decoded.
type Workload struct {
	Arrival Arrival
	StartMs int64

	// Native are tumble's raw-topic record values: sample.AppendProto of
	// each request's samples, typed Timer.
	Native [][]byte
	// Proto are the requests as prometheus.WriteRequest protobuf, the form
	// a remote-write receiver decodes: one TimeSeries a series with its
	// samples, and an exemplar with label trace_id for each traced sample.
	Proto [][]byte
	// Snappy are Proto snappy-compressed (block format): remote write 1.0
	// bodies.
	Snappy [][]byte
	// Metadata is a remote write 1.0 body that carries only the metric
	// family's metadata (a gauge), as Prometheus sends it apart from the
	// samples.
	Metadata []byte

	// Want is the truth for each output series, indexed by
	// service*Routes+route.
	Want []Output
}

// Output is what one output series (a service and route) receives in a
// window.
type Output struct {
	Service, Route string
	// Values are the window's samples of the output series, sorted.
	Values []float64
}

// Count is the number of samples.
func (o *Output) Count() int { return len(o.Values) }

// Sum is the sum of the samples, added in sorted order.
func (o *Output) Sum() float64 {
	var s float64
	for _, v := range o.Values {
		s += v
	}
	return s
}

// Max is the largest sample.
func (o *Output) Max() float64 { return o.Values[len(o.Values)-1] }

// Quantile is the nearest-rank q-quantile: the value at rank ceil(q·n).
func (o *Output) Quantile(q float64) float64 {
	r := int(math.Ceil(q * float64(len(o.Values))))
	return o.Values[max(r, 1)-1]
}

// PassRequests is how many requests carry each series once (Alone) or
// with all its samples (Together): the requests that warm a cache.
func (w *Workload) PassRequests() int {
	if w.Arrival == Alone {
		return Series / RequestSamples
	}
	return len(w.Native)
}

// series is one input series.
type series struct {
	svc, route, pod int // pod counts within the service
	labels          sample.Labels
	prom            []prompb.Label // with __name__, sorted
	out             int            // index of its output series
}

var (
	regions = []string{"us-east-1", "eu-west-1", "ap-south-1"}
	methods = []string{"GET", "GET", "POST", "PUT", "DELETE"}
)

// newSeries returns the input series, in order of service, route and pod.
// Its eight labels are service, route and pod, and five that follow from
// them: region (of three), zone, env, method and version.
func newSeries() []series {
	ss := make([]series, 0, Series)
	for s := range Services {
		svc := fmt.Sprintf("svc%d", s)
		region := regions[s%len(regions)]
		for r := range Routes {
			route := fmt.Sprintf("/api/v1/route%02d", r)
			method := methods[r%len(methods)]
			for p := range PodsPerService {
				ls := sample.Labels{ // sorted by name
					{Name: "env", Value: "prod"},
					{Name: "method", Value: method},
					{Name: "pod", Value: fmt.Sprintf("svc%d-%05x", s, p)},
					{Name: "region", Value: region},
					{Name: "route", Value: route},
					{Name: "service", Value: svc},
					{Name: "version", Value: fmt.Sprintf("v1.%d.%d", s%4, p%3)},
					{Name: "zone", Value: region + string(rune('a'+p%3))},
				}
				prom := make([]prompb.Label, 0, len(ls)+1)
				prom = append(prom, prompb.Label{Name: "__name__", Value: MetricName})
				for _, l := range ls {
					prom = append(prom, prompb.Label{Name: l.Name, Value: l.Value})
				}
				ss = append(ss, series{svc: s, route: r, pod: p, labels: ls, prom: prom, out: s*Routes + r})
			}
		}
	}
	return ss
}

// Build makes the window of arrival a that starts at startMs (a multiple
// of WindowMs), from a fixed seed: the same bytes every time.
func Build(a Arrival, startMs int64) (*Workload, error) {
	if startMs%WindowMs != 0 {
		return nil, fmt.Errorf("build the workload: start %d is not a multiple of the window, %d ms", startMs, WindowMs)
	}
	r := rand.New(rand.NewPCG(11, uint64(a)))
	ss := newSeries()
	w := &Workload{Arrival: a, StartMs: startMs, Want: make([]Output, Outputs)}
	for i := range ss {
		o := &w.Want[ss[i].out]
		o.Service, o.Route = ss[i].labels[5].Value, ss[i].labels[4].Value
	}
	order := make([]int, Series)
	for i := range order {
		order[i] = i
	}
	var reqs [][]sample.Sample
	switch a {
	case Alone:
		// Pass p's samples are spread evenly over the window's second p.
		for p := range PerWindow {
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for k := 0; k < Series; k += RequestSamples {
				req := make([]sample.Sample, 0, RequestSamples)
				for i, sid := range order[k : k+RequestSamples] {
					at := int64(p*Series+k+i) * WindowMs / WindowSamples
					req = append(req, newSample(r, &ss[sid], startMs+at))
				}
				reqs = append(reqs, req)
			}
		}
	case Together:
		// A series' samples are a second apart, at its own offset.
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		perReq := RequestSamples / PerWindow
		for k := 0; k < Series; k += perReq {
			req := make([]sample.Sample, 0, RequestSamples)
			for _, sid := range order[k : k+perReq] {
				off := int64(r.IntN(WindowMs / PerWindow))
				for j := range PerWindow {
					req = append(req, newSample(r, &ss[sid], startMs+int64(j)*WindowMs/PerWindow+off))
				}
			}
			reqs = append(reqs, req)
		}
	default:
		return nil, fmt.Errorf("build the workload: unknown arrival %d", int(a))
	}
	byLabels := make(map[*sample.Label]*series, Series) // a series' labels are shared by its samples
	for i := range ss {
		byLabels[&ss[i].labels[0]] = &ss[i]
	}
	for _, req := range reqs {
		wr := prompb.WriteRequest{}
		for i := range req {
			s := &req[i]
			in := byLabels[&s.Labels[0]]
			o := &w.Want[in.out]
			o.Values = append(o.Values, s.Value)
			if i == 0 || &req[i-1].Labels[0] != &s.Labels[0] {
				wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: in.prom})
			}
			ts := &wr.Timeseries[len(wr.Timeseries)-1]
			ts.Samples = append(ts.Samples, prompb.Sample{Value: s.Value, Timestamp: s.TimestampMs})
			if !s.TraceID.IsZero() {
				ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{
					Labels: []prompb.Label{{Name: "trace_id", Value: hex.EncodeToString(s.TraceID[:])}},
					Value:  s.Value, Timestamp: s.TimestampMs,
				})
			}
		}
		pb, err := wr.Marshal()
		if err != nil {
			return nil, fmt.Errorf("build the workload: marshal a WriteRequest: %w", err)
		}
		w.Native = append(w.Native, sample.AppendProto(nil, req))
		w.Proto = append(w.Proto, pb)
		w.Snappy = append(w.Snappy, snappy.Encode(nil, pb))
	}
	for i := range w.Want {
		slices.Sort(w.Want[i].Values)
	}
	md := prompb.WriteRequest{Metadata: []prompb.MetricMetadata{{
		Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: MetricName,
		Help: "Duration of HTTP requests.", Unit: "seconds",
	}}}
	pb, err := md.Marshal()
	if err != nil {
		return nil, fmt.Errorf("build the workload: marshal the metadata: %w", err)
	}
	w.Metadata = snappy.Encode(nil, pb)
	return w, nil
}

// newSample returns a sample of in at ts: a latency, lognormal around 50ms
// and rounded to the microsecond, with a trace ID one time in TraceEvery.
func newSample(r *rand.Rand, in *series, ts int64) sample.Sample {
	s := sample.Sample{
		Name: MetricName, Labels: in.labels, Type: sample.Timer,
		Value:       math.Round(math.Exp(r.NormFloat64()-3)*1e6) / 1e6,
		TimestampMs: ts,
	}
	if r.IntN(TraceEvery) == 0 {
		for s.TraceID.IsZero() {
			hi, lo := r.Uint64(), r.Uint64()
			for i := range 8 {
				s.TraceID[i], s.TraceID[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
			}
		}
	}
	return s
}
