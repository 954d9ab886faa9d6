package storage_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	promchunkenc "github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// The PromQL tests write one data set into the DB and into a Prometheus TSDB
// and require the upstream engine to give the same answers over both.

const (
	minuteMs = int64(time.Minute / time.Millisecond)
	hourMs   = int64(time.Hour / time.Millisecond)
	scrapeMs = int64(10 * time.Second / time.Millisecond)

	// dataStart is aligned to the hour, so that with one-hour blocks the
	// data set ends up as a 3h compacted block [0h, 3h), a 1h block
	// [3h, 4h) and a head [4h, 5h).
	dataStart = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
	dataSpan  = 5 * hourMs
	dataEnd   = dataStart + dataSpan // exclusive
)

var promqlPolicy = policy.Policy{Resolution: 10 * time.Second, Retention: 2 * 24 * time.Hour}

// promqlDBOptions makes blocks of an hour, cut and compacted only when the
// test calls Compact.
var promqlDBOptions = storage.Options{BlockDuration: time.Hour, NoBackground: true, NoSync: true}

// sample is one written sample with its optional exemplar.
type sample struct {
	ls labels.Labels
	t  int64
	v  float64
	ex *chunkenc.Exemplar
}

// dataSet is what a test writes: batches of samples in the order they are
// appended, with points out of order inside a batch and late points in the
// batch after their own; dups are samples the DB gets a second time in a
// later batch, bit for bit (a re-sent batch), which it must ignore.
type dataSet struct {
	batches [][]sample
	dups    [][]sample // dups[i] goes with batches[i], to the DB only
	all     []sample   // every distinct sample, by series then time
}

var histogramBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// promqlData generates five hours of scrapes at 10s, from a fixed seed:
//
//   - http_requests_total{service,route,code}: counters with random resets
//     and resets placed in a block, at a block boundary and in the head;
//     one series stops at 2h30m, one starts at 3h40m;
//   - queue_fill_ratio{service}: a float gauge (no decimal form), with a
//     20-minute gap across 2h and a NaN;
//   - temperature_celsius{zone}: a gauge of decimal values;
//   - http_request_duration_seconds_{bucket,sum,count}{service}: a classic
//     histogram with a +Inf bucket, reset at 3h30m for one service; bucket
//     points carry exemplars.
func promqlData() *dataSet {
	rng := rand.New(rand.NewPCG(20260101, 7))
	bySeries := map[string][]sample{}
	var order []labels.Labels
	add := func(ls labels.Labels, t int64, v float64, ex *chunkenc.Exemplar) {
		k := ls.String()
		if _, ok := bySeries[k]; !ok {
			order = append(order, ls)
		}
		bySeries[k] = append(bySeries[k], sample{ls: ls, t: t, v: v, ex: ex})
	}
	traceID := func() (id [16]byte) {
		for i := range id {
			id[i] = byte(rng.IntN(256))
		}
		return id
	}

	type counter struct {
		ls          labels.Labels
		v           float64
		from, until int64 // offsets from dataStart, until exclusive
		resets      []int64
		max5xx      bool
	}
	var counters []*counter
	for _, svc := range []string{"api", "auth", "web"} {
		for _, route := range []string{"/login", "/orders", "/search"} {
			for _, code := range []string{"200", "500"} {
				counters = append(counters, &counter{
					ls:     labels.FromStrings("__name__", "http_requests_total", "service", svc, "route", route, "code", code),
					from:   0,
					until:  dataSpan,
					max5xx: code == "500",
				})
			}
		}
	}
	for _, c := range counters {
		switch c.ls.Get("service") + c.ls.Get("route") + c.ls.Get("code") {
		case "auth/login500":
			c.until = 2*hourMs + 30*minuteMs
		case "api/orders200":
			c.resets = []int64{2*hourMs + 10_000, 4*hourMs + 3*minuteMs}
		case "web/search500":
			c.resets = []int64{3 * hourMs}
		}
	}
	counters = append(counters, &counter{
		ls:   labels.FromStrings("__name__", "http_requests_total", "service", "billing", "route", "/pay", "code", "200"),
		from: 3*hourMs + 40*minuteMs, until: dataSpan,
	})

	type hist struct {
		svc     string
		buckets []float64 // cumulative counts, the last is +Inf
		sum     float64
		reset   int64
	}
	hists := []*hist{{svc: "api", reset: -1}, {svc: "web", reset: 3*hourMs + 30*minuteMs}}
	for _, h := range hists {
		h.buckets = make([]float64, len(histogramBounds)+1)
	}
	fill := map[string]float64{"api": 0.5, "web": 0.25}
	temp := map[string]float64{"north": 215, "south": 187} // tenths of a degree

	for off := int64(0); off < dataSpan; off += scrapeMs {
		t := dataStart + off
		for _, c := range counters {
			if off < c.from || off >= c.until {
				continue
			}
			inc := float64(rng.IntN(25))
			if c.max5xx {
				inc = float64(rng.IntN(3))
			}
			if slices.Contains(c.resets, off) || rng.IntN(3000) == 0 {
				c.v = 0
			}
			c.v += inc
			var ex *chunkenc.Exemplar
			if rng.IntN(40) == 0 {
				ex = &chunkenc.Exemplar{TraceID: traceID(), Value: 1, TimestampMs: t - rng.Int64N(scrapeMs)}
			}
			add(c.ls, t, c.v, ex)
		}
		for _, svc := range []string{"api", "web"} {
			if svc == "web" && off >= 1*hourMs+50*minuteMs && off < 2*hourMs+10*minuteMs {
				continue
			}
			fill[svc] = math.Min(1, math.Max(0, fill[svc]+(rng.Float64()-0.5)/7))
			v := fill[svc]
			if svc == "api" && off == 4*hourMs+20*minuteMs {
				v = math.NaN()
			}
			add(labels.FromStrings("__name__", "queue_fill_ratio", "service", svc), t, v, nil)
		}
		for _, zone := range []string{"north", "south"} {
			temp[zone] += float64(rng.IntN(5) - 2)
			add(labels.FromStrings("__name__", "temperature_celsius", "zone", zone), t, temp[zone]/10, nil)
		}
		for _, h := range hists {
			if off == h.reset {
				clear(h.buckets)
				h.sum = 0
			}
			exs := make([]*chunkenc.Exemplar, len(h.buckets))
			for range rng.IntN(40) {
				d := rng.ExpFloat64() * 0.15
				h.sum += d
				first := true
				for i := range h.buckets {
					if i < len(histogramBounds) && d > histogramBounds[i] {
						continue
					}
					h.buckets[i]++
					if first && rng.IntN(60) == 0 {
						exs[i] = &chunkenc.Exemplar{TraceID: traceID(), Value: d, TimestampMs: t - rng.Int64N(scrapeMs)}
					}
					first = false
				}
			}
			for i, n := range h.buckets {
				le := "+Inf"
				if i < len(histogramBounds) {
					le = strconv.FormatFloat(histogramBounds[i], 'f', -1, 64)
				}
				add(labels.FromStrings("__name__", "http_request_duration_seconds_bucket", "service", h.svc, "le", le), t, n, exs[i])
			}
			add(labels.FromStrings("__name__", "http_request_duration_seconds_sum", "service", h.svc), t, h.sum, nil)
			add(labels.FromStrings("__name__", "http_request_duration_seconds_count", "service", h.svc), t, h.buckets[len(histogramBounds)], nil)
		}
	}

	// Batches of ten minutes of scrapes, shuffled; a few points arrive one
	// batch late, a few are sent again one batch later.
	const batchMs = 10 * minuteMs
	n := int(dataSpan / batchMs)
	ds := &dataSet{batches: make([][]sample, n), dups: make([][]sample, n)}
	late := make([][]sample, n+1)
	for _, ls := range order {
		for _, s := range bySeries[ls.String()] {
			ds.all = append(ds.all, s)
			b := int((s.t - dataStart) / batchMs)
			switch r := rng.IntN(100); {
			case r < 3 && b+1 < n:
				late[b+1] = append(late[b+1], s)
			case r < 5 && b+1 < n:
				ds.batches[b] = append(ds.batches[b], s)
				ds.dups[b+1] = append(ds.dups[b+1], s)
			default:
				ds.batches[b] = append(ds.batches[b], s)
			}
		}
	}
	for b := range ds.batches {
		rng.Shuffle(len(ds.batches[b]), func(i, j int) { ds.batches[b][i], ds.batches[b][j] = ds.batches[b][j], ds.batches[b][i] })
		ds.batches[b] = append(ds.batches[b], late[b]...)
	}
	return ds
}

func toPoints(ss []sample) []storage.Point {
	out := make([]storage.Point, len(ss))
	for i, s := range ss {
		out[i] = storage.Point{Labels: s.ls, Policy: promqlPolicy, T: s.t, V: s.v, Exemplar: s.ex}
	}
	return out
}

