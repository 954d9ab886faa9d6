package windowlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrFenced is returned by Emit when the window log no longer takes this
// emitter's writes: a newer leader fenced it, or the lease it was given
// ran out before the commit.
var ErrFenced = errors.New("windowlog: fenced")

// Emitter writes one shard's partition of the window log. It is used by one
// goroutine at a time (the shard's leadership).
type Emitter struct {
	topic      string
	selections string // the selections topic; "" writes none
	shard      int32
	opts       []kgo.Opt
	cl         *kgo.Client
}

// TransactionalID is the Kafka transactional ID of shard's window log
// writer: the same for every replica of the shard, so that a new leader's
// producer fences the old one's.
func TransactionalID(shard int32) string { return "tumble-windows-" + strconv.Itoa(int(shard)) }

// NewEmitter returns the writer of shard's partition of topic, and of the
// selections topic selections (the windows' selections go to partition
// shard of it; "" writes them nowhere). clientOpts configure the Kafka
// client (seed brokers, TLS…).
func NewEmitter(topic, selections string, shard int32, clientOpts ...kgo.Opt) (*Emitter, error) {
	if topic == "" || shard < 0 {
		return nil, fmt.Errorf("windowlog: topic %q shard %d", topic, shard)
	}
	e := &Emitter{topic: topic, selections: selections, shard: shard, opts: clientOpts}
	return e, e.reopen()
}

// reopen starts a new client: a fenced transactional producer cannot be
// used again.
func (e *Emitter) reopen() error {
	if e.cl != nil {
		e.cl.Close()
	}
	opts := append([]kgo.Opt{
		kgo.TransactionalID(TransactionalID(e.shard)),
		kgo.TransactionTimeout(30 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	}, e.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("windowlog shard %d: kafka client: %w", e.shard, err)
	}
	e.cl = cl
	return nil
}

// Close releases the client.
func (e *Emitter) Close() {
	if e.cl != nil {
		e.cl.Close()
		e.cl = nil
	}
}

// Fence claims the shard's transactional ID: from now on the previous
// holder's writes are refused, and a transaction it left open is aborted
// (so Last, afterwards, sees all it committed).
func (e *Emitter) Fence(ctx context.Context) error {
	if err := e.reopen(); err != nil {
		return err
	}
	if _, _, err := e.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("windowlog shard %d: claim the transactional ID: %w", e.shard, err)
	}
	return nil
}

// Last returns the close time of the last window committed to the shard's
// partition, or math.MinInt64 when there is none. Call it after Fence.
func (e *Emitter) Last(ctx context.Context) (int64, error) {
	adm := kadm.NewClient(e.cl)
	offs, err := adm.ListCommittedOffsets(ctx, e.topic)
	if err != nil {
		return 0, fmt.Errorf("windowlog shard %d: list offsets: %w", e.shard, err)
	}
	lo, ok := offs.Lookup(e.topic, e.shard)
	if !ok || lo.Err != nil {
		return 0, fmt.Errorf("windowlog shard %d: no offsets for partition %d of %s: %v", e.shard, e.shard, e.topic, lo.Err)
	}
	end := lo.Offset // the last stable offset: nothing open before it
	last := int64(math.MinInt64)
	// Each transaction ends with its marker: read back from the end until
	// a committed window is met.
	for back := int64(64); ; back *= 4 {
		from := max(0, end-back)
		found, err := e.scan(ctx, from, end, &last)
		if err != nil {
			return 0, err
		}
		if found || from == 0 {
			return last, nil
		}
	}
}

// scan reads the committed records of the partition in [from, end) and
// raises last to the latest close time among them.
func (e *Emitter) scan(ctx context.Context, from, end int64, last *int64) (bool, error) {
	if from >= end {
		return false, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{e.topic: {e.shard: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, e.opts...)...)
	if err != nil {
		return false, fmt.Errorf("windowlog shard %d: kafka client: %w", e.shard, err)
	}
	defer cl.Close()
	found := false
	for next := from; next < end; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := fs.Err0(); err != nil {
			return false, fmt.Errorf("windowlog shard %d: read the log's end: %w", e.shard, err)
		}
		var derr error
		fs.EachRecord(func(r *kgo.Record) {
			next = max(next, r.Offset+1)
			if r.Attrs.IsControl() || r.Offset >= end {
				return
			}
			w, err := Decode(r.Value)
			if err != nil {
				derr = fmt.Errorf("windowlog shard %d offset %d: %w", e.shard, r.Offset, err)
				return
			}
			found = true
			*last = max(*last, w.CloseMs)
		})
		if derr != nil {
			return false, derr
		}
	}
	return found, nil
}

// Emit writes ws, and their selections, in one transaction. valid is asked
// before the commit: if it says no (the leader's lease may have run out),
// the transaction is aborted and Emit returns ErrFenced, as it does when
// Kafka refuses the producer for a newer one.
func (e *Emitter) Emit(ctx context.Context, ws []Window, valid func() bool) error {
	if len(ws) == 0 {
		return nil
	}
	if err := e.cl.BeginTransaction(); err != nil {
		return e.fail(fmt.Errorf("windowlog shard %d: begin transaction: %w", e.shard, err))
	}
	recs := make([]*kgo.Record, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		if e.selections != "" {
			for j := range w.Selections {
				sel := &w.Selections[j]
				sel.Leader, sel.Term = w.Leader, w.Term
				recs = append(recs, &kgo.Record{Topic: e.selections, Partition: e.shard, Key: sel.Key(), Value: sel.Encode()})
			}
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: e.shard, Key: []byte(w.Key()), Value: w.LogRecord()})
	}
	perr := e.cl.ProduceSync(ctx, recs...).FirstErr()
	commit := kgo.TryCommit
	if perr != nil || !valid() {
		commit = kgo.TryAbort
	}
	if err := e.cl.EndTransaction(ctx, commit); err != nil {
		return e.fail(fmt.Errorf("windowlog shard %d: end transaction: %w", e.shard, errors.Join(perr, err)))
	}
	if perr != nil {
		return e.fail(fmt.Errorf("windowlog shard %d: produce: %w", e.shard, perr))
	}
	if commit == kgo.TryAbort {
		return ErrFenced
	}
	return nil
}

// fail turns Kafka's fencing errors into ErrFenced.
func (e *Emitter) fail(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return fmt.Errorf("%w: %w", ErrFenced, err)
	}
	return err
}
