package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/selection"
)

// candidatePublisher writes the candidates of trace selection that the
// node's leading replicas offer to the selections topic (partition =
// shard), at once and outside transactions: they are best effort, and a
// record the producer cannot buffer is dropped and counted, never waited
// for by the replica.
type candidatePublisher struct {
	topic, node      string // node names the writer in the records
	cl               *kgo.Client
	log              *slog.Logger
	written, dropped prometheus.Counter
}

func newCandidatePublisher(topic, node string, opts []kgo.Opt, log *slog.Logger, m *metrics) (*candidatePublisher, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &candidatePublisher{topic: topic, node: node, cl: cl, log: log,
		written: m.candidates.WithLabelValues("written"), dropped: m.candidates.WithLabelValues("dropped")}, nil
}

// publish writes sels without waiting.
func (p *candidatePublisher) publish(sels []selection.Selection) {
	for i := range sels {
		s := &sels[i]
		s.Leader = p.node
		rec := &kgo.Record{Topic: p.topic, Partition: s.Shard, Key: s.Key(), Value: s.Encode()}
		p.cl.TryProduce(context.Background(), rec, p.done)
	}
}

func (p *candidatePublisher) done(_ *kgo.Record, err error) {
	if err != nil {
		p.dropped.Inc()
		return
	}
	p.written.Inc()
}

// close writes what is buffered, for at most a second, and closes the
// client.
func (p *candidatePublisher) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		p.log.Warn("candidates not written at shutdown", "err", err)
	}
	p.cl.Close()
}
