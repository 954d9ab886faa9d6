package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tumblemetrics/tumble/internal/syncbuf"
	"github.com/tumblemetrics/tumble/query/fanout"
	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testPoints = 360 // an hour at 10s
	testEnd    = dataStart + (testPoints-1)*stepMs
)

// threeNodes is the cluster most tests use: 3 nodes, 4 shards of 2
// replicas (shard 0 on n0 and n1, 1 on n1 and n2, 2 on n2 and n0, 3 on n0
// and n1), small Select messages so that a Select takes many.
func threeNodes(t *testing.T, batchBytes int) *testCluster {
	return newCluster(t, clusterConfig{nodes: 3, shards: 4, replicas: 2, points: testData(testPoints), batchBytes: batchBytes})
}

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:    50_000_000,
		Timeout:       time.Minute,
		LookbackDelta: 5 * time.Minute,
	})
}

var testQueries = []string{
	`http_requests_total`,
	`sum by (service) (rate(http_requests_total[5m]))`,
	`max_over_time(request_duration_p99{route="/r1"}[10m])`,
	`topk(3, request_duration_p99)`,
	`count by (route) (http_requests_total{code="500"})`,
	`sum(http_requests_total{service=~"svc-[12]"}) / sum(http_requests_total)`,
	`absent(nonexistent)`,
}

// rangeQuery runs query over q from dataStart to testEnd every 30s.
func rangeQuery(ctx context.Context, t *testing.T, q promstorage.Queryable, query string) *promql.Result {
	t.Helper()
	qry, err := newEngine().NewRangeQuery(ctx, q, nil, query, time.UnixMilli(dataStart), time.UnixMilli(testEnd), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(qry.Close)
	return qry.Exec(ctx)
}

// sameResult fails t unless got and want are the same result.
func sameResult(t *testing.T, query string, got, want *promql.Result) {
	t.Helper()
	if got.Err != nil || want.Err != nil {
		t.Fatalf("%s: got error %v, want %v", query, got.Err, want.Err)
	}
	g, w := got.Value.String(), want.Value.String()
	if g == w {
		return
	}
	gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("%s: line %d: got %.300s, want %.300s", query, i, gl[i], wl[i])
		}
	}
	t.Fatalf("%s: got %d lines, want %d", query, len(gl), len(wl))
}

func noWarnings(t *testing.T, what string, a annotations.Annotations) {
	t.Helper()
	if len(a) > 0 {
		t.Fatalf("%s: got warnings %v, want none", what, a.AsErrors())
	}
}

func TestPromQLMatchesLocal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchBytes int
		local      bool
	}{
		{name: "grpc"},
		{name: "grpc, series split across messages", batchBytes: 512},
		{name: "local replicas of n0 in-process", local: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := threeNodes(t, tc.batchBytes)
			var mod func(*fanout.Options)
			if tc.local {
				mod = c.local(0)
			}
			fq, ref := c.queryable(mod), c.reference()
			for _, query := range testQueries {
				got := rangeQuery(t.Context(), t, fq, query)
				sameResult(t, query, got, rangeQuery(t.Context(), t, ref, query))
				noWarnings(t, query, got.Warnings)
			}
		})
	}
}

// dump reads a whole SeriesSet: a line per series, its labels and points.
func dump(set promstorage.SeriesSet) ([]string, annotations.Annotations, error) {
	var out []string
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		var b strings.Builder
		b.WriteString(s.Labels().String())
		it = s.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			t, v := it.At()
			fmt.Fprintf(&b, " %d=%g", t, v)
		}
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
		out = append(out, b.String())
	}
	return out, set.Warnings(), set.Err()
}

