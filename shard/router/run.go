package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// wakes to publish its counters and move the watermarks of quiet
	// partitions; 0 means 1s.
	IdleWake time.Duration
	// IdleTimeout is how long a raw partition that is caught up (read to
	// its end) may go without a new record before it stops holding event
	// time back: its watermark then follows the router's clock, less the
	// skew allowance (the router limits' MaxFuture), so that the windows
	// of quiet input close. A partition not caught up always holds event
	// time back. 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	Now         func() time.Time // nil means time.Now
	Logger      *slog.Logger
	// OnBatch, if set, is called after each committed transaction with the
	// number of raw records it consumed (for metrics and tests).
	OnBatch func(records int)
	// LeaveOnStop, if set, is asked when Run's context ends: if it says
	// the router stops for good (its node left the cluster), the router
	// leaves the routers' group at once, so that its raw partitions go to
	// the other routers without waiting for the group's session timeout.
	// Their watermarks stay where the router left them until their new
	// owners move them on.
	LeaveOnStop func() bool
}

// Run consumes the raw topics in the router group and, in one Kafka
// transaction per poll, produces the shard records of what it read, the
// dead letters and the watermarks of the raw partitions it owns, and
// commits the consumed offsets: a raw record is routed exactly once, or its
// transaction aborts and it is read again. Replicas read the shard topic
// with read_committed isolation.
//
// Each raw partition's watermark moves on its own, with the timestamps of
// the samples read from it (every sample, whether a rule keeps it or not),
// or, once the partition is caught up and quiet for cfg.IdleTimeout, with
// the wall clock; see shard.AppendPartitions for how the replicas combine
// them. The watermarks go in the transaction of the samples that moved
// them, so what a shard is told never runs past what was routed to it.
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
	// The partitions assigned and taken away, in order, for the loop to
	// apply: the group's callbacks run on the client's goroutines.
	var (
		assignMu sync.Mutex
		assigns  []assignment
	)
	note := func(owned bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			assignMu.Lock()
			defer assignMu.Unlock()
			for t, parts := range ps {
				for _, p := range parts {
					assigns = append(assigns, assignment{TopicPartition{t, p}, owned})
				}
			}
		}
	}
	opts := append([]kgo.Opt{
		kgo.OnPartitionsAssigned(note(true)),
		kgo.OnPartitionsRevoked(note(false)),
		kgo.OnPartitionsLost(note(false)),
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
	et := newEventTime(cfg.IdleTimeout, r.limits.MaxFuture)
	// publish updates the lag from the session's position and the
	// committed watermarks, and publishes the counters.
	publish := func() {
		r.stats.Lag = hw.lag(sess.Client().CommittedOffsets(), r.stats.Lag)
		r.stats.Watermarks = et.committedWatermarks(r.stats.Watermarks)
		r.publish()
	}

	var (
		out      []Output
		wms      []shard.PartitionWatermark
		lastWMs  time.Time // when the watermarks were last written
		clientAt = func(offs map[string]map[int32]kgo.EpochOffset, tp TopicPartition) int64 {
			if o, ok := offs[tp.Topic][tp.Partition]; ok && o.Offset >= 0 {
				return o.Offset
			}
			return -1
		}
	)
	// The raw topics with their partition counts, which the watermark
	// records carry so that a replica waits for every partition.
	topics := make([]shard.RawTopic, len(cfg.RawTopics))
	for i, t := range cfg.RawTopics {
		topics[i].Name = t
	}
	var (
		topicsAt, endsAt time.Time
		unknown, added   []TopicPartition
	)
	adm := kadm.NewClient(sess.Client())
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
		if now.Sub(topicsAt) >= topicsRefresh {
			r.countPartitions(ctx, adm, topics, cfg.Logger)
			topicsAt = now
		}
		assignMu.Lock()
		added = added[:0]
		for _, a := range assigns {
			if a.owned {
				if !et.owned(a.tp) {
					added = append(added, a.tp)
				}
				et.assign(a.tp, now)
			} else {
				et.revoke(a.tp)
			}
		}
		assigns = assigns[:0]
		assignMu.Unlock()
		committedOffs := sess.Client().CommittedOffsets()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err == nil {
				tp := TopicPartition{p.Topic, p.Partition}
				et.fetched(tp, p.HighWatermark, p.LogStartOffset, clientAt(committedOffs, tp))
			}
		})
		// Partitions that no fetch has told the end of (one with nothing
		// to read may not be in any; every one just assigned): ask Kafka,
		// at once for those just assigned, else at most once an IdleWake.
		// The same listing tells whether a partition just assigned has
		// a committed offset outside its log: a raw topic recreated or
		// truncated, or records deleted unread, said before reading on.
		unknown = et.unknownEnds(unknown[:0])
		for _, tp := range added {
			if !slices.Contains(unknown, tp) {
				unknown = append(unknown, tp)
			}
		}
		if len(added) > 0 || len(unknown) > 0 && now.Sub(endsAt) >= cfg.IdleWake {
			endsAt = now
			bs, err := listBounds(ctx, adm, unknown)
			if err != nil {
				cfg.Logger.Warn("list the raw partitions' offsets", "err", err)
			}
			for tp, b := range bs {
				et.fetched(tp, b.end, b.start, clientAt(committedOffs, tp))
			}
			for _, g := range offsetGaps(committedOffs, added, bs) {
				cfg.Logger.Error(g.String(), g.logArgs()...)
				if g.Recreated() {
					r.stats.RawRecreated++
				} else {
					r.stats.RawRecordsLost += uint64(g.Lost())
				}
			}
		}
		if fs.NumRecords() == 0 {
			// Nothing to route: the watermarks of quiet partitions may
			// still move, at most once an IdleWake.
			var moved bool
			if now.Sub(lastWMs) >= cfg.IdleWake {
				wms, moved = et.announce(wms[:0], now)
			}
			if !moved {
				publish() // a revocation, or a high watermark, may have come
				continue
			}
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
				// A transaction marker: its offset is consumed, no more.
				et.read(TopicPartition{rec.Topic, rec.Partition}, rec.Offset, shard.NoWatermark, now)
				return
			}
			n++
			var rerr error
			out, rerr = r.Route(rec.Topic, rec.Value, formatOf(rec), now.UnixMilli(), out[:0])
			et.read(TopicPartition{rec.Topic, rec.Partition}, rec.Offset, r.recordMax, now)
			if rerr != nil {
				sess.Produce(ctx, deadLetter(cfg.DeadLetterTopic, rec, rec.Value, rerr), promise)
				deadRecs++
				return
			}
			for _, b := range r.Bad() {
				sess.Produce(ctx, deadLetter(cfg.DeadLetterTopic, rec, b.Raw, b.Err), promise)
				deadRecs++
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
		if fs.NumRecords() > 0 {
			wms, _ = et.announce(wms[:0], now)
		}
		v := shard.AppendPartitions(nil, cfg.ID, topics, wms)
		for p := range r.shards {
			sess.Produce(ctx, &kgo.Record{Topic: cfg.ShardTopic, Partition: int32(p), Value: v}, promise)
		}
		wmRecs += r.shards
		if err := sess.Client().Flush(ctx); err != nil {
			prodErr = errors.Join(prodErr, err)
		}
		commit := kgo.TryCommit
		if prodErr != nil {
			cfg.Logger.Error("produce shard records; aborting the transaction", "err", prodErr)
			commit = kgo.TryAbort
		}
		// Stopped mid-batch (its produces then fail, and it aborts), the
		// transaction still ends, within a bound, so that the next owner
		// of the partitions does not wait for it to time out.
		ectx, ecancel := ctx, context.CancelFunc(func() {})
		if ctx.Err() != nil {
			ectx, ecancel = context.WithTimeout(context.WithoutCancel(ctx), stopEndTimeout)
		}
		committed, err := sess.End(ectx, commit)
		ecancel()
		if err != nil {
			if ctx.Err() != nil {
				// Whether it committed is the broker's to say; either
				// way the records are routed once.
				cfg.Logger.Warn("router stopped while ending a transaction", "err", err)
				return r.stopped(sess, cfg, clientOpts)
			}
			return fmt.Errorf("router: end transaction: %w", err)
		}
		if !committed {
			// Aborted (a produce failed, or a rebalance came): the
			// records are read again by whoever owns them now. The
			// watermark is recomputed as they come again.
			cfg.Logger.Warn("router transaction aborted", "records", n)
			et.aborted()
			publish()
			continue
		}
		et.committed()
		lastWMs = now
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
	cfg.Logger.Info("router left: its partitions go to the others", "router", cfg.ID)
	return nil
}

