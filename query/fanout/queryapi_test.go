package fanout_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/query/promapi"
)

// TestQueryAPIWarnings: the Prometheus HTTP API over the fan-out shows a
// shard none of whose replicas answers in the "warnings" of its answers,
// and fails exemplar queries, which have no warnings.
func TestQueryAPIWarnings(t *testing.T) {
	c := threeNodes(t, 0)
	c.nodes[1].Stop()
	c.nodes[2].Stop()
	q := c.queryable(nil)
	api, err := promapi.New(promapi.Options{Queryable: q, ExemplarQueryable: q})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	start, end := strconv.FormatInt(dataStart/1000, 10), strconv.FormatInt(testEnd/1000, 10)
	for _, tc := range []struct {
		path   string
		params url.Values
		status int
	}{
		{"query_range", url.Values{"query": {`sum(rate(http_requests_total[5m]))`}, "start": {start}, "end": {end}, "step": {"60"}}, http.StatusOK},
		{"query", url.Values{"query": {`count(request_duration_p99)`}, "time": {end}}, http.StatusOK},
		{"series", url.Values{"match[]": {`{__name__=~".+"}`}, "start": {start}, "end": {end}}, http.StatusOK},
		{"labels", url.Values{"start": {start}, "end": {end}}, http.StatusOK},
		{"label/service/values", url.Values{"match[]": {`request_duration_p99`}, "start": {start}, "end": {end}}, http.StatusOK},
		{"query_exemplars", url.Values{"query": {`request_duration_p99`}, "start": {start}, "end": {end}}, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/api/v1/" + tc.path + "?" + tc.params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Status   string          `json:"status"`
				Data     json.RawMessage `json:"data"`
				Warnings []string        `json:"warnings"`
				Error    string          `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("got status %d (%s), want %d", resp.StatusCode, body.Error, tc.status)
			}
			if tc.status != http.StatusOK {
				if !strings.Contains(body.Error, "shard 1 unavailable") {
					t.Fatalf("got error %q, want shard 1 unavailable", body.Error)
				}
				return
			}
			if len(body.Warnings) != 1 || !strings.HasPrefix(body.Warnings[0], "shard 1 unavailable: ") || len(body.Data) < 10 {
				t.Fatalf("got warnings %q and data %.200s, want data and shard 1 unavailable", body.Warnings, body.Data)
			}
		})
	}
}
