package node

import (
	"context"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
)

// shardsQueryable reads the storages of a lone node's shards: series are
// partitioned by shard, so merging them never meets the same series twice.
type shardsQueryable []*shardReplica

func (q shardsQueryable) Querier(mint, maxt int64) (promstorage.Querier, error) {
	qs := make([]promstorage.Querier, 0, len(q))
	for _, r := range q {
		sq, err := r.db.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		qs = append(qs, sq)
	}
	return promstorage.NewMergeQuerier(qs, nil, promstorage.ChainedSeriesMerge), nil
}

func (q shardsQueryable) ExemplarQuerier(ctx context.Context) (promstorage.ExemplarQuerier, error) {
	var eqs shardsExemplars
	for _, r := range q {
		eq, err := r.db.ExemplarQuerier(ctx)
		if err != nil {
			return nil, err
		}
		eqs = append(eqs, eq)
	}
	return eqs, nil
}

type shardsExemplars []promstorage.ExemplarQuerier

func (e shardsExemplars) Select(start, end int64, ms ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	var out []exemplar.QueryResult
	for _, eq := range e {
		res, err := eq.Select(start, end, ms...)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}