// selectDump selects ms over q in [mint, maxt] and dumps the result.
func selectDump(ctx context.Context, t *testing.T, q promstorage.Queryable, mint, maxt int64, hints *promstorage.SelectHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	t.Helper()
	qr, err := q.Querier(mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	return dump(qr.Select(ctx, true, hints, ms...))
}

var (
	allSeries = labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	errors500 = labels.MustNewMatcher(labels.MatchEqual, "code", "500")
	p99       = labels.MustNewMatcher(labels.MatchEqual, "__name__", "request_duration_p99")
	svc12     = labels.MustNewMatcher(labels.MatchRegexp, "service", "svc-[12]")
)

// sameSelect fails t unless q and ref select the same series and points.
func sameSelect(t *testing.T, q, ref promstorage.Queryable) {
	t.Helper()
	for _, tc := range []struct {
		name       string
		mint, maxt int64
		hints      *promstorage.SelectHints
		ms         []*labels.Matcher
	}{
		{"all", dataStart, testEnd, nil, []*labels.Matcher{allSeries}},
		{"code 500, half the time", dataStart + 1800_000, testEnd, nil, []*labels.Matcher{errors500}},
		{"p99 of two services, hinted", dataStart, testEnd, &promstorage.SelectHints{Start: dataStart + 600_000, End: dataStart + 900_000, Step: 30_000, Func: "rate", Range: 300_000}, []*labels.Matcher{p99, svc12}},
		{"labels only", dataStart, testEnd, &promstorage.SelectHints{Start: dataStart, End: testEnd, Func: "series"}, []*labels.Matcher{allSeries}},
		{"nothing", dataStart, testEnd, nil, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "nonexistent")}},
	} {
		got, ann, err := selectDump(t.Context(), t, q, tc.mint, tc.maxt, tc.hints, tc.ms...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		noWarnings(t, tc.name, ann)
		want, _, err := selectDump(t.Context(), t, ref, tc.mint, tc.maxt, tc.hints, tc.ms...)
		if err != nil {
			t.Fatal(err)
		}
		if tc.hints != nil && tc.hints.Func == "series" {
			// The series endpoint reads no points; the replicas send none.
			for i, w := range want {
				want[i] = w[:strings.Index(w, "}")+1]
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %d series:\n%.2000s\nwant %d:\n%.2000s", tc.name, len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
		}
	}
}

func TestSelectMatchesLocal(t *testing.T) {
	c := threeNodes(t, 0)
	sameSelect(t, c.queryable(nil), c.reference())
	sameSelect(t, c.queryable(c.local(1)), c.reference())
}

// labelQueries are label name and value queries, run on a querier.
var labelQueries = []struct {
	name string
	run  func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error)
}{
	{"names", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, nil)
	}},
	{"names of p99", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, nil, p99)
	}},
	{"services", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, "service", nil)
	}},
	{"first 3 services", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, "service", &promstorage.LabelHints{Limit: 3})
	}},
	{"routes with errors", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, "route", nil, errors500, svc12)
	}},
	{"metric names", func(ctx context.Context, q promstorage.Querier) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, "__name__", nil)
	}},
}

func runLabels(t *testing.T, q promstorage.Queryable, run func(context.Context, promstorage.Querier) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations) {
	t.Helper()
	qr, err := q.Querier(dataStart, testEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer qr.Close()
	got, ann, err := run(t.Context(), qr)
	if err != nil {
		t.Fatal(err)
	}
	return got, ann
}

func TestLabelsMatchLocal(t *testing.T) {
	c := threeNodes(t, 0)
	for _, mode := range []struct {
		name string
		q    *fanout.Queryable
	}{{"grpc", c.queryable(nil)}, {"local n2", c.queryable(c.local(2))}} {
		for _, tc := range labelQueries {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				got, ann := runLabels(t, mode.q, tc.run)
				noWarnings(t, tc.name, ann)
				want, _ := runLabels(t, c.reference(), tc.run)
				if !slices.Equal(got, want) || len(got) == 0 {
					t.Fatalf("got %q, want %q", got, want)
				}
			})
		}
	}
}