// writeDB appends the batches as the flush path does, with Compact after
// each, and checks the DB ended as blocks plus a head.
func writeDB(t testing.TB, db *storage.DB, ds *dataSet) {
	t.Helper()
	var got storage.AppendStats
	for i := range ds.batches {
		st, err := db.Append(toPoints(append(slices.Clip(ds.batches[i]), ds.dups[i]...)), []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("append batch %d: %v", i, err)
		}
		got.Appended += st.Appended
		got.Duplicates += st.Duplicates
		got.Overwritten += st.Overwritten
		got.Refused += st.Refused
		if err := db.Compact(); err != nil {
			t.Fatalf("compact after batch %d: %v", i, err)
		}
	}
	ndups := 0
	for _, d := range ds.dups {
		ndups += len(d)
	}
	if want := (storage.AppendStats{Appended: len(ds.all), Duplicates: ndups}); got != want {
		t.Fatalf("got append stats %+v, want %+v", got, want)
	}
	checkLayout(t, db)
}

// checkLayout requires the layout the comparison is meant to cover: a
// compacted 3h block, a 1h block and the last hour in the head.
func checkLayout(t testing.TB, db *storage.DB) {
	t.Helper()
	var spans []string
	for _, b := range db.Blocks() {
		spans = append(spans, fmt.Sprintf("[%dh,%dh)", (b.MinTime-dataStart)/hourMs, (b.MaxTime-dataStart)/hourMs))
	}
	if want := []string{"[0h,3h)", "[3h,4h)"}; !slices.Equal(spans, want) {
		t.Fatalf("got blocks %v, want %v", spans, want)
	}
	st := db.Stats()
	if len(st) != 1 || st[0].HeadPoints == 0 || st[0].MinTime != dataStart || st[0].MaxTime != dataEnd-scrapeMs {
		t.Fatalf("got stats %+v, want one policy with a head, data from %d to %d", st, dataStart, dataEnd-scrapeMs)
	}
}

// openTSDB writes the batches into a Prometheus TSDB, in the same order,
// with an out-of-order window wide enough for the late points. It gets no
// duplicates: re-sending is this DB's contract, not the TSDB's.
func openTSDB(t testing.TB, ds *dataSet) *teststorage.TestStorage {
	t.Helper()
	ts := teststorage.New(t, func(o *tsdb.Options) { o.OutOfOrderTimeWindow = hourMs })
	for i, b := range ds.batches {
		app := ts.Appender(context.Background())
		for _, s := range b {
			if _, err := app.Append(0, s.ls, s.t, s.v); err != nil {
				t.Fatalf("TSDB append batch %d, %s at %d: %v", i, s.ls, s.t, err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatalf("TSDB commit batch %d: %v", i, err)
		}
	}
	return ts
}

// sortedQueryable asks its storage for series sorted by labels on every
// Select, as the DB returns them whether asked or not. The engine asks for
// no order, and the TSDB's head then gives its own (the series' creation
// order): the engine would break ties (topk) and sum series in another
// order than over the DB.
type sortedQueryable struct{ promstorage.Queryable }

func (q sortedQueryable) Querier(mint, maxt int64) (promstorage.Querier, error) {
	qr, err := q.Queryable.Querier(mint, maxt)
	return sortedQuerier{qr}, err
}

type sortedQuerier struct{ promstorage.Querier }

func (q sortedQuerier) Select(ctx context.Context, _ bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	return q.Querier.Select(ctx, true, hints, ms...)
}

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:               50_000_000,
		Timeout:                  time.Minute,
		LookbackDelta:            5 * time.Minute,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return minuteMs },
	})
}

// evaluation is an instant query at start (step 0) or a range query.
type evaluation struct {
	name       string
	start, end int64
	step       time.Duration
}

// result is a query's outcome, copied out of the engine's pools.
type result struct {
	typ         parser.ValueType
	m           promql.Matrix // sorted by labels
	annotations []string      // sorted
	err         error
}

func (e evaluation) run(ctx context.Context, eng *promql.Engine, q promstorage.Queryable, expr string) (result, error) {
	var qry promql.Query
	var err error
	if e.step == 0 {
		qry, err = eng.NewInstantQuery(ctx, q, nil, expr, time.UnixMilli(e.start))
	} else {
		qry, err = eng.NewRangeQuery(ctx, q, nil, expr, time.UnixMilli(e.start), time.UnixMilli(e.end), e.step)
	}
	if err != nil {
		return result{}, err
	}
	defer qry.Close() // gives the points back to the engine's pools
	res := qry.Exec(ctx)
	r := result{err: res.Err}
	for _, err := range res.Warnings.AsErrors() {
		r.annotations = append(r.annotations, err.Error())
	}
	slices.Sort(r.annotations)
	if res.Err != nil {
		return r, nil
	}
	r.typ = res.Value.Type()
	if r.m, err = asMatrix(res.Value); err != nil {
		return result{}, err
	}
	for i := range r.m {
		r.m[i].Floats = slices.Clone(r.m[i].Floats)
	}
	return r, nil
}

func at(off int64) int64 { return dataStart + off }

