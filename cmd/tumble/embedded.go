package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
)

// startEmbedded starts the demo's in-process Kafka-protocol broker on the
// first configured broker address, and a load generator producing the
// generated fleet's samples to the raw topic in real time, alternately as
// protobuf batches and JSON lines. It returns the function that stops both.
func startEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (func(), error) {
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
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := produceLoad(lctx, cfg, log); err != nil && lctx.Err() == nil {
			log.Error("load generator stopped", "err", err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
		c.Close()
	}, nil
}

// produceLoad produces one tick of the generated fleet per 1/LoadRate
// seconds, each tick 1/LoadRate seconds of event time, so that event time
// follows the wall clock. Records are keyed by pod (the series of the
// fleet each have one), so they spread over the raw topic's partitions.
func produceLoad(ctx context.Context, cfg Config, log *slog.Logger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.DefaultProduceTopic(cfg.Kafka.RawTopics[0]))
	if err != nil {
		return err
	}
	defer cl.Close()
	rate := cfg.LoadRate
	if rate == 0 {
		rate = 1
	}
	now := time.Now().UnixMilli()
	tickMs := max(int64(1000/rate), 1)
	g := loadgen.New(loadgen.Config{Seed: uint64(now), StartMs: now - now%1000, TickMs: tickMs})
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var batch []sample.Sample
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		batch = g.Tick(batch[:0])
		var recs []*kgo.Record
		loadgen.PodRuns(batch, 500, func(pod string, part []sample.Sample) {
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
