package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// checkContextEvery is how many series the series endpoint reads between
// two looks at whether the request was canceled.
const checkContextEvery = 128

// metadataParams reads the parameters shared by series, labels and label
// values: limit, start and end (default: all time), match[].
func (a *API) metadataParams(r *http.Request, matchErr func(error) *apiError) (limit int, start, end time.Time, sets [][]*labels.Matcher, aerr *apiError) {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return 0, start, end, nil, invalidParam("limit", err)
	}
	if start, err = timeParam(r, "start", minTime); err != nil {
		return 0, start, end, nil, invalidParam("start", err)
	}
	if end, err = timeParam(r, "end", maxTime); err != nil {
		return 0, start, end, nil, invalidParam("end", err)
	}
	if sets, err = parseMatchers(a.parser, r.Form["match[]"]); err != nil {
		return 0, start, end, nil, matchErr(err)
	}
	return limit, start, end, sets, nil
}

// series answers /api/v1/series: the label sets of the series with points
// in [start, end] that match one of the match[] selectors (at least one
// required), in label order, at most limit of them.
func (a *API) series(r *http.Request) result {
	if len(r.Form["match[]"]) == 0 {
		return fail(badData(errors.New("no match[] parameter provided")))
	}
	limit, start, end, sets, aerr := a.metadataParams(r, func(err error) *apiError { return invalidParam("match[]", err) })
	if aerr != nil {
		return fail(aerr)
	}
	ctx := r.Context()
	q, err := a.queryable.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return fail(fromEngine(err))
	}
	defer q.Close()

	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // no samples needed
		Limit: hintLimit(limit),
	}
	var set storage.SeriesSet
	if len(sets) > 1 {
		var all []storage.SeriesSet
		for _, ms := range sets {
			all = append(all, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, sets[0]...)
	}
	out := []labels.Labels{}
	for i := 1; set.Next(); i++ {
		if i%checkContextEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fail(fromEngine(err))
			}
		}
		out = append(out, set.At().Labels())
		if limit > 0 && len(out) > limit {
			warnings := set.Warnings()
			warnings.Add(errTruncated)
			return result{data: out[:limit], warnings: warnings}
		}
	}
	if err := set.Err(); err != nil {
		return fail(fromEngine(err))
	}
	return result{data: out, warnings: set.Warnings()}
}

// labelNames answers /api/v1/labels: the label names of the series with
// points in [start, end] that match one of the match[] selectors (all
// series when there is none), sorted, at most limit of them.
func (a *API) labelNames(r *http.Request) result {
	return a.listLabels(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

// labelValues answers /api/v1/label/<name>/values: the values of the label
// name (__name__ for metric names; a name outside the legacy character set
// may be sent escaped, as U__ followed by its escaped form) on the series
// with points in [start, end] that match one of the match[] selectors,
// sorted, at most limit of them.
func (a *API) labelValues(r *http.Request) result {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return fail(badData(fmt.Errorf("invalid label name: %q", name)))
	}
	return a.listLabels(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

// listLabels answers a label names or values request: list is called on a
// querier of [start, end] once per match[] selector (or once with none), and
// the union, sorted, is cut at limit.
func (a *API) listLabels(r *http.Request, list func(context.Context, storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error)) result {
	limit, start, end, sets, aerr := a.metadataParams(r, badData)
	if aerr != nil {
		return fail(aerr)
	}
	q, err := a.queryable.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return fail(fromEngine(err))
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	out, warnings, err := eachMatcherSet(sets, func(ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return list(r.Context(), q, hints, ms)
	})
	if err != nil {
		return fail(fromEngine(err))
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errTruncated)
	}
	return result{data: out, warnings: warnings}
}

// eachMatcherSet calls list once with no matchers if sets is empty, else
// once per set, and returns the union of the names it lists, sorted.
func eachMatcherSet(sets [][]*labels.Matcher, list func([]*labels.Matcher) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, error) {
	if len(sets) <= 1 {
		var ms []*labels.Matcher
		if len(sets) == 1 {
			ms = sets[0]
		}
		names, warnings, err := list(ms)
		if err != nil {
			return nil, nil, err
		}
		if names == nil {
			names = []string{}
		}
		slices.Sort(names)
		return names, warnings, nil
	}
	var warnings annotations.Annotations
	seen := map[string]struct{}{}
	for _, ms := range sets {
		names, ws, err := list(ms)
		if err != nil {
			return nil, nil, err
		}
		warnings.Merge(ws)
		for _, n := range names {
			seen[n] = struct{}{}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, warnings, nil
}
