package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/prometheus/promql"
)

// errorType is the errorType of an error response; each maps to the HTTP
// status Prometheus answers it with.
type errorType string

const (
	errorBadData  errorType = "bad_data"
	errorExec     errorType = "execution"
	errorTimeout  errorType = "timeout"
	errorCanceled errorType = "canceled"
	errorInternal errorType = "internal"
)

// statusClientClosedRequest is the status Prometheus gives a request whose
// client went away before the answer (nginx's 499).
const statusClientClosedRequest = 499

// status returns the HTTP status code of an error response of type t.
func (t errorType) status() int {
	switch t {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedRequest
	case errorTimeout:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// apiError is an error answered with {"status":"error",...}.
type apiError struct {
	typ errorType
	err error
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s", e.typ, e.err) }

func badData(err error) *apiError { return &apiError{errorBadData, err} }

// invalidParam is the error for a request parameter that does not parse.
func invalidParam(name string, err error) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// fromEngine classifies an error of the engine or of storage as Prometheus
// does: a canceled or timed out query is canceled or timeout, an error the
// storage wrapped in promql.ErrStorage is internal, anything else (too many
// samples, duplicate label sets, a storage read that failed) is execution.
func fromEngine(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		stor     promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	case errors.As(err, &timeout):
		return &apiError{errorTimeout, err}
	case errors.As(err, &stor):
		return &apiError{errorInternal, err}
	}
	return &apiError{errorExec, err}
}

// fromConstruction classifies an error of building a query: running out of
// time or being canceled while waiting for a slot is a timeout or a
// cancellation, anything else is a bad query parameter.
func fromConstruction(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		ceiling  promql.ErrLimitAboveCeiling
	)
	switch {
	case errors.As(err, &ceiling):
		return badData(err)
	case errors.As(err, &canceled), errors.As(err, &timeout):
		return fromEngine(err)
	}
	return invalidParam("query", err)
}
