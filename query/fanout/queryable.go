package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	promstorage "github.com/prometheus/prometheus/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// Endpoint is a replica of a shard: the node that holds it and the address
// of that node's Query service.
type Endpoint struct {
	Node string // the node's name, as placement knows it
	Addr string // host:port
}

func (e Endpoint) String() string {
	if e.Node == "" {
		return e.Addr
	}
	return e.Node + " at " + e.Addr
}

const (
	defaultAttemptTimeout = 10 * time.Second
	defaultConcurrency    = 16
)

// Options configures a Queryable.
type Options struct {
	// Shards is the number of shards of the cluster: 0 to Shards-1 are
	// asked. Required.
	Shards int

	// Replicas returns the replicas of a shard in the order to ask them:
	// the leader first. It is called once per shard and query, from any
	// goroutine, and may return a new answer each time placement changes.
	// Required.
	Replicas func(shard int32) []Endpoint

	// Pool gives the connections to the replicas. Required; the caller
	// owns and closes it.
	Pool *Pool

	// Node is this node's name. A replica whose Endpoint.Node is Node is
	// read in-process, through Local, at its place in the order Replicas
	// gives (placing this node first makes local reads preferred); if Local
	// does not hold the shard, it is asked over gRPC like the others.
	Node string

	// Local returns the replica of a shard this node holds, and false if
	// it holds none; nil means none is read in-process. Requires Node.
	Local func(shard int32) (Shard, bool)

	// AttemptTimeout bounds each wait for a replica: a label or exemplar
	// call, and each message of a Select stream (the first one included).
	// A replica that does not answer in time is given up for the next one.
	// 0 means 10s.
	AttemptTimeout time.Duration

	// Concurrency is how many shards a call reads at once; 0 means 16.
	Concurrency int

	// Logger receives, at debug level, each replica given up for the next;
	// nil discards.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	if o.Shards <= 0 || o.Shards > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("Shards %d: want 1 to %d", o.Shards, math.MaxInt32))
	}
	if o.Replicas == nil {
		errs = append(errs, errors.New("Replicas: nil; want the function that lists the replicas of a shard"))
	}
	if o.Pool == nil {
		errs = append(errs, errors.New("Pool: nil; want a connection pool, which the caller closes"))
	}
	if o.Local != nil && o.Node == "" {
		errs = append(errs, errors.New(`Node: ""; Local needs this node's name, to tell its replicas in Replicas' answer`))
	}
	if o.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("AttemptTimeout %s: want 0 (the default) or more", o.AttemptTimeout))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("Concurrency %d: want 0 (the default) or more", o.Concurrency))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fanout options: %w", err)
	}
	return nil
}

// Queryable reads every shard of the cluster, each from one replica that
// answers: it implements Prometheus' storage.Queryable and
// storage.ExemplarQueryable, for the PromQL engine and the query API.
//
// A Queryable is immutable and safe for concurrent use; so are its
// queriers, except that a SeriesSet is read by one goroutine.
type Queryable struct {
	opts Options
}

var (
	_ promstorage.Queryable         = (*Queryable)(nil)
	_ promstorage.ExemplarQueryable = (*Queryable)(nil)
)

// New returns a Queryable over the shards that opts describe.
func New(opts Options) (*Queryable, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = defaultAttemptTimeout
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Queryable{opts: opts}, nil
}

// replica is one replica to ask: in-process if local is set, else over
// gRPC at ep.Addr.
type replica struct {
	ep    Endpoint
	local Shard
}

// replicas lists the replicas of shard in the order to ask them.
func (q *Queryable) replicas(shard int32) []replica {
	eps := q.opts.Replicas(shard)
	out := make([]replica, 0, len(eps))
	for _, ep := range eps {
		r := replica{ep: ep}
		if q.opts.Local != nil && ep.Node == q.opts.Node {
			if sh, ok := q.opts.Local(shard); ok && sh != nil {
				r.local = sh
			}
		}
		out = append(out, r)
	}
	return out
}

func (q *Queryable) client(addr string) (fanoutpb.QueryClient, error) {
	conn, err := q.opts.Pool.Conn(addr)
	if err != nil {
		return nil, err
	}
	return fanoutpb.NewQueryClient(conn), nil
}

// errNoAnswer is the cause of an attempt's context when AttemptTimeout
// ran out.
var errNoAnswer = errors.New("no answer in time")

func (q *Queryable) timeoutError() error {
	return fmt.Errorf("no answer within %s", q.opts.AttemptTimeout)
}

// final reports whether err ends a call rather than send it to the next
// replica: a request no replica could answer either.
func final(err error) bool {
	return status.Code(err) == codes.InvalidArgument
}

// ask calls call on the replicas of shard in order until one answers, each
// under AttemptTimeout. It returns the answer; or, if none answered, an
// *UnavailableError; or the error of ctx, or a final error.
func ask[T any](ctx context.Context, q *Queryable, shard int32, call func(ctx context.Context, r replica) (T, error)) (T, error) {
	var zero T
	var failed []ReplicaError
	for _, r := range q.replicas(shard) {
		actx, cancel := context.WithTimeoutCause(ctx, q.opts.AttemptTimeout, errNoAnswer)
		v, err := call(actx, r)
		timedOut := errors.Is(context.Cause(actx), errNoAnswer)
		cancel()
		if err == nil {
			return v, nil
		}
		if ctxErr := ended(ctx); ctxErr != nil {
			return zero, ctxErr
		}
		if final(err) {
			return zero, err
		}
		if timedOut {
			err = q.timeoutError()
		}
		failed = append(failed, q.giveUp(shard, r, err))
	}
	return zero, &UnavailableError{Shard: shard, Replicas: failed}
}

// ended returns the error of ctx, or context.DeadlineExceeded once its
// deadline has passed by the clock though its timer has not fired yet: a
// replica's server, which the deadline reaches with the call, may end the
// call first, and then its failure is the query's deadline, not the
// replica's.
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// giveUp logs and returns why replica r of shard gave no answer; attrs are
// logged too.
func (q *Queryable) giveUp(shard int32, r replica, err error, attrs ...any) ReplicaError {
	re := ReplicaError{Endpoint: r.ep, Local: r.local != nil, Err: err}
	attrs = append([]any{"shard", shard, "replica", r.ep.String(), "local", re.Local, "err", err}, attrs...)
	q.opts.Logger.Debug("shard replica gave no answer", attrs...)
	return re
}

// eachShard calls fn for every shard, Concurrency at a time, and waits for
// them. The first error fn returns cancels the calls still running and is
// returned.
func (q *Queryable) eachShard(ctx context.Context, fn func(ctx context.Context, shard int32) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, q.opts.Concurrency)
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	for shard := range int32(q.opts.Shards) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, shard); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
