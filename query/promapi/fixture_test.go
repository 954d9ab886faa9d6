package promapi

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/storage"
	"github.com/tumblemetrics/tumble/storage/chunkenc"
)

// The fixture: five minutes of 10s points, from t0 to t0+300s, in a real
// DB under one policy.
//
//   - http_requests_total{service,code}: three counters;
//   - request_duration_p99{service="checkout"}: a gauge whose every point
//     carries an exemplar, taken 4.877s before the point;
//   - special_values{kind}: NaN, +Inf, -Inf, -0, 1e-7, 1e22 and 1/3;
//   - escaping{v}: a label value that JSON must escape;
//   - dup_a{k="1"} and dup_b{k="1"}: the same labels once the name is gone.
const (
	t0      = int64(1_700_000_000_000) // 2023-11-14T22:13:20Z
	stepMs  = int64(10_000)
	nPoints = 31
	tEnd    = t0 + (nPoints-1)*stepMs // the last point, t0+300s
)

var fixturePolicy = policy.Policy{Resolution: 10 * time.Second, Retention: 48 * time.Hour}

// fixtureNow is the API's clock: the last point.
func fixtureNow() time.Time { return time.UnixMilli(tEnd).UTC() }

// traceID is the exemplar trace ID of point i: 16 bytes, i in the last.
func traceID(i int) (id [16]byte) {
	copy(id[:], []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47})
	id[15] = byte(i)
	return id
}

func fixturePoints() []storage.Point {
	var pts []storage.Point
	add := func(ls labels.Labels, i int, v float64, ex *chunkenc.Exemplar) {
		pts = append(pts, storage.Point{Labels: ls, Policy: fixturePolicy, T: t0 + int64(i)*stepMs, V: v, Exemplar: ex})
	}
	counters := []struct {
		service, code string
		rate          float64
	}{{"checkout", "200", 10}, {"checkout", "500", 1}, {"search", "200", 5}}
	special := []struct {
		kind string
		v    float64
	}{
		{"nan", math.NaN()}, {"inf", math.Inf(1)}, {"neg_inf", math.Inf(-1)}, {"neg_zero", math.Copysign(0, -1)},
		{"tiny", 1e-7}, {"huge", 1e22}, {"third", 1.0 / 3},
	}
	for i := range nPoints {
		for _, c := range counters {
			add(labels.FromStrings("__name__", "http_requests_total", "service", c.service, "code", c.code), i, c.rate*float64(i), nil)
		}
		v := 0.25 + 0.01*float64(i)
		add(labels.FromStrings("__name__", "request_duration_p99", "service", "checkout"), i, v, &chunkenc.Exemplar{
			TraceID:     traceID(i),
			Value:       v - 0.001,
			TimestampMs: t0 + int64(i)*stepMs - 4877,
		})
		for _, s := range special {
			add(labels.FromStrings("__name__", "special_values", "kind", s.kind), i, s.v, nil)
		}
		add(labels.FromStrings("__name__", "escaping", "v", "<a&b> \"q\" \\ é \u2028 \x01"), i, 1, nil)
		add(labels.FromStrings("__name__", "dup_a", "k", "1"), i, 1, nil)
		add(labels.FromStrings("__name__", "dup_b", "k", "1"), i, 2, nil)
	}
	return pts
}

// openFixture opens a DB in a temporary directory with the fixture in it.
func openFixture(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.TempDir(), storage.Options{NoSync: true, NoBackground: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Append(fixturePoints(), nil); err != nil {
		t.Fatal(err)
	}
	return db
}

var fixtureBuildInfo = BuildInfo{
	Version:   "0.4.0",
	Revision:  "8f51d94",
	Branch:    "main",
	BuildUser: "ci@tumble",
	BuildDate: "20260101-00:00:00",
	GoVersion: "go1.26.8",
}

// newFixtureAPI returns an API over q; edit, if not nil, changes its
// options first.
func newFixtureAPI(t testing.TB, q promstorage.Queryable, edit func(*Options)) *API {
	t.Helper()
	opts := Options{Queryable: q, Now: fixtureNow, BuildInfo: fixtureBuildInfo}
	if edit != nil {
		edit(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serve starts a test server of a's handler.
func serve(t testing.TB, a *API) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// response is what a test reads of an answer.
type response struct {
	code    int
	header  http.Header
	body    []byte
	context string // the request, for messages
}

// do sends params to path with method: in the URL for GET, as a
// form-encoded body for POST.
func do(t testing.TB, srv *httptest.Server, method, path string, params url.Values, header http.Header) response {
	t.Helper()
	u := srv.URL + path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	// No transparent decompression: the test sees what was sent.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b, context: method + " " + path + " " + params.Encode()}
}

// failingQueryable fails every Select with err.
type failingQueryable struct{ err error }

func (f failingQueryable) Querier(int64, int64) (promstorage.Querier, error) {
	return failingQuerier(f), nil
}

type failingQuerier struct{ err error }

func (f failingQuerier) Select(context.Context, bool, *promstorage.SelectHints, ...*labels.Matcher) promstorage.SeriesSet {
	return promstorage.ErrSeriesSet(f.err)
}

func (f failingQuerier) LabelValues(context.Context, string, *promstorage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, f.err
}

func (f failingQuerier) LabelNames(context.Context, *promstorage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, f.err
}

func (failingQuerier) Close() error { return nil }

var errStorage = promql.ErrStorage{Err: errors.New("read chunk 3 of block 01J0: checksum mismatch")}