// evaluations cover the start, every block boundary with windows across
// it, the head, the lookback after the last point and times with no data.
var evaluations = []evaluation{
	{name: "instant before the data", start: at(-minuteMs)},
	{name: "instant at the first scrape", start: at(30_000)},
	{name: "instant in the 3h block", start: at(hourMs + 7*minuteMs + 3_000)},
	{name: "instant at 3h, block to block", start: at(3 * hourMs)},
	{name: "instant across 3h", start: at(3*hourMs + 2*minuteMs + 5_000)},
	{name: "instant at 4h, block to head", start: at(4 * hourMs)},
	{name: "instant across 4h", start: at(4*hourMs + 2*minuteMs + 30_000)},
	{name: "instant at the last scrape", start: dataEnd - scrapeMs},
	{name: "instant in the lookback after the end", start: dataEnd + 4*minuteMs},
	{name: "instant after the lookback", start: dataEnd + 10*minuteMs},
	{name: "range over everything, step 60s", start: at(-10 * minuteMs), end: dataEnd + 10*minuteMs, step: time.Minute},
	{name: "range across 4h, step 10s", start: at(3*hourMs + 50*minuteMs), end: at(4*hourMs + 10*minuteMs), step: 10 * time.Second},
	{name: "range across 3h and 4h, step 37s", start: at(2*hourMs + 17*minuteMs + 3_000), end: at(4*hourMs + 33*minuteMs), step: 37 * time.Second},
}

// promqlQueries are evaluated at every evaluation over both storages; the
// results must be the same bit for bit. Aggregations too: both storages
// give the engine the series in the same order (see sortedQueryable), so
// it sums them in the same order.
var promqlQueries = []struct {
	expr string
}{
	{expr: `http_requests_total`},
	{expr: `rate(http_requests_total[5m])`},
	{expr: `increase(http_requests_total[10m])`},
	{expr: `irate(http_requests_total{route="/orders"}[1m])`},
	{expr: `resets(http_requests_total[30m])`},
	{expr: `sum by (service) (rate(http_requests_total[5m]))`},
	{expr: `sum by (service, code) (increase(http_requests_total{code!="200"}[15m]))`},
	{expr: `histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))`},
	{expr: `histogram_quantile(0.5, rate(http_request_duration_seconds_bucket{service="web"}[5m]))`},
	{expr: `rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])`},
	{expr: `max_over_time(queue_fill_ratio[10m])`},
	{expr: `min_over_time(temperature_celsius[10m])`},
	{expr: `avg_over_time(queue_fill_ratio[10m])`},
	{expr: `avg_over_time(temperature_celsius[1h])`},
	{expr: `queue_fill_ratio`},
	{expr: `count(http_requests_total)`},
	{expr: `count by (__name__) ({__name__=~"http_.+"})`},
	{expr: `topk(3, rate(http_requests_total[5m]))`},
	{expr: `bottomk(2, temperature_celsius)`},
	{expr: `http_requests_total{route=~"/(login|orders)", code!="500"}`},
	{expr: `http_requests_total{service!~"api|web"}`},
	{expr: `http_requests_total{service!="api", route!~"/s.*"}`},
	{expr: `{__name__=~"temperature_.*|queue_.*", zone!="north"}`},
	{expr: `absent(http_requests_total{service="billing"})`},
	{expr: `http_requests_total offset 1h`},
	{expr: `rate(http_requests_total[5m] @ 1767240000)`}, // 4h10m
	{expr: `max_over_time(rate(http_requests_total{service="api"}[5m])[30m:1m])`},
	{expr: `sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[5m] offset 2h))`},
	{expr: `timestamp(queue_fill_ratio)`},
	{expr: `changes(temperature_celsius[20m])`},
	{expr: `deriv(queue_fill_ratio[15m])`},
	{expr: `quantile_over_time(0.9, queue_fill_ratio[30m])`},
}

// compareAll runs every query at every evaluation over got and want.
func compareAll(t *testing.T, got, want promstorage.Queryable) {
	eng := newEngine()
	ctx := context.Background()
	for _, q := range promqlQueries {
		t.Run(q.expr, func(t *testing.T) {
			for _, e := range evaluations {
				g, err := e.run(ctx, eng, got, q.expr)
				if err != nil {
					t.Fatal(err)
				}
				w, err := e.run(ctx, eng, want, q.expr)
				if err != nil {
					t.Fatal(err)
				}
				if err := sameResult(g, w); err != nil {
					t.Errorf("%s: %v", e.name, err)
				}
			}
		})
	}
}

