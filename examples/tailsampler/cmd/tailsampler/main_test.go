package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/examples/tailsampler"
	"github.com/tumblemetrics/tumble/flush/selection"
)

func TestKeepHandler(t *testing.T) {
	now := time.Now()
	d, err := tailsampler.NewDecider(tailsampler.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("NewDecider: %v", err)
	}
	d.Observe([]selection.Selection{{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Reason: selection.Final}})
	h := keepHandler(d, func() time.Time { return now.Add(30 * time.Second) })
	for _, tc := range []struct {
		target   string
		wantCode int
		wantBody string
	}{
		{"/keep?trace_id=4bf92f3577b34da6a3ce929d0e0e4736", http.StatusOK, `{"keep":true,"reason":"final"}` + "\n"},
		{"/keep?trace_id=4BF92F3577B34DA6A3CE929D0E0E4736", http.StatusOK, `{"keep":true,"reason":"final"}` + "\n"},
		{"/keep?trace_id=00f067aa0ba902b7a3ce929d0e0e4736", http.StatusOK, `{"keep":false,"reason":"not selected"}` + "\n"},
		{"/keep?trace_id=00f067aa0ba902b7", http.StatusBadRequest, `{"keep":false,"reason":"malformed trace ID"}` + "\n"},
		{"/keep", http.StatusBadRequest, `{"keep":false,"reason":"malformed trace ID"}` + "\n"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.target, nil))
			if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody {
				t.Errorf("GET %s = %d %q; want %d %q", tc.target, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
}
