package fanout

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// Querier returns a querier of [mint, maxt] over every shard. It asks no
// replica yet: each of its calls does, and a shard none of whose replicas
// answers is reported in that call's annotations.
func (q *Queryable) Querier(mint, maxt int64) (promstorage.Querier, error) {
	return &querier{q: q, mint: mint, maxt: maxt}, nil
}

// querier owns the goroutines its Selects start; Close stops and waits for
// them.
type querier struct {
	q          *Queryable
	mint, maxt int64

	wg      sync.WaitGroup
	mu      sync.Mutex
	closed  bool
	cancels []context.CancelFunc
	// closers are local queriers whose series a Select returned: they are
	// closed with this querier, once nothing reads those series any more.
	closers []promstorage.Querier
}

var _ promstorage.Querier = (*querier)(nil)

// keep registers a local querier to close with q; it reports false, and
// closes lq, if q is closed already.
func (qr *querier) keep(lq promstorage.Querier) bool {
	qr.mu.Lock()
	defer qr.mu.Unlock()
	if qr.closed {
		lq.Close()
		return false
	}
	qr.closers = append(qr.closers, lq)
	return true
}

// Close cancels the Selects still reading, waits for their goroutines and
// closes the local queriers they opened. It is safe to call twice.
func (qr *querier) Close() error {
	qr.mu.Lock()
	if qr.closed {
		qr.mu.Unlock()
		return nil
	}
	qr.closed = true
	for _, cancel := range qr.cancels {
		cancel()
	}
	qr.mu.Unlock()
	qr.wg.Wait()
	qr.mu.Lock()
	closers := qr.closers
	qr.closers = nil
	qr.mu.Unlock()
	var errs []error
	for _, c := range closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// labelsAnswer is one shard's answer to a label query.
type labelsAnswer struct {
	list []string
	ann  annotations.Annotations
}

// LabelNames returns the label names of the matching series of every shard
// that answered, sorted, with a warning for each shard that did not.
func (qr *querier) LabelNames(ctx context.Context, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return qr.labelQuery(ctx, hints, ms,
		func(ctx context.Context, lq promstorage.Querier) ([]string, annotations.Annotations, error) {
			return lq.LabelNames(ctx, hints, ms...)
		},
		func(ctx context.Context, c fanoutpb.QueryClient, shard int32, pms []*fanoutpb.Matcher) (labelsAnswer, error) {
			resp, err := c.LabelNames(ctx, &fanoutpb.LabelNamesRequest{
				Shard: shard, Mint: qr.mint, Maxt: qr.maxt, Matchers: pms, Limit: hintsLimit(hints),
			})
			return remoteLabels(resp.GetNames(), resp, err)
		})
}

// LabelValues returns the values of the label name on the matching series
// of every shard that answered, sorted, with a warning for each shard that
// did not.
func (qr *querier) LabelValues(ctx context.Context, name string, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return qr.labelQuery(ctx, hints, ms,
		func(ctx context.Context, lq promstorage.Querier) ([]string, annotations.Annotations, error) {
			return lq.LabelValues(ctx, name, hints, ms...)
		},
		func(ctx context.Context, c fanoutpb.QueryClient, shard int32, pms []*fanoutpb.Matcher) (labelsAnswer, error) {
			resp, err := c.LabelValues(ctx, &fanoutpb.LabelValuesRequest{
				Shard: shard, Mint: qr.mint, Maxt: qr.maxt, Name: name, Matchers: pms, Limit: hintsLimit(hints),
			})
			return remoteLabels(resp.GetValues(), resp, err)
		})
}

// remoteLabels is the answer of a remote label call: its list and the
// annotations it carried.
func remoteLabels(list []string, resp interface {
	GetWarnings() []string
	GetInfos() []string
}, err error) (labelsAnswer, error) {
	if err != nil {
		return labelsAnswer{}, err
	}
	a := labelsAnswer{list: list}
	addRemoteAnnotations(&a.ann, resp.GetWarnings(), resp.GetInfos())
	return a, nil
}

func hintsLimit(h *promstorage.LabelHints) int64 {
	if h == nil || h.Limit <= 0 {
		return 0
	}
	return int64(h.Limit)
}

// labelQuery asks a replica of every shard, with local when the replica is
// in-process and remote over gRPC otherwise, and merges the answers: the
// union, sorted, cut at the hints' limit, with the shards' annotations and
// a warning per shard that did not answer.
func (qr *querier) labelQuery(ctx context.Context, hints *promstorage.LabelHints, ms []*labels.Matcher,
	local func(context.Context, promstorage.Querier) ([]string, annotations.Annotations, error),
	remote func(ctx context.Context, c fanoutpb.QueryClient, shard int32, pms []*fanoutpb.Matcher) (labelsAnswer, error),
) ([]string, annotations.Annotations, error) {
	pms, err := matchersToPB(ms)
	if err != nil {
		return nil, nil, err
	}
	answers := make([]labelsAnswer, qr.q.opts.Shards)
	err = qr.q.eachShard(ctx, func(ctx context.Context, shard int32) error {
		a, err := ask(ctx, qr.q, shard, func(ctx context.Context, r replica) (labelsAnswer, error) {
			if r.local != nil {
				lq, err := r.local.Querier(qr.mint, qr.maxt)
				if err != nil {
					return labelsAnswer{}, err
				}
				defer lq.Close()
				list, ann, err := local(ctx, lq)
				return labelsAnswer{list, ann}, err
			}
			c, err := qr.q.client(r.ep.Addr)
			if err != nil {
				return labelsAnswer{}, err
			}
			return remote(ctx, c, shard, pms)
		})
		var unavailable *UnavailableError
		if errors.As(err, &unavailable) {
			a.ann.Add(unavailable)
			err = nil
		}
		answers[shard] = a
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var (
		all []string
		ann annotations.Annotations
	)
	for _, a := range answers {
		all = append(all, a.list...)
		ann.Merge(a.ann)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if hints != nil && hints.Limit > 0 && len(all) > hints.Limit {
		all = all[:hints.Limit]
	}
	return all, ann, nil
}

// Select returns the matching series of every shard that answered, merged
// and sorted by labels whether sortSeries is set or not, with a warning for
// each shard none of whose replicas answered. Every shard is read at once
// (Concurrency at a time), starting now; the series of a shard are passed
// on as its replica streams them.
func (qr *querier) Select(ctx context.Context, _ bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	pms, err := matchersToPB(ms)
	if err != nil {
		return promstorage.ErrSeriesSet(err)
	}
	qr.mu.Lock()
	if qr.closed {
		qr.mu.Unlock()
		return promstorage.ErrSeriesSet(errors.New("select on a closed querier"))
	}
	// The goroutines start under mu, so that Close, once it has seen
	// closed unset, waits for them all.
	defer qr.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	qr.cancels = append(qr.cancels, cancel)

	req := &fanoutpb.SelectRequest{
		Mint:     qr.mint,
		Maxt:     qr.maxt,
		Matchers: pms,
		Hints:    hintsToPB(hints),
		NoPoints: hints != nil && hints.Func == "series",
	}
	sc := &selectCall{
		q:     qr,
		req:   req,
		hints: hints,
		ms:    ms,
		sem:   make(chan struct{}, qr.q.opts.Concurrency),
	}
	sets := make([]promstorage.SeriesSet, qr.q.opts.Shards)
	for shard := range int32(qr.q.opts.Shards) {
		s := &shardSet{ch: make(chan []promstorage.Series, 2)}
		sets[shard] = s
		qr.wg.Go(func() { sc.read(ctx, shard, s) })
	}
	limit := 0
	if hints != nil {
		limit = hints.Limit
	}
	return &lazyMerge{sets: sets, limit: limit}
}
