package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/sample"
)

// ErrUnavailable wraps a failure to write to Kafka: nothing of the request
// was written, and the client may send it again.
var ErrUnavailable = errors.New("ingest: Kafka did not take the samples")

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Client are the options of the Kafka clients (the brokers, and
	// whatever else reaching them takes).
	Client []kgo.Opt
	// Topic is the raw topic the samples go to; DeadLetterTopic takes
	// the samples a gateway refused, with the reason.
	Topic, DeadLetterTopic string
	// ID names the writer's transactional producers: unique among the
	// writers of the cluster (the node's ID), the same across restarts,
	// so that a restarted node fences its previous producers.
	ID string
	// Producers is how many requests are written at once, each in its
	// own transaction; 0 means 4.
	Producers int
	// Timeout bounds the write of one request; 0 means 10s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Groups is how many records the samples of a request are spread over:
// a series is always in the same group, and a group's records always go
// to the same partition of the raw topic (they are keyed by the group),
// so the samples of a series keep their order.
const Groups = 64

// Writer writes the samples of gateway requests to the raw topic, each
// request in one Kafka transaction with its dead letters: a request is
// written whole or not at all, so a client that sends it again after an
// error duplicates nothing. Write returns once Kafka has acknowledged the
// commit (acks from all in-sync replicas, idempotent producers). Any
// goroutine may call Write; Close once, after the last.
type Writer struct {
	opts WriterOptions
	log  *slog.Logger
	pool chan *producer
}

// producer is one transactional client, owned by the request that took it
// from the pool.
type producer struct {
	id string
	cl *kgo.Client // nil until first used, and after a failure it could not abort
}

// NewWriter returns a Writer; its clients connect on first use.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.Topic == "" || opts.DeadLetterTopic == "" || opts.ID == "" {
		return nil, errors.New("ingest writer: Topic, DeadLetterTopic and ID are required")
	}
	if opts.Producers <= 0 {
		opts.Producers = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{opts: opts, log: opts.Logger, pool: make(chan *producer, opts.Producers)}
	for i := range opts.Producers {
		w.pool <- &producer{id: "tumble-ingest-" + opts.ID + "-" + strconv.Itoa(i)}
	}
	return w, nil
}

// Refused is a sample a gateway would not write, and why.
type Refused struct {
	Sample sample.Sample
	// Series names the sample's series as the client sent it.
	Series string
	// Reason is a dead-letter reason code (sample.Code… or a gateway's).
	Reason string
	Err    error
}

// Admit holds a sample a gateway made to the decoders' rules
// (sample.Validate, which sorts its labels) and to limits at nowMs; the
// error is the first broken, with its code for Reason.
func Admit(s *sample.Sample, limits sample.Limits, nowMs int64) error {
	if err := sample.Validate(s); err != nil {
		return err
	}
	return limits.Check(s, nowMs)
}

// Reason is the reason code of a refused sample's error: its
// *sample.DecodeError's code, else fallback.
func Reason(err error, fallback string) string {
	var de *sample.DecodeError
	if errors.As(err, &de) {
		return de.Code()
	}
	return fallback
}

// Write writes samples to the raw topic and refused to the dead-letter
// topic, in one transaction, and returns once it is committed; an error
// wraps ErrUnavailable (nothing was written) or ctx's error. It keeps
// nothing of samples and refused once it returns: a gateway may reuse
// their memory.
func (w *Writer) Write(ctx context.Context, gateway string, samples []sample.Sample, refused []Refused) error {
	return w.WriteHeads(ctx, gateway, samples, nil, refused)
}