func exemplarsString(res []exemplar.QueryResult) string {
	var b strings.Builder
	for _, r := range res {
		fmt.Fprintf(&b, "%s:", r.SeriesLabels)
		for _, e := range r.Exemplars {
			fmt.Fprintf(&b, " %s %g@%d/%v", e.Labels, e.Value, e.Ts, e.HasTs)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestExemplarsMatchLocal(t *testing.T) {
	c := threeNodes(t, 0)
	for _, tc := range []struct {
		name       string
		start, end int64
		ms         [][]*labels.Matcher
	}{
		{"all p99", dataStart, testEnd, [][]*labels.Matcher{{p99}}},
		{"two services, ten minutes", dataStart + 600_000, dataStart + 1200_000, [][]*labels.Matcher{{p99, svc12}}},
		{"two sets overlapping", dataStart, dataStart + 300_000, [][]*labels.Matcher{{p99, svc12}, {p99}}},
		{"counters have none", dataStart, testEnd, [][]*labels.Matcher{{errors500}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := c.reference().exemplars(tc.start, tc.end, tc.ms...)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []*fanout.Queryable{c.queryable(nil), c.queryable(c.local(0))} {
				eq, err := q.ExemplarQuerier(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				got, err := eq.Select(tc.start, tc.end, tc.ms...)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := exemplarsString(got), exemplarsString(want); g != w {
					t.Fatalf("got\n%.2000s\nwant\n%.2000s", g, w)
				}
			}
		})
	}
}

func debugLogger(w *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestFailoverMidStream: the leader of shard 0 goes down while it streams
// a Select; the query goes on with the other replica, from where the
// leader stopped, and answers in full.
func TestFailoverMidStream(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchBytes int
		query      func(t *testing.T, q, ref promstorage.Queryable)
	}{
		{"select", 1024, func(t *testing.T, q, ref promstorage.Queryable) {
			got, ann, err := selectDump(t.Context(), t, q, dataStart, testEnd, nil, allSeries)
			if err != nil {
				t.Fatal(err)
			}
			noWarnings(t, "select", ann)
			want, _, _ := selectDump(t.Context(), t, ref, dataStart, testEnd, nil, allSeries)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d series, want %d:\n%.3000s", len(got), len(want), strings.Join(got, "\n"))
			}
		}},
		{"promql, series split across messages", 300, func(t *testing.T, q, ref promstorage.Queryable) {
			query := testQueries[1]
			got := rangeQuery(t.Context(), t, q, query)
			sameResult(t, query, got, rangeQuery(t.Context(), t, ref, query))
			noWarnings(t, query, got.Warnings)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := threeNodes(t, tc.batchBytes)
			var stopped atomic.Bool
			c.nodes[0].hook(0, func(ctx context.Context, n int) {
				if n == 4 && stopped.CompareAndSwap(false, true) {
					// Let the series sent so far reach the client.
					time.Sleep(250 * time.Millisecond)
					go c.nodes[0].Stop()
					<-ctx.Done()
				}
			})
			var log syncbuf.Buffer
			q := c.queryable(func(o *fanout.Options) { o.Logger = debugLogger(&log) })
			tc.query(t, q, c.reference())
			if !stopped.Load() {
				t.Fatal("the leader of shard 0 was never stopped")
			}
			if l := log.String(); !strings.Contains(l, "shard=0") || !strings.Contains(l, "replica=\"n0 at") || !strings.Contains(l, "resume_after=") {
				t.Fatalf("got log %q, want shard 0's leader n0 given up part way", l)
			}
		})
	}
}

// TestAttemptTimeout: a leader that does not answer in time is given up
// for the other replica.
func TestAttemptTimeout(t *testing.T) {
	c := threeNodes(t, 0)
	c.nodes[2].hook(2, func(ctx context.Context, n int) { <-ctx.Done() })
	var log syncbuf.Buffer
	q := c.queryable(func(o *fanout.Options) {
		o.AttemptTimeout = 300 * time.Millisecond
		o.Logger = debugLogger(&log)
	})
	start := time.Now()
	sameSelect(t, q, c.reference())
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("got an answer in %s, before the leader's timeout", d)
	}
	if !strings.Contains(log.String(), "no answer within 300ms") {
		t.Errorf("got log %q, want the leader of shard 2 given up after 300ms", log.String())
	}
}

// unavailable returns the *UnavailableError of shard in a, failing t if a
// has anything else.
func unavailable(t *testing.T, what string, a annotations.Annotations, shard int32) *fanout.UnavailableError {
	t.Helper()
	if len(a) != 1 {
		t.Fatalf("%s: got warnings %v, want one for shard %d", what, a.AsErrors(), shard)
	}
	var ue *fanout.UnavailableError
	if err := a.AsErrors()[0]; !errors.As(err, &ue) || ue.Shard != shard || !errors.Is(err, fanout.ErrShardUnavailable) {
		t.Fatalf("%s: got warning %v, want shard %d unavailable", what, err, shard)
	}
	return ue
}

// TestShardUnavailable: with both replicas of shard 1 down, every query
// answers with the other shards' data and a warning naming shard 1 and its
// replicas; exemplar queries fail.
func TestShardUnavailable(t *testing.T) {
	c := threeNodes(t, 0)
	c.nodes[1].Stop()
	c.nodes[2].Stop()
	q, ref := c.queryable(nil), c.reference(0, 2, 3)

	got, ann, err := selectDump(t.Context(), t, q, dataStart, testEnd, nil, allSeries)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := selectDump(t.Context(), t, ref, dataStart, testEnd, nil, allSeries)
	if !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("select: got %d series, want %d", len(got), len(want))
	}
	ue := unavailable(t, "select", ann, 1)
	if len(ue.Replicas) != 2 || ue.Replicas[0].Endpoint.Node != "n1" || ue.Replicas[1].Endpoint.Node != "n2" || ue.Partial {
		t.Fatalf("select: got %+v, want n1 then n2 failed, nothing sent", ue)
	}
	msg := ue.Error()
	for _, s := range []string{"shard 1 unavailable", "n1 at " + c.nodes[1].addr, "n2 at " + c.nodes[2].addr, "Unavailable"} {
		if !strings.Contains(msg, s) {
			t.Fatalf("select: got warning %q, want it to say %q", msg, s)
		}
	}

	for _, query := range testQueries[:3] {
		res := rangeQuery(t.Context(), t, q, query)
		sameResult(t, query, res, rangeQuery(t.Context(), t, ref, query))
		unavailable(t, query, res.Warnings, 1)
	}

	for _, tc := range labelQueries {
		got, ann := runLabels(t, q, tc.run)
		want, _ := runLabels(t, ref, tc.run)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %q, want %q", tc.name, got, want)
		}
		unavailable(t, tc.name, ann, 1)
	}

	eq, err := q.ExemplarQuerier(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res, err := eq.Select(dataStart, testEnd, []*labels.Matcher{p99})
	var eue *fanout.UnavailableError
	if !errors.As(err, &eue) || eue.Shard != 1 || res != nil {
		t.Fatalf("exemplars: got %d results and error %v, want shard 1 unavailable", len(res), err)
	}
}

// TestNoReplicaPlaced: a shard placement lists no replica of is reported.
func TestNoReplicaPlaced(t *testing.T) {
	c := threeNodes(t, 0)
	q := c.queryable(func(o *fanout.Options) {
		o.Replicas = func(shard int32) []fanout.Endpoint {
			if shard == 3 {
				return nil
			}
			return c.replicas[shard]
		}
	})
	_, ann, err := selectDump(t.Context(), t, q, dataStart, testEnd, nil, allSeries)
	if err != nil {
		t.Fatal(err)
	}
	if ue := unavailable(t, "select", ann, 3); !strings.Contains(ue.Error(), "no replica is placed") {
		t.Fatalf("got %q, want it to say no replica is placed", ue)
	}
}

// TestCancel: a query whose replicas hang ends with its context.
func TestCancel(t *testing.T) {
	c := threeNodes(t, 0)
	var hung atomic.Int32
	hang := func(ctx context.Context, n int) {
		hung.Add(1)
		<-ctx.Done()
	}
	c.nodes[0].hook(0, hang)
	c.nodes[1].hook(0, hang)
	q := c.queryable(func(o *fanout.Options) { o.AttemptTimeout = time.Hour })

	t.Run("select", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := selectDump(ctx, t, q, dataStart, testEnd, nil, allSeries)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got error %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %s to end after the deadline", d)
		}
	})
	t.Run("promql", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		res := rangeQuery(ctx, t, q, testQueries[0])
		if res.Err == nil {
			t.Fatal("got no error, want the query canceled")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %s to end after the cancel", d)
		}
	})
	if hung.Load() == 0 {
		t.Fatal("no replica hung")
	}
}

