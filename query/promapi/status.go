package promapi

import (
	"errors"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// The status endpoints answer what clients of a Prometheus server read
// from it (Grafana, promtool): the build, the runtime, and empty answers
// for what tumble does not have (a configuration file, flags, metric
// metadata, rules and alerts).

// serveBuildInfo answers /api/v1/status/buildinfo.
func (a *API) serveBuildInfo(*http.Request) result {
	return result{data: a.buildInfo}
}

// runtimeInfo is the answer of /api/v1/status/runtimeinfo, in Prometheus'
// fields.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

// serveRuntimeInfo answers /api/v1/status/runtimeinfo: the process' start
// (the API's creation), working directory, host and Go runtime settings.
func (a *API) serveRuntimeInfo(*http.Request) result {
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "<error retrieving current working directory>"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "<error retrieving hostname>"
	}
	return result{data: runtimeInfo{
		StartTime:           a.started,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          a.now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      a.started,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
	}}
}

// serveConfig answers /api/v1/status/config: tumble has no Prometheus
// configuration, so its YAML is empty.
func (a *API) serveConfig(*http.Request) result {
	return result{data: struct {
		YAML string `json:"yaml"`
	}{}}
}

// serveFlags answers /api/v1/status/flags: no flags.
func (a *API) serveFlags(*http.Request) result {
	return result{data: map[string]string{}}
}

// metadata answers /api/v1/metadata: tumble keeps no metric metadata (type,
// help, unit), so the answer is empty. limit and limit_per_metric are
// checked as Prometheus checks them.
func (a *API) metadata(r *http.Request) result {
	if s := r.FormValue("limit"); s != "" {
		if _, err := strconv.Atoi(s); err != nil {
			return fail(badData(errors.New("limit must be a number")))
		}
	}
	if s := r.FormValue("limit_per_metric"); s != "" {
		if _, err := strconv.Atoi(s); err != nil {
			return fail(badData(errors.New("limit_per_metric must be a number")))
		}
	}
	return result{data: map[string][]struct{}{}}
}

// rules answers /api/v1/rules: tumble evaluates no recording or alerting
// rules.
func (a *API) rules(*http.Request) result {
	return result{data: struct {
		Groups []struct{} `json:"groups"`
	}{Groups: []struct{}{}}}
}

// alerts answers /api/v1/alerts: no alerts.
func (a *API) alerts(*http.Request) result {
	return result{data: struct {
		Alerts []struct{} `json:"alerts"`
	}{Alerts: []struct{}{}}}
}
