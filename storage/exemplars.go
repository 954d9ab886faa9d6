package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// TraceIDLabel is the exemplar label that carries the trace ID, in
// lowercase hex, as Grafana and the Prometheus API expect it.
const TraceIDLabel = "trace_id"

// ExemplarQuerier implements storage.ExemplarQueryable: the exemplars kept
// beside the points (the trace behind a percentile, a min or a max).
func (db *DB) ExemplarQuerier(ctx context.Context) (promstorage.ExemplarQuerier, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	return exemplarQuerier{db: db}, nil
}

type exemplarQuerier struct{ db *DB }

// Select returns, per series matching one of the matcher sets, the
// exemplars of its points with timestamps in [start, end]. An exemplar's
// timestamp is that of the sample it was taken from, inside the window of
// the point (whose timestamp is the window's end).
func (q exemplarQuerier) Select(start, end int64, matchers ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	var out []exemplar.QueryResult
	seen := map[uint64][]labels.Labels{}
	for _, ms := range matchers {
		// A window's exemplar is stored with the point at the window's
		// end, after the exemplar's own time: read a little past end.
		to := end
		if r := q.db.maxResolution(); to < math.MaxInt64-r {
			to += r
		} else {
			to = math.MaxInt64
		}
		sel, err := q.db.find(start, to, true, ms)
		if err != nil {
			return nil, err
		}
		for _, s := range sel {
			h := s.lset.Hash()
			dup := false
			for _, o := range seen[h] {
				dup = dup || labels.Equal(o, s.lset)
			}
			if dup {
				continue
			}
			seen[h] = append(seen[h], s.lset)
			exs, err := seriesExemplars(s, start, end)
			if err != nil {
				return nil, err
			}
			if len(exs) > 0 {
				out = append(out, exemplar.QueryResult{SeriesLabels: s.lset, Exemplars: exs})
			}
		}
	}
	return out, nil
}

// maxResolution is the longest resolution of any policy, in ms.
func (db *DB) maxResolution() int64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	var r int64
	for _, t := range db.tiers {
		r = max(r, t.pol.Resolution.Milliseconds())
	}
	return r
}

func seriesExemplars(s *selected, start, end int64) ([]exemplar.Exemplar, error) {
	var out []exemplar.Exemplar
	var it chunkenc.Iterator
	for i := range s.chunks {
		c := &s.chunks[i]
		b, err := c.bytes()
		if err != nil {
			return nil, err
		}
		ch, err := chunkenc.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("exemplars of %s: %w", s.lset, err)
		}
		ci := ch.Iterator(&it)
		for ci.Next() {
			ex, ok := ci.Exemplar()
			if !ok || ex.TimestampMs < start || ex.TimestampMs > end {
				continue
			}
			out = append(out, exemplar.Exemplar{
				Labels: labels.FromStrings(TraceIDLabel, hex.EncodeToString(ex.TraceID[:])),
				Value:  ex.Value,
				Ts:     ex.TimestampMs,
				HasTs:  true,
			})
		}
		if err := ci.Err(); err != nil {
			return nil, fmt.Errorf("exemplars of %s: %w", s.lset, err)
		}
	}
	return out, nil
}
