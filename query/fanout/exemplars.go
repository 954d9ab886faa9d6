package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// ExemplarQuerier returns a querier of the exemplars of every shard; its
// Select asks the shards under ctx.
func (q *Queryable) ExemplarQuerier(ctx context.Context) (promstorage.ExemplarQuerier, error) {
	return &exemplarQuerier{q: q, ctx: ctx}, nil
}

type exemplarQuerier struct {
	q   *Queryable
	ctx context.Context
}

// Select returns the exemplars in [start, end] of the series of every shard
// that match one of the matcher sets, one result per series, sorted by the
// series' labels.
//
// The Prometheus API has no warnings for exemplar queries: rather than
// answer without a shard's exemplars and without a word, Select fails if
// any shard has no replica that answers, with an error that joins the
// *UnavailableError of each such shard.
func (e *exemplarQuerier) Select(start, end int64, matchers ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	sets := make([]*fanoutpb.MatcherSet, 0, len(matchers))
	for _, ms := range matchers {
		pms, err := matchersToPB(ms)
		if err != nil {
			return nil, err
		}
		sets = append(sets, &fanoutpb.MatcherSet{Matchers: pms})
	}
	q := e.q
	results := make([][]exemplar.QueryResult, q.opts.Shards)
	unavailable := make([]error, q.opts.Shards)
	err := q.eachShard(e.ctx, func(ctx context.Context, shard int32) error {
		res, err := ask(ctx, q, shard, func(ctx context.Context, r replica) ([]exemplar.QueryResult, error) {
			if r.local != nil {
				eq, err := r.local.ExemplarQuerier(ctx)
				if err != nil {
					return nil, err
				}
				return eq.Select(start, end, matchers...)
			}
			c, err := q.client(r.ep.Addr)
			if err != nil {
				return nil, err
			}
			resp, err := c.Exemplars(ctx, &fanoutpb.ExemplarsRequest{Shard: shard, Start: start, End: end, MatcherSets: sets})
			if err != nil {
				return nil, err
			}
			return exemplarsFromPB(resp), nil
		})
		if ue := (*UnavailableError)(nil); errors.As(err, &ue) {
			unavailable[shard] = ue
			return nil
		}
		results[shard] = res
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(unavailable...); err != nil {
		return nil, fmt.Errorf("exemplars: %w", err)
	}
	return mergeExemplars(results), nil
}

func exemplarsFromPB(resp *fanoutpb.ExemplarsResponse) []exemplar.QueryResult {
	var b labels.ScratchBuilder
	out := make([]exemplar.QueryResult, 0, len(resp.GetSeries()))
	for _, s := range resp.GetSeries() {
		r := exemplar.QueryResult{
			SeriesLabels: labelsFromPB(&b, s.GetLabels()),
			Exemplars:    make([]exemplar.Exemplar, 0, len(s.GetExemplars())),
		}
		for _, e := range s.GetExemplars() {
			r.Exemplars = append(r.Exemplars, exemplar.Exemplar{
				Labels: labelsFromPB(&b, e.GetLabels()),
				Value:  e.GetValue(),
				Ts:     e.GetTimestamp(),
				HasTs:  e.GetHasTimestamp(),
			})
		}
		out = append(out, r)
	}
	return out
}

// mergeExemplars joins the shards' results, sorted by series labels; a
// series that more than one shard returned (which placement rules out) is
// returned once, with its exemplars joined and sorted by time.
func mergeExemplars(results [][]exemplar.QueryResult) []exemplar.QueryResult {
	var out []exemplar.QueryResult
	for _, res := range results {
		out = append(out, res...)
	}
	slices.SortStableFunc(out, func(a, b exemplar.QueryResult) int {
		return labels.Compare(a.SeriesLabels, b.SeriesLabels)
	})
	merged := out[:0]
	for _, r := range out {
		n := len(merged)
		if n == 0 || !labels.Equal(merged[n-1].SeriesLabels, r.SeriesLabels) {
			merged = append(merged, r)
			continue
		}
		exs := append(slices.Clone(merged[n-1].Exemplars), r.Exemplars...)
		slices.SortStableFunc(exs, func(a, b exemplar.Exemplar) int {
			return compareInt64(a.Ts, b.Ts)
		})
		merged[n-1].Exemplars = slices.CompactFunc(exs, func(a, b exemplar.Exemplar) bool { return a.Equals(b) })
	}
	return merged
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
