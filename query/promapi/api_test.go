package promapi

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/tumblemetrics/tumble/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// vals builds url.Values from name, value pairs; a name may repeat.
func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// apiCase is one request, sent with GET and with POST unless getOnly,
// whose answer must be testdata/<name>.golden either way.
type apiCase struct {
	name    string
	path    string
	params  url.Values
	getOnly bool
}

var apiCases = []apiCase{
	// Instant queries.
	{"query_vector", "/api/v1/query", vals("query", "http_requests_total", "time", "1700000300"), false},
	{"query_time_fraction", "/api/v1/query", vals("query", "request_duration_p99", "time", "1700000295.1234"), false},
	{"query_time_rfc3339", "/api/v1/query", vals("query", `http_requests_total{code="500"}`, "time", "2023-11-14T22:18:20Z"), false},
	{"query_time_rfc3339_offset", "/api/v1/query", vals("query", `http_requests_total{code="500"}`, "time", "2023-11-14T23:16:39.9999+01:00"), false},
	{"query_time_default", "/api/v1/query", vals("query", `http_requests_total{service="search"}`), false},
	{"query_matrix", "/api/v1/query", vals("query", "request_duration_p99[30s]", "time", "1700000300"), false},
	{"query_scalar", "/api/v1/query", vals("query", "1+1", "time", "1700000300.5"), false},
	{"query_scalar_tiny", "/api/v1/query", vals("query", "0.0000001", "time", "1700000300"), false},
	{"query_scalar_nan", "/api/v1/query", vals("query", "NaN", "time", "1700000300"), false},
	{"query_scalar_inf", "/api/v1/query", vals("query", `scalar(special_values{kind="neg_inf"})`, "time", "1700000300"), false},
	{"query_string", "/api/v1/query", vals("query", `"hello <world> & \"all\""`, "time", "1700000300"), false},
	{"query_special_values", "/api/v1/query", vals("query", "special_values", "time", "1700000300"), false},
	{"query_escaping", "/api/v1/query", vals("query", "escaping", "time", "1700000300"), false},
	{"query_empty", "/api/v1/query", vals("query", "nonexistent", "time", "1700000300"), false},
	{"query_limit", "/api/v1/query", vals("query", "http_requests_total", "time", "1700000300", "limit", "2"), false},
	{"query_limit_not_reached", "/api/v1/query", vals("query", "http_requests_total", "time", "1700000300", "limit", "3"), false},
	{"query_warning", "/api/v1/query", vals("query", "quantile(2, http_requests_total)", "time", "1700000300"), false},
	{"query_info", "/api/v1/query", vals("query", "rate(request_duration_p99[1m])", "time", "1700000300"), false},
	{"query_warning_and_info", "/api/v1/query", vals("query", "quantile(2, rate(request_duration_p99[1m]))", "time", "1700000300"), false},
	{"query_at_modifier", "/api/v1/query", vals("query", `http_requests_total{code="500"} @ 1700000100`, "time", "1700000300"), false},
	{"query_negative_offset", "/api/v1/query", vals("query", `http_requests_total{code="500"} offset -1m`, "time", "1700000100"), false},
	{"query_subquery", "/api/v1/query", vals("query", "max_over_time(request_duration_p99[1m:])", "time", "1700000300"), false},
	{"query_lookback_delta", "/api/v1/query", vals("query", "request_duration_p99", "time", "1700000305", "lookback_delta", "1s"), false},
	{"query_timeout_param", "/api/v1/query", vals("query", "request_duration_p99", "time", "1700000300", "timeout", "30s"), false},

	{"query_missing", "/api/v1/query", nil, false},
	{"query_parse_error", "/api/v1/query", vals("query", "sum(rate(x[5m])", "time", "1700000300"), false},
	{"query_bad_time", "/api/v1/query", vals("query", "up", "time", "yesterday"), false},
	{"query_bad_timeout", "/api/v1/query", vals("query", "up", "timeout", "soon"), false},
	{"query_negative_timeout", "/api/v1/query", vals("query", "up", "timeout", "-1"), false},
	{"query_bad_limit", "/api/v1/query", vals("query", "up", "limit", "ten"), false},
	{"query_negative_limit", "/api/v1/query", vals("query", "up", "limit", "-1"), false},
	{"query_bad_lookback_delta", "/api/v1/query", vals("query", "up", "lookback_delta", "a while"), false},
	{"query_execution_error", "/api/v1/query", vals("query", `{__name__=~"dup_.*"} + 1`, "time", "1700000300"), false},
	{"query_timeout", "/api/v1/query", vals("query", "request_duration_p99", "time", "1700000300", "timeout", "0.000000001"), false},

	// Range queries.
	{"range_unix", "/api/v1/query_range", vals("query", `http_requests_total{code="500"}`, "start", "1700000000", "end", "1700000300", "step", "60"), false},
	{"range_rfc3339", "/api/v1/query_range", vals("query", `http_requests_total{code="500"}`, "start", "2023-11-14T22:13:20Z", "end", "2023-11-14T22:18:20Z", "step", "1m30s"), false},
	{"range_fractions", "/api/v1/query_range", vals("query", "request_duration_p99", "start", "1700000000.5", "end", "1700000010.5", "step", "2.5"), false},
	{"range_many_series", "/api/v1/query_range", vals("query", "sum by (service) (rate(http_requests_total[1m]))", "start", "1700000060", "end", "1700000300", "step", "1m"), false},
	{"range_scalar", "/api/v1/query_range", vals("query", "time()", "start", "1700000000", "end", "1700000300", "step", "100"), false},
	{"range_special_values", "/api/v1/query_range", vals("query", "special_values", "start", "1700000000", "end", "1700000300", "step", "150"), false},
	{"range_limit", "/api/v1/query_range", vals("query", "http_requests_total", "start", "1700000000", "end", "1700000300", "step", "150", "limit", "1"), false},
	{"range_warning", "/api/v1/query_range", vals("query", "quantile(2, http_requests_total)", "start", "1700000000", "end", "1700000300", "step", "150"), false},
	{"range_max_points", "/api/v1/query_range", vals("query", "nonexistent", "start", "0", "end", "11000", "step", "1"), false},

	{"range_too_many_points", "/api/v1/query_range", vals("query", "nonexistent", "start", "0", "end", "11001", "step", "1"), false},
	{"range_end_before_start", "/api/v1/query_range", vals("query", "up", "start", "1700000300", "end", "1700000000", "step", "60"), false},
	{"range_zero_step", "/api/v1/query_range", vals("query", "up", "start", "1700000000", "end", "1700000300", "step", "0"), false},
	{"range_negative_step", "/api/v1/query_range", vals("query", "up", "start", "1700000000", "end", "1700000300", "step", "-10"), false},
	{"range_bad_step", "/api/v1/query_range", vals("query", "up", "start", "1700000000", "end", "1700000300", "step", "often"), false},
	{"range_missing_start", "/api/v1/query_range", vals("query", "up", "end", "1700000300", "step", "60"), false},
	{"range_bad_end", "/api/v1/query_range", vals("query", "up", "start", "1700000000", "end", "2023-11-14 22:18:20", "step", "60"), false},
	{"range_matrix_query", "/api/v1/query_range", vals("query", "http_requests_total[1m]", "start", "1700000000", "end", "1700000300", "step", "60"), false},
	{"range_execution_error", "/api/v1/query_range", vals("query", `{__name__=~"dup_.*"} + 1`, "start", "1700000000", "end", "1700000300", "step", "60"), false},

	// Series.
	{"series_one", "/api/v1/series", vals("match[]", `http_requests_total{service="checkout"}`), false},
	{"series_two", "/api/v1/series", vals("match[]", "dup_b", "match[]", "dup_a"), false},
	{"series_overlap", "/api/v1/series", vals("match[]", "http_requests_total", "match[]", `{code="500"}`), false},
	{"series_limit", "/api/v1/series", vals("match[]", "http_requests_total", "limit", "2"), false},
	{"series_time_range", "/api/v1/series", vals("match[]", "http_requests_total", "start", "1600000000", "end", "2020-09-13T12:26:40Z"), false},
	{"series_escaping", "/api/v1/series", vals("match[]", "escaping"), false},
	{"series_no_match", "/api/v1/series", nil, false},
	{"series_bad_matcher", "/api/v1/series", vals("match[]", `{code="500"`), false},
	{"series_empty_matcher", "/api/v1/series", vals("match[]", `{code=~".*"}`), false},
	{"series_bad_start", "/api/v1/series", vals("match[]", "up", "start", "then"), false},
	{"series_bad_limit", "/api/v1/series", vals("match[]", "up", "limit", "-5"), false},

	// Label names.
	{"labels_all", "/api/v1/labels", nil, false},
	{"labels_match", "/api/v1/labels", vals("match[]", "request_duration_p99"), false},
	{"labels_two_matches", "/api/v1/labels", vals("match[]", "special_values", "match[]", "escaping"), false},
	{"labels_limit", "/api/v1/labels", vals("limit", "2"), false},
	{"labels_before_data", "/api/v1/labels", vals("start", "1600000000", "end", "1600000300"), false},
	{"labels_bad_match", "/api/v1/labels", vals("match[]", `{code=""}`), false},
	{"labels_bad_end", "/api/v1/labels", vals("end", "soon"), false},

	// Label values.
	{"label_values_name", "/api/v1/label/__name__/values", nil, false},
	{"label_values_service", "/api/v1/label/service/values", nil, false},
	{"label_values_match", "/api/v1/label/service/values", vals("match[]", `http_requests_total{code="500"}`), false},
	{"label_values_two_matches", "/api/v1/label/kind/values", vals("match[]", `special_values{kind=~"n.*"}`, "match[]", `special_values{kind="tiny"}`), false},
	{"label_values_limit", "/api/v1/label/kind/values", vals("limit", "3"), false},
	{"label_values_time_range", "/api/v1/label/service/values", vals("start", "1700000400", "end", "1700000500"), false},
	{"label_values_escaped_name", "/api/v1/label/U__kind/values", nil, false},
	{"label_values_escaping", "/api/v1/label/v/values", nil, false},
	{"label_values_unknown", "/api/v1/label/nope/values", nil, false},
	{"label_values_invalid_name", "/api/v1/label/%FF/values", nil, false},
	{"label_values_bad_match", "/api/v1/label/kind/values", vals("match[]", "{"), false},

	// Exemplars.
	{"exemplars_all", "/api/v1/query_exemplars", vals("query", "request_duration_p99"), false},
	{"exemplars_range", "/api/v1/query_exemplars", vals("query", "request_duration_p99", "start", "1700000100", "end", "1700000125.123"), false},
	{"exemplars_rfc3339", "/api/v1/query_exemplars", vals("query", `request_duration_p99{service="checkout"}`, "start", "2023-11-14T22:18:00Z", "end", "2023-11-14T22:30:00Z"), false},
	{"exemplars_expression", "/api/v1/query_exemplars", vals("query", "max_over_time(request_duration_p99[1m]) / sum(rate(http_requests_total[1m]))", "start", "1700000280", "end", "1700000300"), false},
	{"exemplars_none", "/api/v1/query_exemplars", vals("query", "http_requests_total"), false},
	{"exemplars_no_selector", "/api/v1/query_exemplars", vals("query", "1+1"), false},
	{"exemplars_bad_query", "/api/v1/query_exemplars", vals("query", "rate(request_duration_p99[1m]"), false},
	{"exemplars_end_before_start", "/api/v1/query_exemplars", vals("query", "request_duration_p99", "start", "1700000300", "end", "1700000000"), false},
	{"exemplars_bad_start", "/api/v1/query_exemplars", vals("query", "request_duration_p99", "start", "noon"), false},

	// Format.
	{"format_query", "/api/v1/format_query", vals("query", `sum by(service)(rate(http_requests_total{code="500"}[5m]))/on(service)sum by(service)(rate(http_requests_total[5m]))`), false},
	{"format_query_bad", "/api/v1/format_query", vals("query", "sum by(service"), false},

	// Status and metadata.
	{"status_buildinfo", "/api/v1/status/buildinfo", nil, true},
	{"status_config", "/api/v1/status/config", nil, true},
	{"status_flags", "/api/v1/status/flags", nil, true},
	{"metadata", "/api/v1/metadata", vals("metric", "http_requests_total"), true},
	{"metadata_bad_limit", "/api/v1/metadata", vals("limit", "all"), true},
	{"metadata_bad_limit_per_metric", "/api/v1/metadata", vals("limit_per_metric", "all"), true},
	{"rules", "/api/v1/rules", nil, true},
	{"alerts", "/api/v1/alerts", nil, true},
}

