package promapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Options configures an API.
type Options struct {
	// Queryable is the storage queries read; required.
	Queryable storage.Queryable

	// ExemplarQueryable answers query_exemplars; nil means Queryable's own
	// if it has one, else every exemplar query finds none.
	ExemplarQueryable storage.ExemplarQueryable

	// Engine evaluates PromQL; nil means one built from EngineOpts.
	Engine *promql.Engine

	// EngineOpts configures the engine built when Engine is nil. Zero
	// fields take Prometheus' defaults: MaxSamples 50,000,000, Timeout
	// 2m, LookbackDelta 5m, subqueries without a step evaluated every
	// minute, Logger the API's. The @ modifier and negative offsets are
	// always on, as in Prometheus 3.
	EngineOpts promql.EngineOpts

	// Parser parses the match[] selectors and the queries of
	// query_exemplars and format_query; nil means EngineOpts.Parser, else
	// the default parser.
	Parser parser.Parser

	// Now is the clock that gives an instant query without a time its
	// time; nil means time.Now.
	Now func() time.Time

	// BuildInfo is the answer of /api/v1/status/buildinfo. An empty
	// GoVersion is the running Go's.
	BuildInfo BuildInfo

	// Logger receives the responses that could not be written and the
	// internal errors; nil discards.
	Logger *slog.Logger
}

// BuildInfo describes the running build, in the fields Prometheus uses.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// Prometheus' defaults for the engine the API builds.
const (
	defaultMaxSamples    = 50_000_000
	defaultTimeout       = 2 * time.Minute
	defaultLookbackDelta = 5 * time.Minute
	defaultSubqueryStep  = int64(time.Minute / time.Millisecond)
)

func (o *Options) validate() error {
	var errs []error
	if o.Queryable == nil {
		errs = append(errs, errors.New("Queryable is nil: want the storage to query"))
	}
	if o.Engine == nil {
		if o.EngineOpts.MaxSamples < 0 {
			errs = append(errs, fmt.Errorf("EngineOpts.MaxSamples %d: want 0 (the default) or more", o.EngineOpts.MaxSamples))
		}
		if o.EngineOpts.Timeout < 0 {
			errs = append(errs, fmt.Errorf("EngineOpts.Timeout %s: want 0 (the default) or a positive duration", o.EngineOpts.Timeout))
		}
		if o.EngineOpts.LookbackDelta < 0 {
			errs = append(errs, fmt.Errorf("EngineOpts.LookbackDelta %s: want 0 (the default) or a positive duration", o.EngineOpts.LookbackDelta))
		}
	}
	return errors.Join(errs...)
}

// API serves the Prometheus HTTP query API over a Queryable. It holds no
// state of its own past New: every method is safe for concurrent use, and
// the handler serves requests concurrently.
type API struct {
	queryable storage.Queryable
	exemplars storage.ExemplarQueryable // nil: no exemplars
	engine    *promql.Engine
	parser    parser.Parser
	now       func() time.Time
	buildInfo BuildInfo
	logger    *slog.Logger
	started   time.Time
}

// New returns an API over opts.Queryable.
func New(opts Options) (*API, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("promapi: %w", err)
	}
	a := &API{
		queryable: opts.Queryable,
		exemplars: opts.ExemplarQueryable,
		engine:    opts.Engine,
		parser:    opts.Parser,
		now:       opts.Now,
		buildInfo: opts.BuildInfo,
		logger:    opts.Logger,
	}
	if a.exemplars == nil {
		a.exemplars, _ = opts.Queryable.(storage.ExemplarQueryable)
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.parser == nil {
		a.parser = opts.EngineOpts.Parser
	}
	if a.parser == nil {
		a.parser = parser.NewParser(parser.Options{})
	}
	if a.engine == nil {
		eo := opts.EngineOpts
		if eo.MaxSamples == 0 {
			eo.MaxSamples = defaultMaxSamples
		}
		if eo.Timeout == 0 {
			eo.Timeout = defaultTimeout
		}
		if eo.LookbackDelta == 0 {
			eo.LookbackDelta = defaultLookbackDelta
		}
		if eo.NoStepSubqueryIntervalFn == nil {
			eo.NoStepSubqueryIntervalFn = func(int64) int64 { return defaultSubqueryStep }
		}
		if eo.Logger == nil {
			eo.Logger = a.logger
		}
		if eo.Parser == nil {
			eo.Parser = a.parser
		}
		eo.EnableAtModifier = true
		eo.EnableNegativeOffset = true
		a.engine = promql.NewEngine(eo)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.buildInfo.GoVersion == "" {
		a.buildInfo.GoVersion = runtime.Version()
	}
	a.started = a.now()
	return a, nil
}

// Handler returns a handler that serves the API's endpoints under
// /api/v1/ and answers 404 to any other path.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return mux
}

