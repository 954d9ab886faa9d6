// Package promapi serves the Prometheus HTTP query API over a
// storage.Queryable, so that Grafana's Prometheus data source, promtool and
// the official client_golang API client work against tumble unchanged.
// PromQL is evaluated by the upstream engine; requests and answers follow
// Prometheus byte for byte.
//
//	db, err := storage.Open(dir, storage.Options{})
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//	api, err := promapi.New(promapi.Options{
//		Queryable: db, // *storage.DB answers query_exemplars too
//		BuildInfo: promapi.BuildInfo{Version: version, Revision: revision},
//		Logger:    logger,
//	})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	api.Register(mux) // or serve api.Handler() alone
//	mux.HandleFunc("GET /-/healthy", healthy)
//	return http.ListenAndServe(":9090", mux)
//
// # Endpoints
//
// Under /api/v1/, with GET or POST (parameters in the URL or a
// form-encoded body):
//
//   - query: query, time (default now), timeout, limit, lookback_delta,
//     stats;
//   - query_range: query, start, end, step, timeout, limit,
//     lookback_delta, stats; at most 11,000 steps;
//   - query_exemplars: query, start, end;
//   - series: match[] (one at least), start, end, limit;
//   - labels and label/<name>/values: match[], start, end, limit;
//   - format_query: query.
//
// With GET only: status/buildinfo, status/runtimeinfo, status/config
// (empty YAML), status/flags (none), metadata (none), rules and alerts
// (none).
//
// Times are Unix seconds with an optional fraction ("1700000000.5") or
// RFC 3339 ("2023-11-14T22:13:20.5Z"), kept to the millisecond; durations
// (step, timeout, lookback_delta) are seconds as a float ("30", "0.5") or
// Prometheus durations ("1m30s").
//
// # Answers
//
// A success is {"status":"success","data":...} with "warnings" and
// "infos" when the query raised annotations (sorted, ten of each at most);
// a failure is {"status":"error","errorType":...,"error":...} with the
// status Prometheus gives it: bad_data 400, execution 422, timeout 503,
// canceled 499 (the client went away), internal 500. A storage error is an
// execution error unless the storage wraps it in promql.ErrStorage, which
// makes it internal. Sample values are strings ("0.25", "1e-07", "NaN",
// "+Inf"), timestamps Unix seconds to the millisecond. Answers are
// compressed with gzip or deflate when the request accepts it.
//
// # Concurrency
//
// An API is immutable after New: its handler serves any number of
// requests at once, each query running in the engine, which may bound
// their number (promql.EngineOpts.ActiveQueryTracker).
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package promapi