// stopEndTimeout bounds the end of the transaction a stopping router was
// in.
const stopEndTimeout = 10 * time.Second

// topicsRefresh is how often the router counts the raw topics' partitions.
const topicsRefresh = 30 * time.Second

// countPartitions sets the partition count of each raw topic that Kafka
// tells; a count it cannot learn stays as it was.
func (r *Router) countPartitions(ctx context.Context, adm *kadm.Client, topics []shard.RawTopic, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	td, err := adm.ListTopics(ctx, names...)
	if err != nil {
		log.Warn("count the raw topics' partitions", "err", err)
		return
	}
	for i := range topics {
		if d, ok := td[topics[i].Name]; ok && d.Err == nil && len(d.Partitions) <= shard.MaxRawPartitions {
			topics[i].Partitions = int32(len(d.Partitions))
		}
	}
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

// deadLetter is a dead-letter record of rec: value (the whole record, or
// one sample of it as a record of one sample in the same format), with
// rec's key and headers, the reason, and, for a sample, its position in
// rec.
func deadLetter(topic string, rec *kgo.Record, value []byte, err error) *kgo.Record {
	code := "unknown"
	var de *sample.DecodeError
	if errors.As(err, &de) {
		code = de.Code()
	}
	hs := []kgo.RecordHeader{
		{Key: sample.HeaderReason, Value: []byte(code)},
		{Key: sample.HeaderError, Value: []byte(err.Error())},
		{Key: sample.HeaderSource, Value: []byte(rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "/" + strconv.FormatInt(rec.Offset, 10))},
	}
	if de != nil && de.Index >= 0 {
		hs = append(hs, kgo.RecordHeader{Key: sample.HeaderPosition, Value: []byte(strconv.Itoa(de.Index))})
	}
	return &kgo.Record{Topic: topic, Partition: 0, Key: rec.Key, Value: value, Headers: append(hs, rec.Headers...)}
}

// assignment is a raw partition given to the router, or taken away.
type assignment struct {
	tp    TopicPartition
	owned bool
}
