package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
)

// Config is what Run needs besides the Router.
type Config struct {
	RawTopics       []string
	Group           string // the consumer group of the routers
	ShardTopic      string
	DeadLetterTopic string
	// ID names this router in its watermark records and, prefixed, in its
	// Kafka transactional ID: it must be unique among the routers and stay
	// the same across restarts of this one (a restarted router fences its
	// previous incarnation by it).
	ID string
	// IdleWake is how long a poll waits for records before the router
	// wakes to publish its counters; 0 means 1s.
	IdleWake time.Duration
	Now      func() time.Time // nil means time.Now
	Logger   *slog.Logger
	// OnBatch, if set, is called after each committed transaction with the
	// number of raw records it consumed (for metrics and tests).
	OnBatch func(records int)
	// LeaveOnStop, if set, is asked when Run's context ends: if it says
	// the router stops for good (its node left the cluster), the router
	// writes shard.RouterLeft to every shard partition, so that the
	// replicas stop waiting for its watermark. A router that restarts must
	// not: its partitions may hold samples older than the others'
	// watermarks, which would then be late.
	LeaveOnStop func() bool
}

// Dead-letter record headers.
const (
	HeaderReason = "tumble-reason" // the reason code, e.g. malformed_json
	HeaderError  = "tumble-error"  // the error, for a person
	HeaderSource = "tumble-source" // topic/partition/offset of the raw record
)

// Run consumes the raw topics in the router group and, in one Kafka
// transaction per poll, produces the shard records of what it read, the
// dead letters and the watermarks, and commits the consumed offsets: a raw
// record is routed exactly once, or its transaction aborts and it is read
// again. Replicas read the shard topic with read_committed isolation.
func (r *Router) Run(ctx context.Context, cfg Config, clientOpts ...kgo.Opt) error {
	if cfg.ID == "" || cfg.Group == "" || cfg.ShardTopic == "" || cfg.DeadLetterTopic == "" || len(cfg.RawTopics) == 0 {
		return errors.New("router: ID, Group, ShardTopic, DeadLetterTopic and RawTopics are required")
	}
	if cfg.IdleWake == 0 {
		cfg.IdleWake = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.RawTopics...),
		kgo.TransactionalID("tumble-router-" + cfg.ID),
		// Static membership: a router restarted under the same ID takes
		// its partitions back at once, instead of waiting for the group
		// to time the killed one out. A router that stops for good hands
		// its partitions on after the session timeout.
		kgo.InstanceID(instanceID(cfg.ID)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// Transaction markers of the producers to the raw topics take
		// offsets too: the router sees them, so that its position, and
		// the offsets it commits, go past them (else a partition whose
		// last record is a marker would lag by one for ever).
		kgo.KeepControlRecords(),
	}, clientOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("router: kafka client: %w", err)
	}
	defer sess.Close()
	// Claim the transactional ID now, not at the first record: that aborts
	// a transaction a killed run of this router left open, which would
	// otherwise hold every reader of the shard partitions back until it
	// timed out, even if this run is given nothing to route.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		if ctx.Err() != nil {
			return r.stopped(sess, cfg, clientOpts)
		}
		return fmt.Errorf("router: claim transactional ID %s: %w", "tumble-router-"+cfg.ID, err)
	}

	// Every series the router may count, from the start.
	for _, t := range cfg.RawTopics {
		for _, f := range []sample.Format{sample.FormatJSON, sample.FormatProto} {
			r.stats.SamplesIn[TopicFormat{t, f}] += 0
		}
	}
	r.stats.RecordsOut[cfg.ShardTopic] += 0
	r.stats.RecordsOut[cfg.DeadLetterTopic] += 0
	r.stats.SamplesOut[cfg.ShardTopic] += 0
	hw := highWatermarks{}
	// publish updates the lag from the session's position and publishes
	// the counters.
	publish := func() {
		r.stats.Lag = hw.lag(sess.Client().CommittedOffsets(), r.stats.Lag)
		r.publish()
	}

	var out []Output
	lastWM := r.wm // the watermark written last: none yet
	for {
		// Wake up at least every IdleWake, to publish the lag when
		// nothing comes.
		pctx, pcancel := context.WithTimeout(ctx, cfg.IdleWake)
		fs := sess.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			return r.stopped(sess, cfg, clientOpts)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				cfg.Logger.Warn("fetch", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		hw.fetched(fs)
		now := cfg.Now()
		if fs.NumRecords() == 0 && r.wm == lastWM {
			publish() // a revocation, or a high watermark, may have come
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("router: begin transaction: %w", err)
		}
		var (
			mu      sync.Mutex
			prodErr error
		)
		promise := func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErr = errors.Join(prodErr, err)
				mu.Unlock()
			}
		}
		// n counts the raw records; the others, the records produced,
		// which count once the transaction commits.
		var n, sampleRecs, samples, wmRecs, deadRecs int
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Attrs.IsControl() {
				return // a transaction marker: its offset is consumed, no more
			}
			n++
			var rerr error
			out, rerr = r.Route(rec.Topic, rec.Value, formatOf(rec), now.UnixMilli(), out[:0])
			if rerr != nil {
				sess.Produce(ctx, deadLetter(cfg.DeadLetterTopic, rec, rerr), promise)
				deadRecs++
				return
			}
			for _, o := range out {
				sess.Produce(ctx, &kgo.Record{Topic: cfg.ShardTopic, Partition: o.Partition, Value: o.Value}, promise)
				samples += o.Samples
			}
			sampleRecs += len(out)
		})
		// The watermark goes in the transaction of the samples that
		// moved it: a router that dies after the commit has no later
		// chance to write it (its successor does not read those
		// samples again), and the shards would wait for it for ever.
		if r.wm != lastWM {
			v := shard.AppendWatermark(nil, cfg.ID, r.wm)
			for p := range r.shards {
				sess.Produce(ctx, &kgo.Record{Topic: cfg.ShardTopic, Partition: int32(p), Value: v}, promise)
			}
			wmRecs += r.shards
			lastWM = r.wm
		}
		if err := sess.Client().Flush(ctx); err != nil {
			prodErr = errors.Join(prodErr, err)
		}
		commit := kgo.TryCommit
		if prodErr != nil {
			cfg.Logger.Error("produce shard records; aborting the transaction", "err", prodErr)
			commit = kgo.TryAbort
		}
		committed, err := sess.End(ctx, commit)
		if err != nil {
			return fmt.Errorf("router: end transaction: %w", err)
		}
		if !committed {
			// Aborted (a produce failed, or a rebalance came): the
			// records are read again by whoever owns them now. The
			// watermark is recomputed as they come again.
			cfg.Logger.Warn("router transaction aborted", "records", n)
			lastWM = math.MinInt64
			publish()
			continue
		}
		r.stats.RecordsOut[cfg.ShardTopic] += uint64(sampleRecs + wmRecs)
		r.stats.SamplesOut[cfg.ShardTopic] += uint64(samples)
		r.stats.RecordsOut[cfg.DeadLetterTopic] += uint64(deadRecs)
		publish()
		if cfg.OnBatch != nil {
			cfg.OnBatch(n)
		}
	}
}

