package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
)

// The values of the stats parameter: "true" adds the query's statistics
// to the answer, "all" its statistics per step too.
const (
	statsTrue = "true"
	statsAll  = "all"
)

// errTruncated is the warning of an answer cut at the limit parameter.
var errTruncated = errors.New("results truncated due to limit")

// queryOpts reads the parameters that tune a query: lookback_delta, stats
// and the X-Prometheus-Use-Start-Timestamps header.
func queryOpts(r *http.Request) (promql.QueryOpts, error) {
	var lookback time.Duration
	if s := r.FormValue("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	var useStart *bool
	if s := r.Header.Get("X-Prometheus-Use-Start-Timestamps"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("error parsing X-Prometheus-Use-Start-Timestamps header: %w", err)
		}
		useStart = &b
	}
	return promql.NewPrometheusQueryOpts(r.FormValue("stats") == statsAll, lookback, useStart), nil
}

// query answers /api/v1/query: query, time (default now), timeout, limit
// (of the series of the answer), lookback_delta, stats.
func (a *API) query(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return fail(invalidParam("limit", err))
	}
	ts, err := timeParam(r, "time", a.now())
	if err != nil {
		return fail(invalidParam("time", err))
	}
	return a.exec(r, limit, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewInstantQuery(ctx, a.queryable, opts, r.FormValue("query"), ts)
	})
}

// queryRange answers /api/v1/query_range: query, start, end, step,
// timeout, limit, lookback_delta, stats.
func (a *API) queryRange(r *http.Request) result {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return fail(invalidParam("limit", err))
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return fail(invalidParam("start", err))
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return fail(invalidParam("end", err))
	}
	if end.Before(start) {
		return fail(invalidParam("end", errors.New("end timestamp must not be before start time")))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return fail(invalidParam("step", err))
	}
	if step <= 0 {
		return fail(invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")))
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return fail(badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")))
	}
	return a.exec(r, limit, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewRangeQuery(ctx, a.queryable, opts, r.FormValue("query"), start, end, step)
	})
}

// exec builds a query with build, runs it under the request's timeout and
// turns its outcome into a result.
func (a *API) exec(r *http.Request, limit int, build func(context.Context, promql.QueryOpts) (promql.Query, error)) result {
	ctx := r.Context()
	timeout, aerr := timeoutParam(r)
	if aerr != nil {
		return fail(aerr)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	opts, err := queryOpts(r)
	if err != nil {
		return fail(badData(err))
	}
	qry, err := build(ctx, opts)
	if err != nil {
		return fail(fromConstruction(err))
	}
	res := qry.Exec(ctx)
	if res.Err != nil {
		qry.Close()
		return result{err: fromEngine(res.Err), warnings: res.Warnings}
	}
	warnings := res.Warnings
	if limit > 0 && truncate(res, limit) {
		warnings.Add(errTruncated)
	}
	statsParam := r.FormValue("stats")
	switch statsParam {
	case "", statsTrue, statsAll:
	default:
		warnings.Add(fmt.Errorf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", statsParam, statsTrue, statsAll))
	}
	data := &queryData{ResultType: res.Value.Type(), Result: res.Value}
	if statsParam != "" {
		data.Stats = stats.NewQueryStats(qry.Stats())
	}
	return result{data: data, warnings: warnings, finalize: qry.Close}
}

// truncate cuts a vector or matrix result to its first limit series and
// reports whether it did.
func truncate(res *promql.Result, limit int) bool {
	switch v := res.Value.(type) {
	case promql.Vector:
		if len(v) > limit {
			res.Value = v[:limit]
			return true
		}
	case promql.Matrix:
		if len(v) > limit {
			res.Value = v[:limit]
			return true
		}
	}
	return false
}

// queryExemplars answers /api/v1/query_exemplars: the exemplars in
// [start, end] (default: all time) of the series the selectors of query
// select. A query without selectors is answered 204 No Content.
func (a *API) queryExemplars(r *http.Request) result {
	start, err := timeParam(r, "start", minTime)
	if err != nil {
		return fail(invalidParam("start", err))
	}
	end, err := timeParam(r, "end", maxTime)
	if err != nil {
		return fail(invalidParam("end", err))
	}
	if end.Before(start) {
		return fail(badData(errors.New("end timestamp must not be before start timestamp")))
	}
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return fail(badData(err))
	}
	selectors := parser.ExtractSelectors(expr)
	if len(selectors) == 0 {
		return result{}
	}
	if a.exemplars == nil {
		return result{data: []exemplar.QueryResult{}}
	}
	eq, err := a.exemplars.ExemplarQuerier(r.Context())
	if err != nil {
		return fail(fromEngine(err))
	}
	res, err := eq.Select(timestamp.FromTime(start), timestamp.FromTime(end), selectors...)
	if err != nil {
		return fail(fromEngine(err))
	}
	if res == nil {
		res = []exemplar.QueryResult{}
	}
	return result{data: res}
}

// formatQuery answers /api/v1/format_query: query, pretty-printed.
func (a *API) formatQuery(r *http.Request) result {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return fail(invalidParam("query", err))
	}
	return result{data: expr.Pretty(0)}
}
