package vmbench

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	vmprompb "github.com/VictoriaMetrics/VictoriaMetrics/lib/prompb"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/promremotewrite/stream"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/streamaggr"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/ingest/remotewrite"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// path is where a system's input starts.
type path int

const (
	// core: the decoded form each system aggregates from: tumble's native
	// raw-topic records, VictoriaMetrics' uncompressed WriteRequests.
	core path = iota
	// remoteWrite: snappy-compressed remote write 1.0 bodies, for both.
	remoteWrite
)

// pipeline is one system fed one request at a time. Flush says what the
// windows it closed came to.
type pipeline interface {
	// push takes request req of the workload, its timestamps moved on by
	// shiftMs.
	push(req int, shiftMs int64) error
	// endWindow is called once the requests of the window that ends at
	// endMs are pushed: the system flushes what it would flush then.
	endWindow(endMs int64) (flushed, error)
	// final flushes everything still open.
	final() (flushed, error)
	close()
}

// flushed is what a flush emitted: how many windows, and the sum of their
// count outputs, which must be the samples they took.
type flushed struct {
	windows int
	count   float64
}

// observer is told of each output point of a flush (tests only).
type observer func(service, route, agg string, v float64)

// system opens a pipeline of one system over w.
type system struct {
	name string
	open func(w *Workload, p path, obs observer) (pipeline, error)
}

var systems = []system{
	{"tumble", openTumble},
	{"vm", openVM},
}

// workloads are built once per test binary: building one takes seconds.
var workloads = map[Arrival]func() (*Workload, error){}

func init() {
	start := time.Now().Truncate(WindowMs * time.Millisecond).UnixMilli()
	for _, a := range Arrivals {
		workloads[a] = sync.OnceValues(func() (*Workload, error) { return Build(a, start) })
	}
}