// goldenEntry is the golden form of an exchange: the case's name, the
// request's path and parameters, and the answer's status, content type
// and body exactly as sent.
func goldenEntry(name, path string, params url.Values, r response) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### %s\n%s\n", name, path)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[k] {
			fmt.Fprintf(&b, "  %s=%s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "HTTP %d\nContent-Type: %s\n\n", r.code, r.header.Get("Content-Type"))
	b.Write(r.body)
	b.WriteString("\n\n")
	return b.Bytes()
}

// goldenFile is the golden file of the cases of an endpoint:
// testdata/<endpoint>.golden, the status endpoints together.
func goldenFile(path string) string {
	name := strings.TrimPrefix(path, "/api/v1/")
	switch {
	case strings.HasPrefix(name, "label/"):
		name = "label_values"
	case strings.HasPrefix(name, "status/"), name == "metadata", name == "rules", name == "alerts":
		name = "status"
	}
	return filepath.Join("testdata", name+".golden")
}

// TestEndpoints sends every case with GET and with POST, requires the same
// answer to both, checks that it is valid JSON in the Prometheus envelope
// with the status code of its type, and compares the answers with the
// golden file of their endpoint.
func TestEndpoints(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), nil))
	files := map[string]*bytes.Buffer{}
	seen := map[string]bool{}
	for _, c := range apiCases {
		if seen[c.name] {
			t.Fatalf("two cases named %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			get := do(t, srv, http.MethodGet, c.path, c.params, nil)
			checkEnvelope(t, get)
			f := goldenFile(c.path)
			if files[f] == nil {
				files[f] = &bytes.Buffer{}
			}
			files[f].Write(goldenEntry(c.name, c.path, c.params, get))
			if c.getOnly {
				return
			}
			post := do(t, srv, http.MethodPost, c.path, c.params, nil)
			if post.code != get.code || !bytes.Equal(post.body, get.body) {
				t.Errorf("POST answered %d %s\nGET answered  %d %s", post.code, post.body, get.code, get.body)
			}
		})
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		golden.Check(t, f, files[f].Bytes(), *update)
	}
}