// Register adds the API's endpoints, under /api/v1/, to mux. The query
// endpoints take GET and POST (a form-encoded body), the status and
// metadata endpoints GET; another method is answered 405. Like
// ServeMux.Handle, it panics if mux already serves one of these patterns.
func (a *API) Register(mux *http.ServeMux) {
	both := map[string]apiFunc{
		"query":               a.query,
		"query_range":         a.queryRange,
		"query_exemplars":     a.queryExemplars,
		"format_query":        a.formatQuery,
		"series":              a.series,
		"labels":              a.labelNames,
		"label/{name}/values": a.labelValues,
	}
	getOnly := map[string]apiFunc{
		"status/buildinfo":   a.serveBuildInfo,
		"status/runtimeinfo": a.serveRuntimeInfo,
		"status/config":      a.serveConfig,
		"status/flags":       a.serveFlags,
		"metadata":           a.metadata,
		"rules":              a.rules,
		"alerts":             a.alerts,
	}
	for path, f := range both {
		h := a.wrap(f)
		mux.Handle("GET /api/v1/"+path, h)
		mux.Handle("POST /api/v1/"+path, h)
	}
	for path, f := range getOnly {
		mux.Handle("GET /api/v1/"+path, a.wrap(f))
	}
}

// apiFunc answers one endpoint.
type apiFunc func(r *http.Request) result

// result is what an endpoint answers: data (nil for 204 No Content) or an
// error, the annotations to report, and a function to call once the
// answer is written (closing a query whose memory the data still uses).
type result struct {
	data     any
	err      *apiError
	warnings annotations.Annotations
	finalize func()
}

func fail(err *apiError) result { return result{err: err} }

// wrap turns an apiFunc into a handler that writes its answer in the
// Prometheus envelope.
func (a *API) wrap(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res result
		if err := r.ParseForm(); err != nil {
			res = fail(badData(fmt.Errorf("error parsing form values: %w", err)))
		} else {
			res = f(r)
		}
		if res.finalize != nil {
			defer res.finalize()
		}
		a.respond(w, r, res)
	})
}

func (a *API) respond(w http.ResponseWriter, r *http.Request, res result) {
	buf := getBuf()
	defer putBuf(buf)
	code := http.StatusOK
	if res.err != nil {
		code = res.err.typ.status()
		if res.err.typ == errorInternal {
			a.logger.Error("query API internal error", "path", r.URL.Path, "err", res.err.err)
		}
		*buf = appendError(*buf, res.err)
	} else {
		if res.data == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		warnings, infos := annotationStrings(res.warnings, r.FormValue("query"))
		b, err := appendSuccess(*buf, res.data, warnings, infos)
		*buf = b
		if err != nil {
			a.logger.Error("encode query API response", "path", r.URL.Path, "err", err)
			code = errorInternal.status()
			*buf = appendError((*buf)[:0], &apiError{errorInternal, err})
		}
	}
	if err := writeBody(w, r, code, *buf); err != nil {
		a.logger.Debug("write query API response", "path", r.URL.Path, "err", err)
	}
}
