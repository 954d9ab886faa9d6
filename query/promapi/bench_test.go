package promapi

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/tumblemetrics/tumble/storage"
)

const (
	benchSeries = 200
	benchPoints = 720 // two hours at 10s
)

// benchMatrix is a range query's answer: benchSeries series of benchPoints
// points of random gauges, from a fixed seed.
func benchMatrix() promql.Matrix {
	rng := rand.New(rand.NewPCG(7, 11))
	m := make(promql.Matrix, benchSeries)
	for i := range m {
		s := promql.Series{Metric: labels.FromStrings("__name__", "request_duration_p99", "service", "svc-"+strconv.Itoa(i%20), "pod", "pod-"+strconv.Itoa(i))}
		for j := range benchPoints {
			s.Floats = append(s.Floats, promql.FPoint{T: t0 + int64(j)*stepMs, F: rng.Float64() * 2})
		}
		m[i] = s
	}
	return m
}

// BenchmarkEncodeMatrix measures writing a large range query answer.
func BenchmarkEncodeMatrix(b *testing.B) {
	m := benchMatrix()
	data := &queryData{ResultType: m.Type(), Result: m}
	out, err := appendSuccess(nil, data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if out, err = appendSuccess(out[:0], data, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSeries*benchPoints)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkQueryRange measures a range query through the handler, from the
// request to the written answer, over a DB of benchSeries series.
func BenchmarkQueryRange(b *testing.B) {
	db, err := storage.Open(b.TempDir(), storage.Options{NoSync: true, NoBackground: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var pts []storage.Point
	for _, s := range benchMatrix() {
		for _, p := range s.Floats {
			pts = append(pts, storage.Point{Labels: s.Metric, Policy: fixturePolicy, T: p.T, V: p.F})
		}
	}
	if _, err := db.Append(pts, nil); err != nil {
		b.Fatal(err)
	}
	h := newFixtureAPI(b, db, nil).Handler()
	target := "/api/v1/query_range?" + vals("query", "request_duration_p99",
		"start", strconv.FormatInt(t0/1000, 10), "end", strconv.FormatInt((t0+(benchPoints-1)*stepMs)/1000, 10), "step", "10").Encode()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	}
	b.ReportMetric(float64(benchSeries*benchPoints)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
}