// stopped ends Run when its context ended: if the router goes for good,
// it says so to the shards and leaves the routers' group.
func (r *Router) stopped(sess *kgo.GroupTransactSession, cfg Config, clientOpts []kgo.Opt) error {
	if cfg.LeaveOnStop == nil || !cfg.LeaveOnStop() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.leave(ctx, sess, cfg); err != nil {
		return err
	}
	// A static member that closes stays in the group, its partitions
	// unread, until the session timeout: remove it by its instance ID.
	sess.Close()
	// Failing that, they move after the session timeout: worth a warning,
	// not an error.
	adm, err := kgo.NewClient(clientOpts...)
	if err == nil {
		var resps kadm.LeaveGroupResponses
		resps, err = kadm.NewClient(adm).LeaveGroup(ctx, kadm.LeaveGroup(cfg.Group).InstanceIDs(instanceID(cfg.ID)).Reason("router left the cluster"))
		if err == nil {
			err = resps.Error()
		}
		adm.Close()
	}
	if err != nil {
		cfg.Logger.Warn("router left, but not its group: its partitions move after the session timeout", "router", cfg.ID, "group", cfg.Group, "err", err)
		return nil
	}
	cfg.Logger.Info("router left: the shards no longer wait for its watermark, its partitions go to the others", "router", cfg.ID)
	return nil
}

// leave writes, in a transaction of its own, that the router has left to
// every shard partition.
func (r *Router) leave(ctx context.Context, sess *kgo.GroupTransactSession, cfg Config) error {
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("router: leave: begin transaction: %w", err)
	}
	v := shard.AppendWatermark(nil, cfg.ID, shard.RouterLeft)
	for p := range r.shards {
		sess.Produce(ctx, &kgo.Record{Topic: cfg.ShardTopic, Partition: int32(p), Value: v}, nil)
	}
	if err := sess.Client().Flush(ctx); err != nil {
		sess.End(ctx, kgo.TryAbort)
		return fmt.Errorf("router: leave: %w", err)
	}
	committed, err := sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return fmt.Errorf("router: leave: end transaction: %w", err)
	}
	if !committed {
		return errors.New("router: leave: the transaction was aborted")
	}
	return nil
}

// instanceID is the router's static member ID in the routers' group.
func instanceID(id string) string { return "tumble-router-" + id }

// formatOf returns the format a raw record's content-type header declares.
func formatOf(rec *kgo.Record) sample.Format {
	for _, h := range rec.Headers {
		if h.Key == sample.ContentTypeHeader {
			return sample.ParseFormat(string(h.Value))
		}
	}
	return sample.FormatAuto
}

// deadLetter is the dead-letter record of rec: its key, value and headers
// as they came, plus the reason.
func deadLetter(topic string, rec *kgo.Record, err error) *kgo.Record {
	code := "unknown"
	var de *sample.DecodeError
	if errors.As(err, &de) {
		code = de.Code()
	}
	hs := append([]kgo.RecordHeader{
		{Key: HeaderReason, Value: []byte(code)},
		{Key: HeaderError, Value: []byte(err.Error())},
		{Key: HeaderSource, Value: []byte(rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "/" + strconv.FormatInt(rec.Offset, 10))},
	}, rec.Headers...)
	return &kgo.Record{Topic: topic, Partition: 0, Key: rec.Key, Value: rec.Value, Headers: hs}
}
