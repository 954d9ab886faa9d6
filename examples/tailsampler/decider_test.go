package tailsampler

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/flush/selection"
)

var t0 = time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)

// traceID returns a valid trace ID numbered n.
func traceID(n int) string { return fmt.Sprintf("%032x", n+1) }

func sel(n int, reason string) selection.Selection {
	return selection.Selection{TraceID: traceID(n), Reason: reason, Name: "http_request_duration_seconds",
		Aggregation: "P99", Policy: "10s:2d", StartMs: 1763800000000, EndMs: 1763800010000}
}

// batch is selections observed at t0+at.
type batch struct {
	at   time.Duration
	sels []selection.Selection
}

func TestKeep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		batches    []batch
		traceID    string
		at         time.Duration // of the Keep call, after t0
		wantKeep   bool
		wantReason string
	}{
		{name: "final kept",
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: 20 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "candidate not kept without Candidates",
			batches: []batch{{0, []selection.Selection{sel(1, selection.Candidate)}}},
			traceID: traceID(1), at: time.Second, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "candidate kept with Candidates", opts: Options{Candidates: true},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Candidate)}}},
			traceID: traceID(1), at: time.Second, wantKeep: true, wantReason: selection.Candidate},
		{name: "candidate then final is final", opts: Options{Candidates: true},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Candidate)}}, {time.Second, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: 2 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "final then candidate stays final", opts: Options{Candidates: true},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}, {time.Second, []selection.Selection{sel(1, selection.Candidate)}}},
			traceID: traceID(1), at: 2 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "unknown trace not kept",
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(2), at: time.Second, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "kept just before TTL", opts: Options{TTL: time.Minute},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: time.Minute - time.Millisecond, wantKeep: true, wantReason: selection.Final},
		{name: "expired after TTL", opts: Options{TTL: time.Minute},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: time.Minute, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "expired after the default TTL",
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: DefaultTTL, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "expired and forgotten by a later batch", opts: Options{TTL: time.Minute},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}, {2 * time.Minute, []selection.Selection{sel(2, selection.Final)}}},
			traceID: traceID(1), at: 2 * time.Minute, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "selected again lives another TTL", opts: Options{TTL: time.Minute},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}, {50 * time.Second, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1), at: 100 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "bound evicts the oldest", opts: Options{MaxTraces: 2},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final), sel(2, selection.Final)}}, {time.Second, []selection.Selection{sel(3, selection.Final)}}},
			traceID: traceID(1), at: 2 * time.Second, wantKeep: false, wantReason: ReasonNotSelected},
		{name: "bound keeps the newest", opts: Options{MaxTraces: 2},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final), sel(2, selection.Final)}}, {time.Second, []selection.Selection{sel(3, selection.Final)}}},
			traceID: traceID(2), at: 2 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "bound counts a selected-again trace as new", opts: Options{MaxTraces: 2},
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final), sel(2, selection.Final)}}, {time.Second, []selection.Selection{sel(1, selection.Final), sel(3, selection.Final)}}},
			traceID: traceID(1), at: 2 * time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "upper-case trace ID",
			batches: []batch{{0, []selection.Selection{{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Reason: selection.Final}}}},
			traceID: "4BF92F3577B34DA6A3CE929D0E0E4736", at: time.Second, wantKeep: true, wantReason: selection.Final},
		{name: "malformed trace ID",
			batches: []batch{{0, []selection.Selection{sel(1, selection.Final)}}},
			traceID: traceID(1)[:16], at: time.Second, wantKeep: false, wantReason: ReasonBadTraceID},
		{name: "empty trace ID",
			traceID: "", at: time.Second, wantKeep: false, wantReason: ReasonBadTraceID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			tc.opts.Now = func() time.Time { return now }
			d, err := NewDecider(tc.opts)
			if err != nil {
				t.Fatalf("NewDecider: %v", err)
			}
			for _, b := range tc.batches {
				now = t0.Add(b.at)
				d.Observe(b.sels)
			}
			keep, reason := d.Keep(tc.traceID, t0.Add(tc.at))
			if keep != tc.wantKeep || reason != tc.wantReason {
				t.Errorf("Keep(%q) at +%s = %t, %q; want %t, %q", tc.traceID, tc.at, keep, reason, tc.wantKeep, tc.wantReason)
			}
			checkInvariant(t, d)
		})
	}
}

func TestNewDeciderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"negative TTL", Options{TTL: -time.Second}, "TTL -1s is negative"},
		{"negative MaxTraces", Options{MaxTraces: -1}, "MaxTraces -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecider(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewDecider(%+v) = %v; want an error containing %q", tc.opts, err, tc.want)
			}
		})
	}
}

// TestConcurrent observes and asks from several goroutines at once; run
// it with -race.
func TestConcurrent(t *testing.T) {
	const (
		observers = 4
		askers    = 4
		batches   = 200
		perBatch  = 10
		maxTraces = 1000
	)
	d, err := NewDecider(Options{Candidates: true, MaxTraces: maxTraces})
	if err != nil {
		t.Fatalf("NewDecider: %v", err)
	}
	var wg sync.WaitGroup
	for o := range observers {
		wg.Go(func() {
			for b := range batches {
				sels := make([]selection.Selection, perBatch)
				for i := range sels {
					reason := selection.Final
					if i%2 == 1 {
						reason = selection.Candidate
					}
					sels[i] = sel((o*batches+b)*perBatch+i, reason)
				}
				d.Observe(sels)
			}
		})
	}
	for a := range askers {
		wg.Go(func() {
			for n := range observers * batches * perBatch {
				if keep, reason := d.Keep(strings.ToUpper(traceID(n)), time.Now()); keep && reason != selection.Final && reason != selection.Candidate {
					t.Errorf("asker %d: Keep(%s) = %t, %q; want a selection's reason", a, traceID(n), keep, reason)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := d.Len(); got != maxTraces {
		t.Errorf("Len() = %d after %d traces; want %d", got, observers*batches*perBatch, maxTraces)
	}
	checkInvariant(t, d)
	kept := 0
	for n := range observers * batches * perBatch {
		if keep, _ := d.Keep(traceID(n), time.Now()); keep {
			kept++
		}
	}
	if kept != maxTraces {
		t.Errorf("%d traces kept; want %d", kept, maxTraces)
	}
}

// checkInvariant checks that d's map and list hold the same entries, in
// the order they were seen, within the bound.
func checkInvariant(t *testing.T, d *Decider) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.byID) != d.order.Len() || d.order.Len() > d.opts.MaxTraces {
		t.Fatalf("%d traces by ID, %d in order, bound %d", len(d.byID), d.order.Len(), d.opts.MaxTraces)
	}
	var last time.Time
	for el := d.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		if d.byID[e.traceID] != el {
			t.Fatalf("trace %s in order is not the one by ID", e.traceID)
		}
		if e.seen.Before(last) {
			t.Fatalf("trace %s seen at %s after one seen at %s", e.traceID, e.seen, last)
		}
		last = e.seen
	}
}
