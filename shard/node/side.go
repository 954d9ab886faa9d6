package node

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/sample"
)

// sidePublisher writes what the node's leading replicas offer besides
// their windows, at once and outside transactions: the candidates of trace
// selection to the selections topic (partition = shard) and, if asked, the
// samples they drop as late to the dead-letter topic. Both are best
// effort: a record the producer cannot buffer is dropped and counted,
// never waited for by the replica; a replica that takes over, or reads
// again after a restart, may write some twice or miss some.
type sidePublisher struct {
	selTopic, deadTopic string
	node                string // names the writer in the selection records
	cl                  *kgo.Client
	log                 *slog.Logger
	candDone, lateDone  func(*kgo.Record, error) // the produce promises, which count
	deadLetterLate      bool
}

func newSidePublisher(opts Options, m *metrics) (*sidePublisher, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
	}, opts.Kafka.Client...)...)
	if err != nil {
		return nil, err
	}
	return &sidePublisher{selTopic: opts.Kafka.SelectionTopic, deadTopic: opts.Kafka.DeadLetterTopic, node: opts.ID, cl: cl, log: opts.Logger,
		candDone:       counted(m.candidates.WithLabelValues("written"), m.candidates.WithLabelValues("dropped")),
		lateDone:       counted(m.lateDeadLetters.WithLabelValues("written"), m.lateDeadLetters.WithLabelValues("dropped")),
		deadLetterLate: opts.EventTime.DeadLetterLate}, nil
}

// publish writes the candidates sels without waiting.
func (p *sidePublisher) publish(sels []selection.Selection) {
	for i := range sels {
		s := &sels[i]
		s.Leader = p.node
		rec := &kgo.Record{Topic: p.selTopic, Partition: s.Shard, Key: s.Key(), Value: s.Encode()}
		p.cl.TryProduce(context.Background(), rec, p.candDone)
	}
}

// lateHook returns the aggregator's OnLate hook of shard's replica that
// writes each late sample to the dead-letter topic while leading says so
// (nil: always), or nil if late samples are not dead-lettered.
func (p *sidePublisher) lateHook(shard int32, leading func() bool) func(*aggregator.Target, sample.Sample, aggregator.Policy, aggregator.LateReason) {
	if !p.deadLetterLate {
		return nil
	}
	sh := []byte(strconv.Itoa(int(shard)))
	return func(t *aggregator.Target, s sample.Sample, pol aggregator.Policy, why aggregator.LateReason) {
		if leading != nil && !leading() {
			return
		}
		p.cl.TryProduce(context.Background(), lateDeadLetter(p.deadTopic, sh, t, s, pol, why), p.lateDone)
	}
}

// lateDeadLetter is the dead letter of a sample of t dropped as late under
// policy pol: the sample as its shard got it, under its output series'
// name and labels, with the reason, the rule, the policy and the shard.
func lateDeadLetter(topic string, shard []byte, t *aggregator.Target, s sample.Sample, pol aggregator.Policy, why aggregator.LateReason) *kgo.Record {
	s.Name, s.Labels = t.Name, t.Labels
	return &kgo.Record{Topic: topic, Partition: 0, Key: []byte(t.Name), Value: sample.AppendJSON(nil, &s), Headers: []kgo.RecordHeader{
		{Key: sample.HeaderReason, Value: []byte(sample.ReasonLate)},
		{Key: sample.HeaderError, Value: []byte(fmt.Sprintf("late: %s: the %s window of %s holding %d had closed", why, pol, t.Name, s.TimestampMs))},
		{Key: sample.HeaderRule, Value: []byte(t.Rule)},
		{Key: sample.HeaderPolicy, Value: []byte(pol.String())},
		{Key: sample.HeaderShard, Value: shard},
		{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeJSON)},
	}}
}

// counted is a produce promise that counts the record written or dropped.
func counted(written, dropped prometheus.Counter) func(*kgo.Record, error) {
	return func(_ *kgo.Record, err error) {
		if err != nil {
			dropped.Inc()
			return
		}
		written.Inc()
	}
}

// close writes what is buffered, for at most a second, and closes the
// client.
func (p *sidePublisher) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		p.log.Warn("candidates or late samples not written at shutdown", "err", err)
	}
	p.cl.Close()
}