// checkEnvelope checks the structure of an answer: 204 with no body, or
// the success or error envelope with the status code of its errorType.
func checkEnvelope(t *testing.T, r response) {
	t.Helper()
	if r.code == http.StatusNoContent {
		if len(r.body) != 0 {
			t.Errorf("%s: 204 with body %q", r.context, r.body)
		}
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r.context, ct)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
		Infos     []string        `json:"infos"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("%s: body does not decode: %v\n%s", r.context, err, r.body)
	}
	switch env.Status {
	case "success":
		if r.code != http.StatusOK || env.Data == nil || env.ErrorType != "" || env.Error != "" {
			t.Errorf("%s: success with code %d, data %q, errorType %q, error %q", r.context, r.code, env.Data, env.ErrorType, env.Error)
		}
	case "error":
		want := map[string]int{"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 499, "internal": 500}[env.ErrorType]
		if r.code != want || env.Error == "" || env.Data != nil {
			t.Errorf("%s: error %q with code %d (want %d), error %q, data %q", r.context, env.ErrorType, r.code, want, env.Error, env.Data)
		}
	default:
		t.Errorf("%s: status %q", r.context, env.Status)
	}
}

// TestEndpointsCovered: every registered endpoint has a case.
func TestEndpointsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range apiCases {
		covered[c.path] = true
	}
	for _, p := range []string{
		"/api/v1/query", "/api/v1/query_range", "/api/v1/query_exemplars", "/api/v1/format_query",
		"/api/v1/series", "/api/v1/labels", "/api/v1/label/__name__/values",
		"/api/v1/status/buildinfo", "/api/v1/status/config", "/api/v1/status/flags",
		"/api/v1/metadata", "/api/v1/rules", "/api/v1/alerts",
	} {
		if !covered[p] {
			t.Errorf("no case for %s", p)
		}
	}
}

// TestErrorTypes: the error types no request of the fixture can cause,
// each with its golden answer: canceled (the client went away), internal
// (storage that wraps its error in promql.ErrStorage), and execution
// errors of a storage read and of the engine's sample limit.
func TestErrorTypes(t *testing.T) {
	db := openFixture(t)
	cases := []struct {
		name   string
		api    *API
		path   string
		params url.Values
		cancel bool
	}{
		{"error_canceled", newFixtureAPI(t, db, nil), "/api/v1/query", vals("query", "request_duration_p99"), true},
		{"error_canceled_range", newFixtureAPI(t, db, nil), "/api/v1/query_range", vals("query", "request_duration_p99", "start", "1700000000", "end", "1700000300", "step", "60"), true},
		{"error_internal_query", newFixtureAPI(t, failingQueryable{errStorage}, nil), "/api/v1/query", vals("query", "request_duration_p99"), false},
		{"error_internal_series", newFixtureAPI(t, failingQueryable{errStorage}, nil), "/api/v1/series", vals("match[]", "request_duration_p99"), false},
		{"error_internal_labels", newFixtureAPI(t, failingQueryable{errStorage}, nil), "/api/v1/labels", nil, false},
		{"error_internal_label_values", newFixtureAPI(t, failingQueryable{errStorage}, nil), "/api/v1/label/service/values", nil, false},
		{"error_storage_execution", newFixtureAPI(t, failingQueryable{errStorage.Err}, nil), "/api/v1/query", vals("query", "request_duration_p99"), false},
		{"error_too_many_samples", newFixtureAPI(t, db, func(o *Options) { o.EngineOpts.MaxSamples = 10 }), "/api/v1/query_range", vals("query", "http_requests_total", "start", "1700000000", "end", "1700000300", "step", "10"), false},
		{"error_engine_timeout", newFixtureAPI(t, db, func(o *Options) { o.EngineOpts.Timeout = time.Nanosecond }), "/api/v1/query", vals("query", "request_duration_p99"), false},
	}
	var out bytes.Buffer
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []response
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var r response
				if c.cancel {
					r = serveCanceled(t, c.api, method, c.path, c.params)
				} else {
					r = do(t, serve(t, c.api), method, c.path, c.params, nil)
				}
				checkEnvelope(t, r)
				got = append(got, r)
			}
			if got[0].code != got[1].code || !bytes.Equal(got[0].body, got[1].body) {
				t.Errorf("POST answered %d %s\nGET answered  %d %s", got[1].code, got[1].body, got[0].code, got[0].body)
			}
			out.Write(goldenEntry(c.name, c.path, c.params, got[0]))
		})
	}
	golden.Check(t, filepath.Join("testdata", "errors.golden"), out.Bytes(), *update)
}

// serveCanceled calls the handler with a request whose client has gone
// away, as the server sees it: its context canceled.
func serveCanceled(t *testing.T, a *API, method, path string, params url.Values) response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var req *http.Request
	if method == http.MethodPost {
		req = httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequestWithContext(ctx, method, path+"?"+params.Encode(), nil)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes(), context: method + " " + path}
}

// TestCompression: an answer is compressed with the first of gzip and
// deflate that the request accepts, and decompresses to the plain answer.
func TestCompression(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), nil))
	params := vals("query", "http_requests_total", "start", "1700000000", "end", "1700000300", "step", "10")
	plain := do(t, srv, http.MethodGet, "/api/v1/query_range", params, nil)
	if plain.header.Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding %q without Accept-Encoding", plain.header.Get("Content-Encoding"))
	}
	bad := do(t, srv, http.MethodGet, "/api/v1/query_range", vals("query", "up"), nil)
	for _, c := range []struct {
		accept, want string
	}{
		{"gzip", "gzip"},
		{"deflate", "deflate"},
		{"br, deflate, gzip", "deflate"},
		{"identity", ""},
	} {
		for _, want := range []response{plain, bad} {
			method, path := http.MethodGet, "/api/v1/query_range"
			p := params
			if want.code != http.StatusOK {
				p = vals("query", "up")
			}
			r := do(t, srv, method, path, p, http.Header{"Accept-Encoding": {c.accept}})
			if got := r.header.Get("Content-Encoding"); got != c.want {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.want)
			}
			body := r.body
			var zr io.Reader
			switch c.want {
			case "gzip":
				g, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				zr = g
			case "deflate":
				z, err := zlib.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				zr = z
			}
			if zr != nil {
				var err error
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("Accept-Encoding %q: decompress: %v", c.accept, err)
				}
			}
			if r.code != want.code || !bytes.Equal(body, want.body) {
				t.Errorf("Accept-Encoding %q: got %d %s, want %d %s", c.accept, r.code, body, want.code, want.body)
			}
		}
	}
}

// TestMethodsAndPaths: a method an endpoint does not take is 405, a path
// outside the API 404.
func TestMethodsAndPaths(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), nil))
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodDelete, "/api/v1/query", http.StatusMethodNotAllowed},
		{http.MethodPut, "/api/v1/series", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/v1/status/buildinfo", http.StatusMethodNotAllowed},
		{http.MethodHead, "/api/v1/status/buildinfo", http.StatusOK},
		{http.MethodGet, "/api/v1/targets", http.StatusNotFound},
		{http.MethodGet, "/api/v2/query", http.StatusNotFound},
		{http.MethodGet, "/-/healthy", http.StatusNotFound},
	} {
		r := do(t, srv, c.method, c.path, nil, nil)
		if r.code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.code, c.want)
		}
	}
}

// TestStats: stats=true adds the query's statistics, stats=all its steps
// too (with an engine that keeps them), another value a deprecation
// warning.
func TestStats(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), func(o *Options) { o.EngineOpts.EnablePerStepStats = true }))
	for _, c := range []struct {
		stats     string
		wantSteps bool
		wantWarn  bool
	}{
		{"true", false, false},
		{"all", true, false},
		{"1", false, true},
	} {
		r := do(t, srv, http.MethodPost, "/api/v1/query_range", vals("query", "http_requests_total", "start", "1700000000", "end", "1700000300", "step", "60", "stats", c.stats), nil)
		var env struct {
			Data struct {
				Stats struct {
					Timings map[string]float64 `json:"timings"`
					Samples struct {
						TotalQueryableSamples        int64   `json:"totalQueryableSamples"`
						TotalQueryableSamplesPerStep [][]any `json:"totalQueryableSamplesPerStep"`
					} `json:"samples"`
				} `json:"stats"`
			} `json:"data"`
			Warnings []string `json:"warnings"`
		}
		if err := json.Unmarshal(r.body, &env); err != nil {
			t.Fatalf("stats=%s: %v\n%s", c.stats, err, r.body)
		}
		s := env.Data.Stats
		// Three series, six steps.
		if _, ok := s.Timings["evalTotalTime"]; !ok || s.Samples.TotalQueryableSamples != 18 {
			t.Errorf("stats=%s: timings %v, totalQueryableSamples %d, want evalTotalTime and 18\n%s", c.stats, s.Timings, s.Samples.TotalQueryableSamples, r.body)
		}
		if got := s.Samples.TotalQueryableSamplesPerStep != nil; got != c.wantSteps {
			t.Errorf("stats=%s: per step stats %v, want %v", c.stats, got, c.wantSteps)
		}
		if got := len(env.Warnings) == 1 && strings.Contains(env.Warnings[0], "deprecated"); got != c.wantWarn {
			t.Errorf("stats=%s: warnings %q, want a deprecation warning: %v", c.stats, env.Warnings, c.wantWarn)
		}
	}
	r := do(t, srv, http.MethodGet, "/api/v1/query", vals("query", "1", "time", "1700000300"), nil)
	if bytes.Contains(r.body, []byte("stats")) {
		t.Errorf("stats without the stats parameter: %s", r.body)
	}
}

// TestRuntimeInfo: the runtime information has Prometheus' fields.
func TestRuntimeInfo(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), nil))
	r := do(t, srv, http.MethodGet, "/api/v1/status/runtimeinfo", nil, nil)
	checkEnvelope(t, r)
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"startTime", "CWD", "hostname", "serverTime", "reloadConfigSuccess", "lastConfigTime",
		"corruptionCount", "goroutineCount", "GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "storageRetention"} {
		if _, ok := env.Data[k]; !ok {
			t.Errorf("runtimeinfo has no %s: %s", k, r.body)
		}
	}
	if got, want := env.Data["serverTime"], "2023-11-14T22:18:20Z"; got != want {
		t.Errorf("serverTime %v, want %v", got, want)
	}
}

// TestOptions: New refuses bad options, naming the field, and fills in the
// defaults.
func TestOptions(t *testing.T) {
	db := openFixture(t)
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"no queryable", Options{}, "Queryable is nil"},
		{"max samples", Options{Queryable: db, EngineOpts: promql.EngineOpts{MaxSamples: -1}}, "EngineOpts.MaxSamples -1"},
		{"timeout", Options{Queryable: db, EngineOpts: promql.EngineOpts{Timeout: -time.Second}}, "EngineOpts.Timeout -1s"},
		{"lookback", Options{Queryable: db, EngineOpts: promql.EngineOpts{LookbackDelta: -time.Minute}}, "EngineOpts.LookbackDelta -1m0s"},
	} {
		_, err := New(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New error %v, want one with %q", c.name, err, c.want)
		}
	}

	// An engine given is used as it is: its sample limit applies.
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1, Timeout: time.Minute})
	srv := serve(t, newFixtureAPI(t, db, func(o *Options) { o.Engine = engine }))
	r := do(t, srv, http.MethodGet, "/api/v1/query", vals("query", "http_requests_total", "time", "1700000300"), nil)
	if r.code != http.StatusUnprocessableEntity || !bytes.Contains(r.body, []byte("too many samples")) {
		t.Errorf("with an engine of one sample: %d %s, want 422 too many samples", r.code, r.body)
	}

	// A build without a Go version reports the running one; an API
	// without exemplar storage finds no exemplars.
	a, err := New(Options{Queryable: queryableOnly{db}})
	if err != nil {
		t.Fatal(err)
	}
	srv = serve(t, a)
	r = do(t, srv, http.MethodGet, "/api/v1/status/buildinfo", nil, nil)
	if !bytes.Contains(r.body, []byte(`"goVersion":"go`)) {
		t.Errorf("buildinfo without GoVersion: %s", r.body)
	}
	r = do(t, srv, http.MethodGet, "/api/v1/query_exemplars", vals("query", "request_duration_p99"), nil)
	if want := `{"status":"success","data":[]}`; string(r.body) != want {
		t.Errorf("exemplars without exemplar storage: %s, want %s", r.body, want)
	}
}

// queryableOnly hides the ExemplarQueryable of the DB.
type queryableOnly struct{ promstorage.Queryable }