// sameResult compares two query results: errors, annotations, series
// (by labels) and their points.
func sameResult(got, want result) error {
	if (got.err == nil) != (want.err == nil) || got.err != nil && got.err.Error() != want.err.Error() {
		return fmt.Errorf("got error %v, want %v", got.err, want.err)
	}
	if !slices.Equal(got.annotations, want.annotations) {
		return fmt.Errorf("got annotations %q, want %q", got.annotations, want.annotations)
	}
	if got.typ != want.typ {
		return fmt.Errorf("got a %s, want a %s", got.typ, want.typ)
	}
	gm, wm := got.m, want.m
	if len(gm) != len(wm) {
		return fmt.Errorf("got %d series, want %d:\n%s\nwant\n%s", len(gm), len(wm), seriesNames(gm), seriesNames(wm))
	}
	for i := range gm {
		g, w := gm[i], wm[i]
		if !labels.Equal(g.Metric, w.Metric) {
			return fmt.Errorf("series %d: got %s, want %s", i, g.Metric, w.Metric)
		}
		if len(g.Histograms) > 0 || len(w.Histograms) > 0 {
			return fmt.Errorf("%s: got %d histogram points, want %d: none were written", g.Metric, len(g.Histograms), len(w.Histograms))
		}
		if len(g.Floats) != len(w.Floats) {
			return fmt.Errorf("%s: got %d points, want %d", g.Metric, len(g.Floats), len(w.Floats))
		}
		for j := range g.Floats {
			gp, wp := g.Floats[j], w.Floats[j]
			if gp.T != wp.T || !sameFloat(gp.F, wp.F) {
				return fmt.Errorf("%s: point %d: got %g at %d, want %g at %d", g.Metric, j, gp.F, gp.T, wp.F, wp.T)
			}
		}
	}
	return nil
}