// WriteHeads is Write for a gateway that has the heads of its samples'
// series encoded (sample.AppendSeriesHead): heads, nil or as long as
// samples, holds the head of each sample's series, or nil where it has
// none; a head is written as it is instead of the sample's name and labels.
func (w *Writer) WriteHeads(ctx context.Context, gateway string, samples []sample.Sample, heads [][]byte, refused []Refused) error {
	if len(samples) == 0 && len(refused) == 0 {
		return nil
	}
	var p *producer
	select {
	case p = <-w.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { w.pool <- p }()
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	if err := w.write(ctx, p, gateway, samples, heads, refused); err != nil {
		w.abort(p, err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

func (w *Writer) write(ctx context.Context, p *producer, gateway string, samples []sample.Sample, heads [][]byte, refused []Refused) error {
	if p.cl == nil {
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.TransactionalID(p.id),
			kgo.TransactionTimeout(max(w.opts.Timeout+commitTimeout, 60*time.Second)),
			kgo.RequiredAcks(kgo.AllISRAcks()),
		}, w.opts.Client...)...)
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		p.cl = cl
	}
	if err := p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	recs := Records(w.opts.Topic, samples, heads)
	for i := range refused {
		recs = append(recs, deadLetter(w.opts.DeadLetterTopic, gateway, &refused[i]))
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	// Once the commit is asked, its outcome is the broker's: wait for it
	// (a broker that restarts takes some seconds), even if the client
	// has gone, rather than answer "not written" for a request that
	// may be.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := p.cl.EndTransaction(cctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// commitTimeout bounds the wait for a commit's outcome: with the default
// Timeout, a request ends within 25s, before a Prometheus server gives it
// up (remote_timeout, 30s by default) and sends it again.
const commitTimeout = 15 * time.Second

// abort ends the failed transaction of p; a client that cannot is closed,
// and the next request makes a new one (which fences what it left).
func (w *Writer) abort(p *producer, cause error) {
	if p.cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.cl.AbortBufferedRecords(ctx)
	if err == nil {
		err = p.cl.EndTransaction(ctx, kgo.TryAbort)
	}
	if err != nil {
		w.log.Warn("ingest: abort a failed write; the producer is made anew", "producer", p.id, "write_err", cause, "err", err)
		p.cl.Close()
		p.cl = nil
	}
}

// Close closes the writer's clients; no Write may run.
func (w *Writer) Close() {
	var wg sync.WaitGroup
	for range w.opts.Producers {
		p := <-w.pool
		if p.cl != nil {
			wg.Go(p.cl.Close)
		}
	}
	wg.Wait()
}

// Records returns samples as raw-topic records of the native protobuf
// batch format: one record per non-empty group of series (see Groups),
// keyed by the group, samples in the order given. heads, nil or as long as
// samples, holds the encoded heads of their series (sample.AppendSeriesHead)
// where the caller has them, nil elsewhere.
func Records(topic string, samples []sample.Sample, heads [][]byte) []*kgo.Record {
	if len(samples) == 0 {
		return nil
	}
	// Each run of samples of one series is encoded once, into its group's
	// record, as one Series of the batch; the records are sized first.
	type run struct {
		from, to, group int
		head            []byte
	}
	runs := make([]run, 0, 64)
	var sizes [Groups]int
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && sample.SameSeries(&samples[i], &samples[j]) {
			j++
		}
		r := run{from: i, to: j, group: int(samples[i].SeriesID() % Groups)}
		if heads != nil {
			r.head = heads[i]
		}
		if r.head != nil {
			sizes[r.group] += sample.SeriesSize(r.head, samples[i:j])
		} else {
			sizes[r.group] += sample.ProtoSize(samples[i:j])
		}
		runs = append(runs, r)
		i = j
	}
	var groups [Groups][]byte
	for g, n := range sizes {
		if n > 0 {
			groups[g] = make([]byte, 0, n)
		}
	}
	for _, r := range runs {
		if r.head != nil {
			groups[r.group] = sample.AppendSeries(groups[r.group], r.head, samples[r.from:r.to])
		} else {
			groups[r.group] = sample.AppendProto(groups[r.group], samples[r.from:r.to])
		}
	}
	var recs []*kgo.Record
	for g := range groups {
		if len(groups[g]) == 0 {
			continue
		}
		recs = append(recs, &kgo.Record{
			Topic: topic, Key: groupKeys[g], Value: groups[g],
			Headers: []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeProto)}},
		})
	}
	return recs
}

var groupKeys = func() (keys [Groups][]byte) {
	for g := range keys {
		keys[g] = []byte("series-group-" + strconv.Itoa(g))
	}
	return keys
}()

// deadLetter is the dead letter of a sample a gateway refused: the sample
// as JSON, with the reason and the series as the client named it.
func deadLetter(topic, gateway string, r *Refused) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(r.Series), Value: sample.AppendJSON(nil, &r.Sample), Headers: []kgo.RecordHeader{
		{Key: sample.HeaderReason, Value: []byte(r.Reason)},
		{Key: sample.HeaderError, Value: []byte(r.Err.Error())},
		{Key: sample.HeaderSource, Value: []byte(gateway + ": " + r.Series)},
		{Key: sample.ContentTypeHeader, Value: []byte(sample.ContentTypeJSON)},
	}}
}
