package leader

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

func TestMarkDue(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		n     int
		since time.Duration
		every time.Duration
		want  bool
	}{
		{"a batch with windows, just marked", 1, 0, time.Second, true},
		{"a batch with windows, clock behind", 3, -time.Second, time.Second, true},
		{"no window, just marked", 0, 0, time.Second, false},
		{"no window, before every", 0, 999 * time.Millisecond, time.Second, false},
		{"no window, exactly every", 0, time.Second, time.Second, true},
		{"no window, past every", 0, 5 * time.Second, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := markDue(tc.n, t0.Add(tc.since), t0, tc.every); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecordEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		ends map[string]int64
		ws   []windowlog.Window
		want map[string]int64
	}{
		{"no window", map[string]int64{"a": 10}, nil, map[string]int64{"a": 10}},
		{"new policy", map[string]int64{}, []windowlog.Window{win("a", 110, 120, "")}, map[string]int64{"a": 110}},
		{"later end raises", map[string]int64{"a": 100}, []windowlog.Window{win("a", 110, 120, "")}, map[string]int64{"a": 110}},
		{"earlier end keeps", map[string]int64{"a": 200}, []windowlog.Window{win("a", 110, 120, "")}, map[string]int64{"a": 200}},
		{"per policy, the latest in the batch", map[string]int64{"b": 50},
			[]windowlog.Window{win("a", 130, 140, ""), win("b", 100, 140, ""), win("a", 110, 150, "")},
			map[string]int64{"a": 130, "b": 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recordEnds(tc.ends, tc.ws)
			if !maps.Equal(tc.ends, tc.want) {
				t.Errorf("got %v, want %v", tc.ends, tc.want)
			}
		})
	}
}

func TestLeaseWait(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		until  time.Duration // after now
		every  time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"lease ends first", 300 * time.Millisecond, time.Second, 300 * time.Millisecond, true},
		{"mark first", 5 * time.Second, time.Second, time.Second, true},
		{"lease ends now", 0, time.Second, 0, false},
		{"lease ended", -time.Second, time.Second, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := leaseWait(t0.Add(tc.until), t0, tc.every)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got (%s, %v), want (%s, %v)", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// emitFunc is an emitter made of a func.
type emitFunc func(ctx context.Context, ws []windowlog.Window, valid func() bool) error

func (f emitFunc) Emit(ctx context.Context, ws []windowlog.Window, valid func() bool) error {
	return f(ctx, ws, valid)
}

// TestEmitLoop runs the loop on fakes and checks the calls it makes, in
// order, and what ends it.
func TestEmitLoop(t *testing.T) {
	errStop := errors.New("stop")
	errEmit := errors.New("emit")
	errMark := errors.New("mark")
	type hooks struct {
		refuse   bool  // bound refuses every write with errLeaseLost
		emit     error // Emit's error
		mark     error // emitted's error
		noWake   bool  // no wake func: wait only for windows and ctx
		notified bool  // the first wake closes the window at 140
	}
	for _, tc := range []struct {
		name    string
		emitted int64 // the replica's emitted watermark at the start
		hooks   hooks
		want    []string
		wantErr error
	}{
		{"a batch, then wake fails", 130, hooks{},
			[]string{"stamp 2", "bound", "emit 2", "emitted 2 130", "advance 130", "wake"}, errStop},
		{"nothing past from", 100, hooks{},
			[]string{"wake"}, errStop},
		{"the watermark moved with no window", 105, hooks{},
			[]string{"stamp 0", "bound", "emit 0", "emitted 0 105", "advance 105", "wake"}, errStop},
		{"bound refuses", 130, hooks{refuse: true},
			[]string{"stamp 2", "bound"}, errLeaseLost},
		{"emit fails", 130, hooks{emit: errEmit},
			[]string{"stamp 2", "bound", "emit 2"}, errEmit},
		{"mark fails", 130, hooks{mark: errMark},
			[]string{"stamp 2", "bound", "emit 2", "emitted 2 130"}, errMark},
		{"a window wakes it", 130, hooks{notified: true},
			[]string{"stamp 2", "bound", "emit 2", "emitted 2 130", "advance 130", "wake",
				"stamp 1", "bound", "emit 1", "emitted 1 140", "advance 140", "wake"}, errStop},
		{"no wake: ctx ends it", 130, hooks{noWake: true},
			[]string{"stamp 2", "bound", "emit 2", "emitted 2 130", "advance 130"}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRetained(100)
			var ws []windowlog.Window
			for _, w := range []windowlog.Window{win("a", 110, 120, "1"), win("b", 120, 130, "2")} {
				if w.CloseMs <= tc.emitted {
					ws = append(ws, w)
				}
			}
			r.Add(tc.emitted, ws)
			<-r.Notify()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var calls []string
			wakes := 0
			l := emitLoop{
				windows: r,
				emitter: emitFunc(func(_ context.Context, ws []windowlog.Window, valid func() bool) error {
					if !valid() {
						t.Error("valid said no")
					}
					for _, w := range ws {
						if w.Leader != "node" {
							t.Errorf("emitted %+v unstamped", w)
						}
					}
					calls = append(calls, fmt.Sprintf("emit %d", len(ws)))
					return tc.hooks.emit
				}),
				stamp: func(ws []windowlog.Window) {
					calls = append(calls, fmt.Sprintf("stamp %d", len(ws)))
					for i := range ws {
						ws[i].Leader = "node"
					}
				},
				bound: func(ctx context.Context, write func(context.Context) error) error {
					calls = append(calls, "bound")
					if tc.hooks.refuse {
						return errLeaseLost
					}
					return write(ctx)
				},
				valid: func() bool { return true },
				emitted: func(_ context.Context, ws []windowlog.Window, upto int64) error {
					calls = append(calls, fmt.Sprintf("emitted %d %d", len(ws), upto))
					return tc.hooks.mark
				},
				advance: func(upto int64) {
					calls = append(calls, fmt.Sprintf("advance %d", upto))
					if tc.hooks.noWake {
						cancel()
					}
				},
				wake: func() (time.Duration, error) {
					calls = append(calls, "wake")
					wakes++
					if tc.hooks.notified && wakes == 1 {
						r.Add(140, []windowlog.Window{win("a", 130, 140, "3")})
						return time.Hour, nil
					}
					return 0, errStop
				},
			}
			if tc.hooks.noWake {
				l.wake = nil
			}
			err := l.run(ctx, 100)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("run: got %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(calls, tc.want) {
				t.Errorf("calls:\ngot  %q\nwant %q", calls, tc.want)
			}
		})
	}
}

// TestEmitLoopTimer checks that the wake-up timer alone brings the loop
// round again when no window closes.
func TestEmitLoopTimer(t *testing.T) {
	r := NewRetained(100)
	errStop := errors.New("stop")
	wakes := 0
	l := emitLoop{
		windows: r,
		emitter: emitFunc(func(context.Context, []windowlog.Window, func() bool) error {
			t.Error("emitted with no window")
			return nil
		}),
		stamp:   func([]windowlog.Window) {},
		bound:   unbounded,
		valid:   func() bool { return true },
		advance: func(int64) {},
		wake: func() (time.Duration, error) {
			if wakes++; wakes == 3 {
				return 0, errStop
			}
			return time.Millisecond, nil
		},
	}
	if err := l.run(context.Background(), 100); !errors.Is(err, errStop) {
		t.Errorf("run: got %v, want %v", err, errStop)
	}
	if wakes != 3 {
		t.Errorf("got %d wake-ups, want 3", wakes)
	}
}