// asMatrix turns any query value into series sorted by labels, so that
// results whose order the engine leaves to the storage compare equal.
func asMatrix(v parser.Value) (promql.Matrix, error) {
	var m promql.Matrix
	switch v := v.(type) {
	case promql.Matrix:
		m = slices.Clone(v)
	case promql.Vector:
		for _, s := range v {
			if s.H != nil {
				return nil, fmt.Errorf("%s: a histogram sample, none were written", s.Metric)
			}
			m = append(m, promql.Series{Metric: s.Metric, Floats: []promql.FPoint{{T: s.T, F: s.F}}})
		}
	case promql.Scalar:
		m = promql.Matrix{{Floats: []promql.FPoint{{T: v.T, F: v.V}}}}
	default:
		return nil, fmt.Errorf("unexpected result type %T", v)
	}
	slices.SortFunc(m, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	return m, nil
}

func seriesNames(m promql.Matrix) string {
	var b strings.Builder
	for _, s := range m {
		fmt.Fprintf(&b, "  %s (%d points)\n", s.Metric, len(s.Floats))
	}
	return b.String()
}

// sameFloat reports whether a and b are the same bits; NaNs are equal to
// NaNs (the engine makes its own).
func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

// TestPromQLMatchesTSDB evaluates a table of PromQL queries over the DB and
// over a Prometheus TSDB holding the same samples, then again after the DB
// is closed and reopened (blocks loaded, the head replayed from the WAL).
func TestPromQLMatchesTSDB(t *testing.T) {
	t.Parallel()
	ds := promqlData()
	dir := t.TempDir()
	db, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writeDB(t, db, ds)
	ts := openTSDB(t, ds)

	comparisons := func(t *testing.T, db *storage.DB) {
		t.Run("raw select", func(t *testing.T) { compareSelect(t, db, ts, ds) })
		t.Run("labels", func(t *testing.T) { compareLabels(t, db, ts, ds) })
		t.Run("queries", func(t *testing.T) { compareAll(t, db, sortedQueryable{ts}) })
	}
	t.Run("written", func(t *testing.T) { comparisons(t, db) })

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	st := db2.Startup()
	if st.Blocks != 2 || st.PointsReplayed == 0 || len(st.SetAside) > 0 || st.WAL.Corruption != nil {
		t.Fatalf("reopen: got %s, want 2 blocks and a replayed head", st)
	}
	checkLayout(t, db2)
	t.Run("reopened", func(t *testing.T) { comparisons(t, db2) })
}

type fpoints []promql.FPoint

// selectAll reads every point of the series matching ms in [mint, maxt].
func selectAll(t *testing.T, q promstorage.Queryable, mint, maxt int64, ms ...*labels.Matcher) map[string]fpoints {
	t.Helper()
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	hints := &promstorage.SelectHints{Start: mint, End: maxt}
	ss := qr.Select(context.Background(), true, hints, ms...)
	out := map[string]fpoints{}
	var prev labels.Labels
	var it promchunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		if prev.Len() > 0 && labels.Compare(prev, s.Labels()) >= 0 {
			t.Errorf("series out of order: %s after %s", s.Labels(), prev)
		}
		prev = s.Labels()
		it = s.Iterator(it)
		var pts fpoints
		for vt := it.Next(); vt != promchunkenc.ValNone; vt = it.Next() {
			if vt != promchunkenc.ValFloat {
				t.Fatalf("%s: got a value of type %s", s.Labels(), vt)
			}
			ts, v := it.At()
			pts = append(pts, promql.FPoint{T: ts, F: v})
		}
		if err := it.Err(); err != nil {
			t.Fatalf("%s: %v", s.Labels(), err)
		}
		out[s.Labels().String()] = pts
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareSelect reads every point back from both storages, over the whole
// range and over windows with edges inside chunks and at block
// boundaries, and requires them equal, bit for bit, to what was written.
func compareSelect(t *testing.T, db, ts promstorage.Queryable, ds *dataSet) {
	all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	for _, r := range []struct {
		name       string
		mint, maxt int64
	}{
		{"everything", math.MinInt64, math.MaxInt64},
		{"the 3h block", at(0), at(3*hourMs) - 1},
		{"across 3h and 4h, edges between scrapes", at(2*hourMs + 59*minuteMs + 5_001), at(4*hourMs + 15_555)},
		{"edges on scrapes", at(3*hourMs + 10_000), at(4*hourMs + 20*minuteMs)},
		{"the head", at(4 * hourMs), math.MaxInt64},
		{"after the data", dataEnd, dataEnd + hourMs},
	} {
		t.Run(r.name, func(t *testing.T) {
			want := map[string]fpoints{}
			for _, s := range ds.all {
				if s.t >= r.mint && s.t <= r.maxt {
					k := s.ls.String()
					want[k] = append(want[k], promql.FPoint{T: s.t, F: s.v})
				}
			}
			for name, q := range map[string]promstorage.Queryable{"DB": db, "TSDB": ts} {
				got := selectAll(t, q, r.mint, r.maxt, all)
				if err := samePoints(got, want); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

func samePoints(got, want map[string]fpoints) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d series, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("%s: missing", k)
		}
		if len(g) != len(w) {
			return fmt.Errorf("%s: got %d points, want %d", k, len(g), len(w))
		}
		for i := range w {
			if g[i].T != w[i].T || math.Float64bits(g[i].F) != math.Float64bits(w[i].F) {
				return fmt.Errorf("%s: point %d: got %g at %d, want %g at %d", k, i, g[i].F, g[i].T, w[i].F, w[i].T)
			}
		}
	}
	return nil
}

// compareLabels checks LabelNames and LabelValues. Over the whole range the
// DB must agree with the TSDB. Over a part of it the DB answers, as
// documented, from the series with points in the range, while the TSDB's
// head answers from every series it holds: there the DB is held to what
// was written.
func compareLabels(t *testing.T, db, ts promstorage.Queryable, ds *dataSet) {
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	for _, r := range []struct {
		name       string
		mint, maxt int64
		tsdb       bool // compare with the TSDB too
	}{
		{"everything", math.MinInt64, math.MaxInt64, true},
		{"the data's range", dataStart, dataEnd, true},
		{"before the auth 500s stopped", at(0), at(2 * hourMs), false},
		{"after billing started", at(4 * hourMs), dataEnd, false},
	} {
		for _, c := range []struct {
			name  string
			label string // LabelNames when empty
			ms    []*labels.Matcher
		}{
			{name: "names"},
			{name: "names of the counter", ms: []*labels.Matcher{eq("__name__", "http_requests_total")}},
			{name: "names of the gauges", ms: []*labels.Matcher{re("__name__", "queue_.*|temperature_.*")}},
			{name: "metric names", label: "__name__"},
			{name: "services", label: "service"},
			{name: "le of the buckets", label: "le", ms: []*labels.Matcher{eq("__name__", "http_request_duration_seconds_bucket")}},
			{name: "codes of auth", label: "code", ms: []*labels.Matcher{eq("service", "auth")}},
			{name: "routes of 500s", label: "route", ms: []*labels.Matcher{eq("code", "500"), eq("__name__", "http_requests_total")}},
			{name: "services without a route", label: "service", ms: []*labels.Matcher{eq("route", "")}},
			{name: "nothing matches", label: "service", ms: []*labels.Matcher{eq("service", "nope")}},
		} {
			t.Run(r.name+"/"+c.name, func(t *testing.T) {
				want := writtenLabels(ds, r.mint, r.maxt, c.label, c.ms)
				got := queryLabels(t, db, r.mint, r.maxt, c.label, c.ms)
				if !slices.Equal(got, want) {
					t.Errorf("DB: got %q, want %q (as written)", got, want)
				}
				if r.tsdb {
					if tsw := queryLabels(t, ts, r.mint, r.maxt, c.label, c.ms); !slices.Equal(got, tsw) {
						t.Errorf("got %q, want %q (TSDB)", got, tsw)
					}
				}
			})
		}
	}
}

func queryLabels(t *testing.T, q promstorage.Queryable, mint, maxt int64, label string, ms []*labels.Matcher) []string {
	t.Helper()
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	var out []string
	if label == "" {
		out, _, err = qr.LabelNames(context.Background(), nil, ms...)
	} else {
		out, _, err = qr.LabelValues(context.Background(), label, nil, ms...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writtenLabels is what LabelNames (label "") or LabelValues(label) return
// over the series written with points in [mint, maxt] that match ms.
func writtenLabels(ds *dataSet, mint, maxt int64, label string, ms []*labels.Matcher) []string {
	seen := map[string]bool{}
	for _, s := range ds.all {
		if s.t < mint || s.t > maxt || !matches(s.ls, ms) {
			continue
		}
		if label == "" {
			s.ls.Range(func(l labels.Label) { seen[l.Name] = true })
		} else if v := s.ls.Get(label); v != "" {
			seen[v] = true
		}
	}
	out := []string{}
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func matches(ls labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// TestExemplarQuerier reads the exemplars back through the exemplar
// querier, from blocks and head, before and after a reopen, and requires
// what was written: per series, the exemplars whose own timestamp is in
// [start, end], in time order.
func TestExemplarQuerier(t *testing.T) {
	t.Parallel()
	ds := promqlData()
	dir := t.TempDir()
	db, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writeDB(t, db, ds)

	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	buckets := eq("__name__", "http_request_duration_seconds_bucket")
	cases := []struct {
		name       string
		start, end int64
		ms         [][]*labels.Matcher
	}{
		{name: "everything", start: math.MinInt64 + 1, end: math.MaxInt64 - hourMs, ms: [][]*labels.Matcher{{re("__name__", ".+")}}},
		{name: "buckets of web", start: dataStart, end: dataEnd, ms: [][]*labels.Matcher{{buckets, eq("service", "web")}}},
		{name: "edges between points, across 3h and 4h", start: at(2*hourMs + 40*minuteMs + 4_321), end: at(4*hourMs + 9*minuteMs + 1_234), ms: [][]*labels.Matcher{{buckets}}},
		{name: "the head, edges on points", start: at(4 * hourMs), end: at(4*hourMs + 30*minuteMs), ms: [][]*labels.Matcher{{re("__name__", "http_.*")}}},
		{name: "overlapping matcher sets are a union", start: at(hourMs), end: at(2 * hourMs), ms: [][]*labels.Matcher{
			{buckets, eq("le", "+Inf")},
			{buckets, re("le", `\+Inf|0\.1`)},
			{eq("__name__", "http_requests_total"), eq("code", "200"), eq("service", "api")},
		}},
		{name: "no exemplars on the gauges", start: dataStart, end: dataEnd, ms: [][]*labels.Matcher{{eq("__name__", "queue_fill_ratio")}}},
		{name: "before the data", start: dataStart - hourMs, end: dataStart - 1, ms: [][]*labels.Matcher{{re("__name__", ".+")}}},
	}
	check := func(t *testing.T, db *storage.DB) {
		q, err := db.ExemplarQuerier(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := q.Select(c.start, c.end, c.ms...)
				if err != nil {
					t.Fatal(err)
				}
				slices.SortFunc(got, func(a, b exemplar.QueryResult) int { return labels.Compare(a.SeriesLabels, b.SeriesLabels) })
				want := writtenExemplars(ds, c.start, c.end, c.ms)
				if err := sameExemplars(got, want); err != nil {
					t.Error(err)
				}
				for _, r := range want {
					total += len(r.Exemplars)
				}
			})
		}
		if total < 100 {
			t.Errorf("the cases saw %d exemplars: too few to mean anything", total)
		}
	}
	t.Run("written", func(t *testing.T) { check(t, db) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	t.Run("reopened", func(t *testing.T) { check(t, db2) })

	if _, err := db2.ExemplarQuerier(context.Background()); err != nil {
		t.Fatal(err)
	}
	db2.Close()
	if _, err := db2.ExemplarQuerier(context.Background()); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("got %v from a closed DB, want ErrClosed", err)
	}
}

func writtenExemplars(ds *dataSet, start, end int64, sets [][]*labels.Matcher) []exemplar.QueryResult {
	var out []exemplar.QueryResult
	idx := map[string]int{}
	for _, s := range ds.all {
		if s.ex == nil || s.ex.TimestampMs < start || s.ex.TimestampMs > end {
			continue
		}
		if !slices.ContainsFunc(sets, func(ms []*labels.Matcher) bool { return matches(s.ls, ms) }) {
			continue
		}
		k := s.ls.String()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, exemplar.QueryResult{SeriesLabels: s.ls})
		}
		out[i].Exemplars = append(out[i].Exemplars, exemplar.Exemplar{
			Labels: labels.FromStrings(storage.TraceIDLabel, hex.EncodeToString(s.ex.TraceID[:])),
			Value:  s.ex.Value,
			Ts:     s.ex.TimestampMs,
			HasTs:  true,
		})
	}
	slices.SortFunc(out, func(a, b exemplar.QueryResult) int { return labels.Compare(a.SeriesLabels, b.SeriesLabels) })
	return out
}

func sameExemplars(got, want []exemplar.QueryResult) error {
	if len(got) != len(want) {
		return fmt.Errorf("got exemplars of %d series, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !labels.Equal(g.SeriesLabels, w.SeriesLabels) {
			return fmt.Errorf("series %d: got %s, want %s", i, g.SeriesLabels, w.SeriesLabels)
		}
		if len(g.Exemplars) != len(w.Exemplars) {
			return fmt.Errorf("%s: got %d exemplars, want %d", g.SeriesLabels, len(g.Exemplars), len(w.Exemplars))
		}
		for j := range w.Exemplars {
			if !g.Exemplars[j].Equals(w.Exemplars[j]) || math.Float64bits(g.Exemplars[j].Value) != math.Float64bits(w.Exemplars[j].Value) {
				return fmt.Errorf("%s: exemplar %d: got %v, want %v", g.SeriesLabels, j, g.Exemplars[j], w.Exemplars[j])
			}
		}
	}
	return nil
}

// TestExemplarQuerierOpenEnd: a Select whose range ends at math.MaxInt64,
// "no end", finds the exemplars.
func TestExemplarQuerierOpenEnd(t *testing.T) {
	db, err := storage.Open(t.TempDir(), promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ls := labels.FromStrings("__name__", "lat")
	ex := &chunkenc.Exemplar{TraceID: [16]byte{1}, Value: 0.5, TimestampMs: dataStart - 1_000}
	if _, err := db.Append([]storage.Point{{Labels: ls, Policy: promqlPolicy, T: dataStart, V: 0.5, Exemplar: ex}}, nil); err != nil {
		t.Fatal(err)
	}
	q, err := db.ExemplarQuerier(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, end := range []int64{dataStart, math.MaxInt64 - hourMs, math.MaxInt64} {
		res, err := q.Select(0, end, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "lat")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || len(res[0].Exemplars) != 1 {
			t.Errorf("end %d: got %v, want the one exemplar", end, res)
		}
	}
}

// TestReopenedHeadSelect: the head's series are found by selectors that
// intersect and subtract postings after a reopen that replays a truncated
// WAL (whose series records were restated), as before it.
func TestReopenedHeadSelect(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var series []labels.Labels
	for i := range 64 {
		parity := []string{"even", "odd"}[i%2]
		series = append(series, labels.FromStrings("__name__", "x", "i", fmt.Sprintf("%02d", i), "parity", parity))
	}
	// Three hours: blocks are cut, the WAL is truncated, and the series
	// still in the head are logged again.
	for ts := dataStart; ts < dataStart+3*hourMs; ts += minuteMs {
		batch := make([]storage.Point, len(series))
		for i, ls := range series {
			batch[i] = storage.Point{Labels: ls, Policy: promqlPolicy, T: ts, V: float64(i)}
		}
		if _, err := db.Append(batch, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	nre := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchNotRegexp, n, v) }
	cases := []struct {
		ms   []*labels.Matcher
		want int
	}{
		{ms: []*labels.Matcher{eq("__name__", "x")}, want: 64},
		{ms: []*labels.Matcher{eq("__name__", "x"), eq("parity", "even")}, want: 32},
		{ms: []*labels.Matcher{eq("__name__", "x"), nre("i", "0.")}, want: 54},
		{ms: []*labels.Matcher{eq("parity", "odd"), re("i", "1.|2.")}, want: 10},
	}
	check := func(t *testing.T, db *storage.DB) {
		for _, c := range cases {
			// The last hour is in the head only.
			got := selectAll(t, db, dataStart+2*hourMs+30*minuteMs, math.MaxInt64, c.ms...)
			if len(got) != c.want {
				t.Errorf("%v: got %d series, want %d", c.ms, len(got), c.want)
			}
		}
	}
	t.Run("written", func(t *testing.T) { check(t, db) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := storage.Open(dir, promqlDBOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	t.Run("reopened", func(t *testing.T) { check(t, db2) })
}
