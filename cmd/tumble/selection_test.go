package main

import (
	"context"
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/windowlog"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/sample"
)

// wantSelections returns the final selections the example rules make of
// the replay's points, by pointKey: the trace of every P99 point of the
// finest policy of "http latency by route" that has one (the workloads
// stay below the rule's cap).
func wantSelections(points map[string]replay.Point) map[string]replay.Point {
	want := map[string]replay.Point{}
	for k, p := range points {
		if p.Aggregation == "P99" && p.Policy == "10s:2d" && p.Exemplar != nil && p.Exemplar.TraceID != "" {
			want[k] = p
		}
	}
	return want
}

// watchSelections reads the selections from the gRPC feed at addr (the
// candidates too) until it has n final ones (or the time is up), in two
// watches: the first stops after its first batch with selections, the
// second resumes with the first's token. It returns them in the order
// they came.
func watchSelections(t *testing.T, addr string, n int) []selection.Selection {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []selection.Selection
	var token string
	errFirst := errors.New("the first watch stops")
	finals := func() int {
		n := 0
		for i := range got {
			if got[i].Reason == selection.Final {
				n++
			}
		}
		return n
	}
	err = selectionfeed.Watch(ctx, conn, selectionfeed.WatchOptions{FromStart: true, Candidates: true}, func(sels []selection.Selection, tok string) error {
		got, token = append(got, sels...), tok
		if len(sels) > 0 {
			return errFirst
		}
		return nil
	})
	if !errors.Is(err, errFirst) {
		t.Fatalf("first watch: %v after %d selections", err, len(got))
	}
	first, err := len(got), error(nil)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	if finals() < n {
		err = selectionfeed.Watch(wctx, conn, selectionfeed.WatchOptions{Token: token, Candidates: true}, func(sels []selection.Selection, _ string) error {
			got = append(got, sels...)
			if finals() >= n {
				wcancel()
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d selections (%d final) watched, %d before the watcher resumed", len(got), finals(), first)
	return got
}

// checkCandidates checks the candidates among got: there are some (the
// workload's backlog closes its first windows before any threshold is
// known, the later ones after), each names a sample of its series and
// open window above the threshold it gives, and its window's P99.
func checkCandidates(t *testing.T, got []selection.Selection, all []sample.Sample) {
	t.Helper()
	type key struct {
		service, route, trace string
		ts                    int64
		v                     float64
	}
	samples := map[key]bool{}
	for i := range all {
		r := &all[i]
		if r.Name != "http_request_duration_seconds" || r.TraceID.IsZero() {
			continue
		}
		svc, _ := r.Labels.Get("service")
		route, _ := r.Labels.Get("route")
		samples[key{svc, route, selection.TraceID(r.TraceID), r.TimestampMs, r.Value}] = true
	}
	n := 0
	for _, c := range got {
		if c.Reason != selection.Candidate {
			continue
		}
		n++
		switch {
		case c.Aggregation != "P99" || c.Policy != "10s:2d" || c.Name != "http_request_duration_seconds_by_route":
			t.Errorf("candidate %+v: not of the P99 at 10s:2d", c)
		case !(c.SampleValue > c.Value):
			t.Errorf("candidate %+v: its sample is not above its threshold", c)
		case c.SampleMs < c.StartMs || c.SampleMs >= c.EndMs:
			t.Errorf("candidate %+v: its sample is not in its window", c)
		case !samples[key{c.Labels["service"], c.Labels["route"], c.TraceID, c.SampleMs, c.SampleValue}]:
			t.Errorf("candidate %+v: no such sample in the workload", c)
		}
	}
	if n == 0 {
		t.Error("no candidate")
	}
	t.Logf("%d candidates, each a sample of its series and window above its threshold", n)
}

// checkSelections checks the final selections got against the replay's
// P99 points want (by pointKey) and the raw samples all: each point's
// trace is selected once; each selection's sample is a sample of its
// series and window, at the P99's rank among their values; its exemplar
// is served (served holds service+route+trace of each served exemplar).
func checkSelections(t *testing.T, got []selection.Selection, want map[string]replay.Point, all []sample.Sample, served map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range got {
		if s.Reason != selection.Final {
			continue
		}
		k := pointKey(s.Name, s.Labels, s.Policy, s.EndMs)
		if seen[k] {
			t.Errorf("selection of %s twice", k)
			continue
		}
		seen[k] = true
		p, ok := want[k]
		switch {
		case !ok:
			t.Errorf("selection of %s (trace %s): no such P99 point in the replay", k, s.TraceID)
			continue
		case p.Exemplar.TraceID != s.TraceID || float64(p.Exemplar.Value) != s.SampleValue || float64(p.Value) != s.Value:
			t.Errorf("selection of %s: trace %s value %v sample %v; the replay's point %v has trace %s of value %v",
				k, s.TraceID, s.Value, s.SampleValue, p.Value, p.Exemplar.TraceID, p.Exemplar.Value)
		}
		if !served[s.Labels["service"]+s.Labels["route"]+s.TraceID] {
			t.Errorf("selection of %s: trace %s is not the exemplar served", k, s.TraceID)
		}
		checkRank(t, &s, all)
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("P99 point %s: its trace %s was not selected", k, want[k].Exemplar.TraceID)
		}
	}
}

// checkRank checks, from the raw samples, that s names a sample of its
// series and window, that its value is the P99's, the value at rank
// ceil(0.99·n) among theirs, and that its sample is the traced one nearest
// in rank to it, as the aggregator's exemplars are: the samples of one
// value share the ranks they span, and of two traced values equally near,
// the one above the rank wins.
func checkRank(t *testing.T, s *selection.Selection, all []sample.Sample) {
	t.Helper()
	var vals, traced []float64
	found := false
	for i := range all {
		r := &all[i]
		if r.Name != "http_request_duration_seconds" || r.TimestampMs < s.StartMs || r.TimestampMs >= s.EndMs {
			continue
		}
		if svc, _ := r.Labels.Get("service"); svc != s.Labels["service"] {
			continue
		}
		if route, _ := r.Labels.Get("route"); route != s.Labels["route"] {
			continue
		}
		vals = append(vals, r.Value)
		if !r.TraceID.IsZero() {
			traced = append(traced, r.Value)
		}
		if selection.TraceID(r.TraceID) == s.TraceID && r.Value == s.SampleValue && r.TimestampMs == s.SampleMs {
			found = true
		}
	}
	if !found {
		t.Errorf("selection %s %v [%d, %d): trace %s is no sample of that series and window", s.Name, s.Labels, s.StartMs, s.EndMs, s.TraceID)
		return
	}
	slices.Sort(vals)
	rank := (99*len(vals) + 99) / 100
	at := vals[rank-1]
	if s.Value != at {
		t.Errorf("selection %s %v [%d, %d): value %v, but the value at rank %d of %d is %v",
			s.Name, s.Labels, s.StartMs, s.EndMs, s.Value, rank, len(vals), at)
		return
	}
	want, wantDist := math.NaN(), -1
	for _, x := range traced {
		first, _ := slices.BinarySearch(vals, x)                             // ranks below x's
		last, _ := slices.BinarySearch(vals, math.Nextafter(x, math.Inf(1))) // up to x's last
		d := 0
		switch {
		case x > at:
			d = first + 1 - rank
		case x < at:
			d = rank - last
		}
		if wantDist < 0 || d < wantDist || d == wantDist && x > want {
			want, wantDist = x, d
		}
	}
	if s.SampleValue != want {
		t.Errorf("selection %s %v [%d, %d): sample value %v, but the traced value nearest to rank %d of %d (value %v) is %v, %d ranks away",
			s.Name, s.Labels, s.StartMs, s.EndMs, s.SampleValue, rank, len(vals), at, want, wantDist)
	}
}

// servedExemplars returns the exemplars the query API at base serves for
// the P99 of http latency by route between two times (s), as
// service+route+trace ID.
func servedExemplars(t *testing.T, base string, startSec, endSec int64) map[string]bool {
	t.Helper()
	var ex struct {
		Data []struct {
			SeriesLabels map[string]string
			Exemplars    []struct {
				Labels    map[string]string
				Timestamp float64
			}
		}
	}
	getJSON(t, base+"/api/v1/query_exemplars?"+url.Values{"query": {`http_request_duration_seconds_by_route{quantile="0.99"}`},
		"start": {strconv.FormatInt(startSec, 10)}, "end": {strconv.FormatInt(endSec, 10)}}.Encode(), &ex)
	served := map[string]bool{}
	for _, s := range ex.Data {
		for _, e := range s.Exemplars {
			served[s.SeriesLabels["service"]+s.SeriesLabels["route"]+e.Labels["trace_id"]] = true
		}
	}
	return served
}

// compareSelectionTerms checks that each final selection was written by
// the leader and term that wrote its window's record in the window log,
// and that the log's windows count as many selections as there are.
func compareSelectionTerms(t *testing.T, got []selection.Selection, log []loggedWindow) {
	t.Helper()
	windows := map[windowKey]windowlog.Window{}
	selected := 0
	for _, r := range log {
		windows[windowKey{r.w.Shard, r.w.Policy, r.w.StartMs, r.w.EndMs}] = r.w
		selected += r.w.Selected
	}
	finals := 0
	for _, s := range got {
		if s.Reason != selection.Final {
			continue
		}
		finals++
		w, ok := windows[windowKey{s.Shard, s.Policy, s.StartMs, s.EndMs}]
		if !ok || w.Leader != s.Leader || w.Term != s.Term {
			t.Errorf("selection of %s %v at %d by %s in term %d; its window's record: %+v (present %v)", s.Name, s.Labels, s.EndMs, s.Leader, s.Term, w, ok)
		}
	}
	if finals != selected {
		t.Errorf("%d final selections, the window log counts %d", finals, selected)
	}
	t.Logf("%d final selections, each with its window, by its window's leader and term", finals)
}