func workload(tb testing.TB, a Arrival) *Workload {
	tb.Helper()
	w, err := workloads[a]()
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// tumbleRules roll the timers up by service and route, as VMConfig does:
// the rule of tumble's own benchmarks.
const tumbleRules = "../../testdata/rules/latency-rollup.yaml"

// tumble is the path of a sample through tumble's router and replica, on
// one goroutine: decode a raw record (sample.Decoder, as the router does),
// match (rules.Matcher), aggregate (aggregator.Aggregator); on the
// remote-write path first what the gateway does (ingest/remotewrite's
// handler up to ingest.Writer).
type tumble struct {
	w    *Workload
	path path
	obs  observer
	rd   *sample.Decoder // the router's: it remembers series across records
	m    *rules.Matcher
	agg  *aggregator.Aggregator

	good   []sample.Sample
	bad    []sample.BadSample
	res    []rules.Result
	points []aggregator.Point

	rw *remotewrite.Handler // its Decode is what ServeHTTP does before the Kafka write
}

// warm is the state of a router that has seen every series: its record
// decoder and its matcher, which remember series; and of a gateway that
// has: its handler remembers the series it checked.
type warm struct {
	rd *sample.Decoder
	m  *rules.Matcher
	rw *remotewrite.Handler
}

// warmed are the warm states of each arrival and path, kept from one
// pipeline to the next: go test calls a benchmark with b.N = 1 before the
// measured run, and warming one takes a second or more.
var warmed = map[[2]int]warm{}

func openTumble(w *Workload, p path, obs observer) (pipeline, error) {
	agg, err := aggregator.New(aggregator.Options{})
	if err != nil {
		return nil, err
	}
	// The writer connects on its first write, which never comes: the
	// handler's Decode stops before it.
	wr, err := ingest.NewWriter(ingest.WriterOptions{Topic: "raw", DeadLetterTopic: "dead", ID: "vmbench"})
	if err != nil {
		return nil, err
	}
	nowMs := w.StartMs + WindowMs
	rw, err := remotewrite.NewHandler(remotewrite.Options{Writer: wr, Samples: sample.DefaultLimits(),
		Now: func() time.Time { return time.UnixMilli(nowMs) }})
	if err != nil {
		return nil, err
	}
	t := &tumble{w: w, path: p, obs: obs, agg: agg, rw: rw}
	// Steady state: the family's metadata came long ago, and every series
	// was seen in an earlier window, so the match cache, the router's decoder
	// and, on the remote-write path, the gateway remember it.
	if err := t.decodeMetadata(); err != nil {
		return nil, err
	}
	key := [2]int{int(w.Arrival), int(p)}
	if ws, ok := warmed[key]; ok {
		t.rd, t.m, t.rw = ws.rd, ws.m, ws.rw
		return t, nil
	}
	rs, err := rules.ParseFile(tumbleRules)
	if err != nil {
		return nil, err
	}
	t.rd = sample.NewDecoder(0)
	t.m = rules.NewMatcher(rs, rules.MatcherOptions{Seed: t.rd.Seed()})
	warmed[key] = warm{t.rd, t.m, t.rw}
	for i := range w.PassRequests() {
		good, _, err := t.rd.DecodeRecordSamples(w.Native[i], sample.FormatProto, nil, nil)
		if err != nil {
			return nil, err
		}
		for j := range good {
			if p == remoteWrite {
				good[j].Type = sample.Gauge // as remote write's samples come: the cache keys the type too
			}
			t.m.Match(&good[j])
		}
		if p == remoteWrite {
			if err := t.rw.Decode(w.Snappy[i], false, func([]sample.Sample, [][]byte, []ingest.Refused) error { return nil }); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (t *tumble) push(req int, shiftMs int64) error {
	if t.path == core {
		return t.record(t.w.Native[req], shiftMs)
	}
	n := RequestSamples
	return t.rw.Decode(t.w.Snappy[req], false, func(samples []sample.Sample, heads [][]byte, refused []ingest.Refused) error {
		if len(refused) > 0 {
			return fmt.Errorf("tumble: remote write refused %d samples, the first: %s: %w", len(refused), refused[0].Reason, refused[0].Err)
		}
		if len(samples) != n {
			return fmt.Errorf("tumble: request %d: %d samples of %d decoded", req, len(samples), n)
		}
		for i := range samples {
			samples[i].TimestampMs += shiftMs
		}
		// ingest.Writer writes these records to the raw topic; the router
		// reads them from there.
		for _, rec := range ingest.Records("raw", samples, heads) {
			if err := t.record(rec.Value, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeMetadata has the handler learn the family's type from the
// workload's metadata request.
func (t *tumble) decodeMetadata() error {
	return t.rw.Decode(t.w.Metadata, false, func([]sample.Sample, [][]byte, []ingest.Refused) error { return nil })
}

// record is what the router and the shard's replica do with one raw
// record between them.
func (t *tumble) record(value []byte, shiftMs int64) error {
	good, bad, err := t.rd.DecodeRecordSamples(value, sample.FormatProto, t.good[:0], t.bad[:0])
	t.good, t.bad = good, bad
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("tumble: %d bad samples in a record, the first: %w", len(bad), bad[0].Err)
	}
	if shiftMs != 0 {
		for i := range good {
			good[i].TimestampMs += shiftMs
		}
	}
	if cap(t.res) < len(good) {
		t.res = make([]rules.Result, len(good))
	}
	res := t.res[:len(good)]
	t.m.MatchBatch(good, res)
	for k := range good {
		for _, tg := range res[k].Targets {
			t.agg.Add(tg, res[k].SeriesID, &good[k])
		}
	}
	return nil
}

// endWindow moves the watermark to the window's end: the window before it
// closes, its lateness (one resolution) having passed.
func (t *tumble) endWindow(endMs int64) (flushed, error) {
	t.points = t.agg.Advance(endMs, t.points[:0])
	return t.flushed()
}

func (t *tumble) final() (flushed, error) {
	t.points = t.agg.Flush(t.points[:0])
	return t.flushed()
}

func (t *tumble) flushed() (flushed, error) {
	var f flushed
	var lastStart int64 = -1
	for i := range t.points {
		p := &t.points[i]
		if p.StartMs != lastStart {
			f.windows++
			lastStart = p.StartMs
		}
		if p.Aggregation == aggregator.Count {
			f.count += p.Value
		}
		if t.obs != nil {
			svc, _ := p.Target.Labels.Get("service")
			route, _ := p.Target.Labels.Get("route")
			t.obs(svc, route, p.Aggregation.String(), p.Value)
		}
	}
	if st := t.agg.Stats(); st.Late+st.TypeMismatch+st.Unsupported > 0 {
		return f, fmt.Errorf("tumble: samples dropped: %+v", st)
	}
	return f, nil
}

func (t *tumble) close() {}

// VMConfig is VictoriaMetrics' stream aggregation of the benchmark: the
// rollup of tumbleRules. Its interval is the period of its wall-clock
// flusher, which the benchmark does not let run: it flushes at each window
// end itself (see vm.endWindow); the interval only has to be longer than a
// window takes to push.
const VMConfig = `
- match: http_request_duration_seconds
  interval: 1m
  by: [service, route]
  outputs: [count_samples, sum_samples, max, "quantiles(0.5, 0.99)"]
`

// vm is VictoriaMetrics' stream aggregation (lib/streamaggr) as vmagent
// runs it on what it receives, on one goroutine (Aggregators.Push starts
// one of its own per aggregation config and waits for it).
type vm struct {
	w    *Workload
	path path
	obs  observer

	a         *streamaggr.Aggregators
	wru       *vmprompb.WriteRequestUnmarshaler
	matchIdxs []uint32
	body      bytes.Reader
	shiftMs   int64
	parsed    func(tss []vmprompb.TimeSeries, mms []vmprompb.MetricMetadata) error

	f      flushed
	stamps map[int64]bool // the flush timestamps seen
}

func openVM(w *Workload, p path, obs observer) (pipeline, error) {
	v := &vm{w: w, path: p, wru: &vmprompb.WriteRequestUnmarshaler{}, stamps: map[int64]bool{}}
	v.parsed = func(tss []vmprompb.TimeSeries, _ []vmprompb.MetricMetadata) error {
		v.aggregate(tss)
		return nil
	}
	if err := v.load(); err != nil {
		return nil, err
	}
	// Steady state: every series was seen before, so the labels
	// compressor (shared by all Aggregators) knows their labels. The
	// warm-up's output is thrown away.
	for i := range w.PassRequests() {
		if err := v.push(i, 0); err != nil {
			return nil, err
		}
	}
	if _, err := v.endWindow(0); err != nil {
		return nil, err
	}
	v.f, v.obs = flushed{}, obs
	clear(v.stamps)
	return v, nil
}

// load starts new Aggregators. FlushOnShutdown makes MustStop flush the
// state it holds; NoAlignFlushToInterval starts its wall-clock flusher's
// interval when it starts rather than at the next multiple of the
// interval, so that it does not fire within a window.
func (v *vm) load() error {
	a, err := streamaggr.LoadFromData([]byte(VMConfig), v.pushFunc,
		&streamaggr.Options{FlushOnShutdown: true, NoAlignFlushToInterval: true}, "vmbench")
	if err != nil {
		return err
	}
	v.a = a
	return nil
}

func (v *vm) push(req int, shiftMs int64) error {
	if v.path == core {
		wr, err := v.wru.UnmarshalProtobuf(v.w.Proto[req])
		if err != nil {
			return err
		}
		v.shiftMs = shiftMs
		v.aggregate(wr.Timeseries)
		return nil
	}
	// vmagent's remote-write handler (app/vmagent/promremotewrite):
	// stream.Parse reads the body, undoes snappy and unmarshals the
	// WriteRequest; its callback hands the series on to remotewrite.TryPush,
	// which pushes them to the stream aggregation.
	v.body.Reset(v.w.Snappy[req])
	v.shiftMs = shiftMs
	return stream.Parse(&v.body, false, v.parsed)
}

func (v *vm) aggregate(tss []vmprompb.TimeSeries) {
	if v.shiftMs != 0 {
		for i := range tss {
			for j := range tss[i].Samples {
				tss[i].Samples[j].Timestamp += v.shiftMs
			}
		}
	}
	v.matchIdxs = v.a.Push(tss, v.matchIdxs)
}

// endWindow flushes the window: VictoriaMetrics flushes on a wall-clock
// ticker, and the nearest public equivalent of a flush now is MustStop
// with FlushOnShutdown, then new Aggregators for the next window. The
// state that outlives Aggregators, the labels compressor, is kept.
func (v *vm) endWindow(int64) (flushed, error) {
	v.a.MustStop()
	f := v.f
	v.f = flushed{}
	if err := v.load(); err != nil {
		return f, err
	}
	return f, nil
}

func (v *vm) final() (flushed, error) { return v.endWindow(0) }

// pushFunc takes the output of a flush, on the flusher's goroutine, which
// MustStop waits for.
func (v *vm) pushFunc(tss []vmprompb.TimeSeries) {
	for i := range tss {
		ts := &tss[i]
		var name, service, route, quantile string
		for _, l := range ts.Labels {
			switch l.Name {
			case "__name__":
				name = l.Value
			case "service":
				service = l.Value
			case "route":
				route = l.Value
			case "quantile":
				quantile = l.Value
			}
		}
		for _, s := range ts.Samples {
			if !v.stamps[s.Timestamp] {
				v.stamps[s.Timestamp] = true
				v.f.windows++
			}
			// The name is http_request_duration_seconds:1m_by_route_service_OUTPUT.
			out := name[strings.LastIndexByte(name, '_')+1:]
			switch {
			case strings.HasSuffix(name, "_count_samples"):
				out = "Count"
				v.f.count += s.Value
			case strings.HasSuffix(name, "_sum_samples"):
				out = "Sum"
			case strings.HasSuffix(name, "_max"):
				out = "Max"
			case quantile == "0.5":
				out = "P50"
			case quantile == "0.99":
				out = "P99"
			}
			if v.obs != nil {
				v.obs(service, route, out, s.Value)
			}
		}
	}
}

func (v *vm) close() { v.a.MustStop() }
