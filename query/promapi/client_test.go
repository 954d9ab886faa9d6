package promapi

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// TestOfficialClient runs the official Go client, which promtool is built
// on and whose decoding Grafana's data source mirrors, against the API:
// every answer must decode and hold the fixture's values.
func TestOfficialClient(t *testing.T) {
	srv := serve(t, newFixtureAPI(t, openFixture(t), nil))
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	p := v1.NewAPI(c)
	ctx := context.Background()
	end := time.UnixMilli(tEnd)
	start := time.UnixMilli(t0)

	t.Run("Query", func(t *testing.T) {
		v, warnings, infos, err := p.Query(ctx, `http_requests_total{code="500"}`, end)
		if err != nil || len(warnings) != 0 || len(infos) != 0 {
			t.Fatalf("Query: %v, warnings %v, infos %v", err, warnings, infos)
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 {
			t.Fatalf("Query: %T %v, want a vector of one sample", v, v)
		}
		s := vec[0]
		wantMetric := model.Metric{"__name__": "http_requests_total", "service": "checkout", "code": "500"}
		if !s.Metric.Equal(wantMetric) || s.Value != 30 || !s.Timestamp.Time().Equal(end) {
			t.Errorf("Query: %v, want %v => 30 @ %v", s, wantMetric, end)
		}
	})

	t.Run("QueryFraction", func(t *testing.T) {
		at := time.UnixMilli(t0 + 95_123)
		v, _, _, err := p.Query(ctx, "request_duration_p99", at)
		if err != nil {
			t.Fatal(err)
		}
		vec := v.(model.Vector)
		if len(vec) != 1 || vec[0].Timestamp != model.TimeFromUnixNano(at.UnixNano()) || math.Abs(float64(vec[0].Value)-0.34) > 1e-9 {
			t.Errorf("Query at %v: %v, want 0.34 at that time", at, vec)
		}
	})

	t.Run("QuerySpecialValues", func(t *testing.T) {
		v, _, _, err := p.Query(ctx, "special_values", end)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, s := range v.(model.Vector) {
			got[string(s.Metric["kind"])] = float64(s.Value)
		}
		if !math.IsNaN(got["nan"]) || !math.IsInf(got["inf"], 1) || !math.IsInf(got["neg_inf"], -1) ||
			got["tiny"] != 1e-7 || got["huge"] != 1e22 || got["third"] != 1.0/3 || !math.Signbit(got["neg_zero"]) {
			t.Errorf("special values: %v", got)
		}
	})

	// The client decodes no string results (nor does it from Prometheus).
	t.Run("QueryScalar", func(t *testing.T) {
		v, _, _, err := p.Query(ctx, "1+1", end)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := v.(*model.Scalar); !ok || s.Value != 2 || !s.Timestamp.Time().Equal(end) {
			t.Errorf("scalar: %v", v)
		}
	})

	t.Run("QueryWarningsAndInfos", func(t *testing.T) {
		_, warnings, infos, err := p.Query(ctx, "quantile(2, rate(request_duration_p99[1m]))", end)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) != 1 || len(infos) != 1 {
			t.Errorf("warnings %q, infos %q, want the quantile warning and the counter info", warnings, infos)
		}
	})

	t.Run("QueryErrors", func(t *testing.T) {
		for _, c := range []struct {
			query string
			want  v1.ErrorType
		}{
			{"sum(", v1.ErrBadData},
			{`{__name__=~"dup_.*"} + 1`, v1.ErrExec},
		} {
			_, _, _, err := p.Query(ctx, c.query, end)
			var apiErr *v1.Error
			if !errors.As(err, &apiErr) || apiErr.Type != c.want {
				t.Errorf("Query(%q): %v, want an error of type %s", c.query, err, c.want)
			}
		}
	})

	t.Run("QueryRange", func(t *testing.T) {
		v, _, _, err := p.QueryRange(ctx, `sum by (service) (rate(http_requests_total[1m]))`, v1.Range{Start: start.Add(time.Minute), End: end, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		m, ok := v.(model.Matrix)
		if !ok || len(m) != 2 {
			t.Fatalf("QueryRange: %T %v, want two series", v, v)
		}
		for _, s := range m {
			want := map[model.LabelValue]float64{"checkout": 1.1, "search": 0.5}[s.Metric["service"]]
			if len(s.Values) != 5 {
				t.Errorf("%v: %d points, want 5", s.Metric, len(s.Values))
			}
			for _, pt := range s.Values {
				if math.Abs(float64(pt.Value)-want) > 1e-9 {
					t.Errorf("%v: %v, want %v", s.Metric, pt, want)
				}
			}
		}
	})

	t.Run("Series", func(t *testing.T) {
		ss, _, _, err := p.Series(ctx, []string{"http_requests_total", "request_duration_p99"}, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 4 {
			t.Errorf("Series: %v, want 4", ss)
		}
		// Without a time range the client sends none: all time.
		ss, _, _, err = p.Series(ctx, []string{"escaping"}, time.Time{}, time.Time{})
		if err != nil || len(ss) != 1 || ss[0]["v"] != "<a&b> \"q\" \\ é \u2028 \x01" {
			t.Errorf("Series(escaping): %v, %v", ss, err)
		}
	})

	t.Run("LabelNames", func(t *testing.T) {
		names, _, _, err := p.LabelNames(ctx, nil, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := model.LabelNames{"__name__", "code", "k", "kind", "service", "v"}
		if !equal(names, want) {
			t.Errorf("LabelNames: %v, want %v", names, want)
		}
		names, _, _, err = p.LabelNames(ctx, []string{"request_duration_p99"}, time.Time{}, time.Time{})
		if err != nil || !equal(names, model.LabelNames{"__name__", "service"}) {
			t.Errorf("LabelNames(request_duration_p99): %v, %v", names, err)
		}
	})

	t.Run("LabelValues", func(t *testing.T) {
		vals, _, _, err := p.LabelValues(ctx, "__name__", nil, start, end)
		if err != nil {
			t.Fatal(err)
		}
		want := model.LabelValues{"dup_a", "dup_b", "escaping", "http_requests_total", "request_duration_p99", "special_values"}
		if !equal(vals, want) {
			t.Errorf("LabelValues(__name__): %v, want %v", vals, want)
		}
		vals, _, _, err = p.LabelValues(ctx, "service", []string{`http_requests_total{code="200"}`}, time.Time{}, time.Time{})
		if err != nil || !equal(vals, model.LabelValues{"checkout", "search"}) {
			t.Errorf("LabelValues(service): %v, %v", vals, err)
		}
	})

	t.Run("QueryExemplars", func(t *testing.T) {
		rs, err := p.QueryExemplars(ctx, `histogram_quantile(0.99, request_duration_p99{service="checkout"})`, time.UnixMilli(t0+100_000), time.UnixMilli(t0+130_000))
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || len(rs[0].Exemplars) != 3 {
			t.Fatalf("QueryExemplars: %+v, want one series with 3 exemplars", rs)
		}
		if rs[0].SeriesLabels["__name__"] != "request_duration_p99" {
			t.Errorf("series labels %v", rs[0].SeriesLabels)
		}
		e := rs[0].Exemplars[0]
		if e.Labels["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e470b" || math.Abs(float64(e.Value)-0.359) > 1e-9 || e.Timestamp != model.Time(t0+105_123) {
			t.Errorf("first exemplar %+v, want trace ...470b, 0.359 at %d", e, t0+105_123)
		}
	})

	t.Run("Buildinfo", func(t *testing.T) {
		bi, err := p.Buildinfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := v1.BuildinfoResult(fixtureBuildInfo)
		if bi != want {
			t.Errorf("Buildinfo: %+v, want %+v", bi, want)
		}
	})

	t.Run("Status", func(t *testing.T) {
		if ri, err := p.Runtimeinfo(ctx); err != nil || !ri.StartTime.Equal(fixtureNow()) {
			t.Errorf("Runtimeinfo: %+v, %v", ri, err)
		}
		if _, err := p.Config(ctx); err != nil {
			t.Errorf("Config: %v", err)
		}
		if fl, err := p.Flags(ctx); err != nil || len(fl) != 0 {
			t.Errorf("Flags: %v, %v", fl, err)
		}
		if md, err := p.Metadata(ctx, "", ""); err != nil || len(md) != 0 {
			t.Errorf("Metadata: %v, %v", md, err)
		}
		if r, err := p.Rules(ctx, nil); err != nil || len(r.Groups) != 0 {
			t.Errorf("Rules: %v, %v", r, err)
		}
		if a, err := p.Alerts(ctx); err != nil || len(a.Alerts) != 0 {
			t.Errorf("Alerts: %v, %v", a, err)
		}
		// The client returns the data as it came, a JSON string.
		if f, err := p.FormatQuery(ctx, "sum(rate(x[5m]))by(a)"); err != nil || f != `"sum by (a) (rate(x[5m]))"` {
			t.Errorf("FormatQuery: %q, %v", f, err)
		}
	})
}

func equal[S ~[]E, E comparable](a, b S) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
