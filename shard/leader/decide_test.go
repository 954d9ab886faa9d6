package leader

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

func TestCanLead(t *testing.T) {
	const none = math.MinInt64
	ok := Replica{Eligible: true, Emitted: 100, RetainedFrom: 50, Lag: 10}
	for _, tc := range []struct {
		name   string
		r      Replica
		from   int64
		maxLag int64
		want   string // "" = can lead; else a word of the reason
	}{
		{"caught up", ok, 80, 1000, ""},
		{"exactly at the output", ok, 100, 1000, ""},
		{"knows windows from exactly the output", ok, 50, 1000, ""},
		{"fresh shard", Replica{Eligible: true, Emitted: none, RetainedFrom: none}, none, 0, ""},
		{"behind the output", ok, 120, 1000, "closed up to 100"},
		{"restarted after the output", ok, 40, 1000, "from 50 on"},
		{"catching up in a hand-over", Replica{Emitted: 100, RetainedFrom: 50}, 80, 1000, "catching up"},
		{"lagging", Replica{Eligible: true, Emitted: 100, RetainedFrom: 50, Lag: 5000}, 80, 1000, "5000 records behind"},
		{"no lag limit", Replica{Eligible: true, Emitted: 100, RetainedFrom: 50, Lag: 5000}, 80, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CanLead(tc.r, tc.from, tc.maxLag)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want it to lead", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestResume(t *testing.T) {
	for _, tc := range []struct{ mark, log, want int64 }{
		{math.MinInt64, math.MinInt64, math.MinInt64},
		{100, math.MinInt64, 100},
		{100, 130, 130}, // committed to the log, died before the mark
		{130, 100, 130}, // the log's end was compacted away
	} {
		if got := Resume(tc.mark, tc.log); got != tc.want {
			t.Errorf("Resume(%d, %d) = %d, want %d", tc.mark, tc.log, got, tc.want)
		}
	}
}

// TestLease runs a lease on a clock the test moves: it is valid until the
// moment the last answered keep-alive was sent plus the TTL, less the
// margin, and a late answer to an early request does not extend it past
// that.
func TestLease(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	now := t0
	l := NewLease(time.Second, func() time.Time { return now })
	if l.Valid() {
		t.Fatal("valid before any renewal")
	}
	l.Renewed(t0, 5*time.Second)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {3999 * time.Millisecond, true}, {4 * time.Second, false}, {10 * time.Second, false}} {
		now = t0.Add(tc.at)
		if got := l.Valid(); got != tc.want {
			t.Errorf("at +%s: valid %v, want %v", tc.at, got, tc.want)
		}
	}
	// Renewed by a request sent at +3s: valid to +7s.
	l.Renewed(t0.Add(3*time.Second), 5*time.Second)
	now = t0.Add(6 * time.Second)
	if !l.Valid() {
		t.Error("at +6s after a renewal sent at +3s: not valid")
	}
	// An answer to a request sent earlier does not shorten it.
	l.Renewed(t0.Add(time.Second), 5*time.Second)
	if !l.Valid() {
		t.Error("an older renewal shortened the lease")
	}
	now = t0.Add(7 * time.Second)
	if l.Valid() {
		t.Error("at +7s: still valid")
	}
	l.Renewed(now, 5*time.Second)
	l.Expire()
	if l.Valid() {
		t.Error("valid after Expire")
	}
}

func win(policy string, end, closeMs int64, digest string) windowlog.Window {
	return windowlog.Window{Shard: 1, Policy: policy, StartMs: end - 10, EndMs: end, CloseMs: closeMs, Points: 1, Digest: digest}
}

func TestRetained(t *testing.T) {
	r := NewRetained(100)
	r.Add(130, []windowlog.Window{win("a", 110, 120, "1"), win("b", 100, 130, "2"), win("a", 90, 100, "old")})
	if from, emitted := r.State(); from != 100 || emitted != 130 {
		t.Fatalf("state (%d, %d), want (100, 130)", from, emitted)
	}
	if n := r.Len(); n != 2 {
		t.Fatalf("%d windows, want 2 (the one closing at 100 is before from)", n)
	}
	// A restart closes the window at 130 again, and a new one.
	r.Add(140, []windowlog.Window{win("b", 100, 130, "2"), win("a", 130, 140, "3")})
	got := r.Between(100, 140)
	if len(got) != 3 || got[0].CloseMs != 120 || got[1].CloseMs != 130 || got[2].CloseMs != 140 {
		t.Fatalf("between (100, 140]: %+v", got)
	}
	if got := r.Between(120, 130); len(got) != 1 || got[0].Digest != "2" {
		t.Fatalf("between (120, 130]: %+v", got)
	}
	select {
	case <-r.Notify():
	default:
		t.Error("no notification after Add")
	}
	r.Prune(130)
	if from, _ := r.State(); from != 130 || r.Len() != 1 {
		t.Fatalf("after Prune(130): from %d, %d windows; want 130, 1", from, r.Len())
	}
	r.Prune(120) // backwards: nothing
	if from, _ := r.State(); from != 130 {
		t.Fatalf("Prune backwards moved from to %d", from)
	}
}
