package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
)

// The ways the embedded load generator's counters and gauges come in
// (Config.LoadVia).
const (
	loadViaRemoteWrite = "remote-write"
	loadViaKafka       = "kafka"
)

const (
	// remoteQueueTicks is how many ticks of counters and gauges wait for
	// the remote-write gateway; past that the oldest are dropped, late
	// for their windows by then.
	remoteQueueTicks = 60
	// maxPerSend bounds the samples of a remote-write request
	// (Prometheus' max_samples_per_send).
	maxPerSend = 2000
)

// startBroker starts the demo's in-process Kafka-protocol broker on the
// first configured broker address; the function returned stops it.
func startBroker(cfg Config, log *slog.Logger) (func(), error) {
	_, portStr, err := net.SplitHostPort(cfg.Kafka.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: broker address %q: %w", cfg.Kafka.Brokers[0], err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: broker port %q: %w", portStr, err)
	}
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, net.JoinHostPort("127.0.0.1", portStr))
	}))
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	log.Info("embedded Kafka broker listening", "addr", c.ListenAddrs())
	return c.Close, nil
}

// startLoad starts the demo's load generator (produceLoad); the function
// returned stops it and waits for it to end. ready is closed once the
// node serves its HTTP address.
func startLoad(ctx context.Context, cfg Config, log *slog.Logger, ready <-chan struct{}) func() {
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := produceLoad(lctx, cfg, log, ready); err != nil && lctx.Err() == nil {
			log.Error("load generator stopped", "err", err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// produceLoad produces one tick of the generated fleet per 1/LoadRate
// seconds, each tick 1/LoadRate seconds of event time, so that event time
// follows the wall clock, until ctx ends.
//
// The latencies (timer samples, most with a trace ID) go to the raw topic
// in tumble's format, alternately as protobuf batches and JSON lines, in
// records keyed by pod (the series of the fleet each have one), so they
// spread over the raw topic's partitions: what an instrumented service's
// producer sends. The request counters (cumulative, each with the trace
// of a request it counted as its exemplar) and the gauges go, once ready
// is closed, to the node's remote-write gateway as a Prometheus agent
// sends them (sendRemote); with LoadVia kafka, or without the gateway,
// they go with the timers.
func produceLoad(ctx context.Context, cfg Config, log *slog.Logger, ready <-chan struct{}) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.DefaultProduceTopic(cfg.Kafka.RawTopics[0]))
	if err != nil {
		return err
	}
	defer cl.Close()
	viaRemote := cfg.LoadVia != loadViaKafka && cfg.Ingest.RemoteWrite // run turns the gateway on for the demo
	var queue chan []sample.Sample
	if viaRemote {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections() // after the sender's end
		rw, err := loadgen.NewRemoteWriter(loadgen.RemoteWriteOptions{URL: "http://" + cfg.Listen + "/api/v1/write",
			Client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, Logger: log})
		if err != nil {
			return err
		}
		queue = make(chan []sample.Sample, remoteQueueTicks)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(queue) // before the wait
		wg.Go(func() { sendRemote(ctx, rw, queue, ready, log) })
	}
	rate := cfg.LoadRate
	if rate == 0 {
		rate = 1
	}
	now := time.Now().UnixMilli()
	tickMs := max(int64(1000/rate), 1)
	g := loadgen.New(loadgen.Config{Seed: uint64(now), StartMs: now - now%1000, TickMs: tickMs, CounterExemplars: viaRemote})
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var batch []sample.Sample
	dropped := 0
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		batch = g.Tick(batch[:0])
		native := batch
		if viaRemote {
			var remote []sample.Sample
			native, remote = splitRemote(batch)
			select {
			case queue <- remote:
			default: // the gateway is behind: the oldest tick goes
				select {
				case <-queue:
				default:
				}
				queue <- remote // only this goroutine sends: there is room now
				if dropped++; dropped%remoteQueueTicks == 1 {
					log.Warn("load generator: the remote-write gateway is behind; the oldest ticks of counters and gauges are dropped", "dropped", dropped)
				}
			}
		}
		var recs []*kgo.Record
		loadgen.PodRuns(native, 500, func(pod string, part []sample.Sample) {
			rec := &kgo.Record{Key: []byte(pod)}
			if n%2 == 0 {
				rec.Value = sample.AppendProto(nil, part)
				rec.Headers = []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeProto)}}
			} else {
				for j := range part {
					rec.Value = sample.AppendJSON(rec.Value, &part[j])
					rec.Value = append(rec.Value, '\n')
				}
				rec.Headers = []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeJSON)}}
			}
			recs = append(recs, rec)
		})
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("load generator produce", "err", err)
		}
	}
}

// splitRemote moves the samples of batch that remote write carries
// (cumulative counters and gauges) to a new slice, and returns the rest in
// batch's array; both keep their order.
func splitRemote(batch []sample.Sample) (rest, remote []sample.Sample) {
	rest = batch[:0]
	for _, s := range batch {
		if s.Type == sample.Cumulative || s.Type == sample.Gauge {
			remote = append(remote, s)
		} else {
			rest = append(rest, s)
		}
	}
	return rest, remote
}

// sendRemote sends the ticks of queue to the remote-write gateway, once
// ready is closed, until queue is closed or ctx ends: a request at a time,
// with what has queued meanwhile (up to maxPerSend samples), each sent
// again until the gateway takes it (loadgen.RemoteWriter).
func sendRemote(ctx context.Context, rw *loadgen.RemoteWriter, queue <-chan []sample.Sample, ready <-chan struct{}, log *slog.Logger) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	var batch []sample.Sample
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-queue:
			if !ok {
				return
			}
			batch = append(batch[:0], b...)
		}
	more:
		for len(batch) < maxPerSend {
			select {
			case b, ok := <-queue:
				if !ok {
					break more
				}
				batch = append(batch, b...)
			default:
				break more
			}
		}
		if err := rw.Send(ctx, batch); err != nil && ctx.Err() == nil {
			log.Warn("load generator: the remote-write gateway refused samples", "samples", len(batch), "err", err)
		}
	}
}