// TestQuerierCloseStopsReads: closing a querier whose Select was not read
// to its end stops the reads it started.
func TestQuerierCloseStopsReads(t *testing.T) {
	c := threeNodes(t, 256)
	q := c.queryable(nil)
	qr, err := q.Querier(dataStart, testEnd)
	if err != nil {
		t.Fatal(err)
	}
	set := qr.Select(t.Context(), true, nil, allSeries)
	if !set.Next() {
		t.Fatalf("no series: %v", set.Err())
	}
	done := make(chan error)
	go func() { done <- qr.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits after 5s")
	}
	if err := qr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestServerErrors: the service's answers to requests it cannot serve.
func TestServerErrors(t *testing.T) {
	c := threeNodes(t, 0)
	conn, err := c.pool.Conn(c.nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	client := fanoutpb.NewQueryClient(conn)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"shard not held", func() error {
			_, err := client.LabelNames(ctx, &fanoutpb.LabelNamesRequest{Shard: 1})
			return err
		}, codes.NotFound, "shard 1 is not held on this node"},
		{"select shard not held", func() error {
			s, err := client.Select(ctx, &fanoutpb.SelectRequest{Shard: 7})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, codes.NotFound, "shard 7"},
		{"matcher without a type", func() error {
			_, err := client.LabelValues(ctx, &fanoutpb.LabelValuesRequest{Shard: 0, Name: "service", Matchers: []*fanoutpb.Matcher{{Name: "a", Value: "b"}}})
			return err
		}, codes.InvalidArgument, "unknown match type"},
		{"invalid regexp", func() error {
			_, err := client.Exemplars(ctx, &fanoutpb.ExemplarsRequest{Shard: 0, MatcherSets: []*fanoutpb.MatcherSet{{Matchers: []*fanoutpb.Matcher{{Type: fanoutpb.MatchType_MATCH_TYPE_REGEXP, Name: "a", Value: "("}}}}})
			return err
		}, codes.InvalidArgument, "matcher set 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if st, _ := status.FromError(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	pool := fanout.NewPool()
	defer pool.Close()
	replicas := func(int32) []fanout.Endpoint { return nil }
	for _, tc := range []struct {
		name string
		opts fanout.Options
		want string // in the error; "" for none
	}{
		{"valid", fanout.Options{Shards: 4, Replicas: replicas, Pool: pool}, ""},
		{"no shards", fanout.Options{Replicas: replicas, Pool: pool}, "Shards 0"},
		{"no replicas", fanout.Options{Shards: 1, Pool: pool}, "Replicas: nil"},
		{"no pool", fanout.Options{Shards: 1, Replicas: replicas}, "Pool: nil"},
		{"local without node", fanout.Options{Shards: 1, Replicas: replicas, Pool: pool, Local: func(int32) (fanout.Shard, bool) { return nil, false }}, "Node"},
		{"negative timeout", fanout.Options{Shards: 1, Replicas: replicas, Pool: pool, AttemptTimeout: -1}, "AttemptTimeout -1ns"},
		{"negative concurrency", fanout.Options{Shards: 1, Replicas: replicas, Pool: pool, Concurrency: -2}, "Concurrency -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fanout.New(tc.opts)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := fanout.NewServer(nil, fanout.ServerOptions{}); err == nil {
		t.Error("NewServer without a ShardFunc: got no error")
	}
	if _, err := fanout.NewServer(func(int32) (fanout.Shard, bool) { return nil, false }, fanout.ServerOptions{BatchBytes: 4 << 20}); err == nil || !strings.Contains(err.Error(), "BatchBytes 4194304") {
		t.Errorf("NewServer with 4 MiB batches: got %v, want an error naming BatchBytes", err)
	}
}

func TestPoolClose(t *testing.T) {
	pool := fanout.NewPool()
	if _, err := pool.Conn("127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := pool.Conn("127.0.0.1:1"); !errors.Is(err, fanout.ErrPoolClosed) {
		t.Fatalf("Conn after Close: got %v, want ErrPoolClosed", err)
	}
}
