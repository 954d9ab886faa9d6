package tailsampler

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tumblemetrics/tumble/flush/selection"
)

// Defaults of Options.
const (
	DefaultTTL       = 5 * time.Minute
	DefaultMaxTraces = 1_000_000
)

// The reasons Keep gives besides a selection's own (selection.Final,
// selection.Candidate).
const (
	ReasonNotSelected = "not selected"
	ReasonBadTraceID  = "malformed trace ID"
)

// Options configures a Decider.
type Options struct {
	// Candidates keeps the candidates of open windows too, not only the
	// final selections of closed ones.
	Candidates bool
	// TTL is how long a selected trace is remembered after its last
	// selection arrived; it must exceed the sampler's decision wait.
	// Zero means DefaultTTL.
	TTL time.Duration
	// MaxTraces bounds the traces remembered; past it the oldest are
	// forgotten first. Zero means DefaultMaxTraces.
	MaxTraces int
	// Now is the clock Observe stamps selections with; nil means
	// time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxTraces == 0 {
		o.MaxTraces = DefaultMaxTraces
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	switch {
	case o.TTL < 0:
		return fmt.Errorf("tailsampler options: TTL %s is negative", o.TTL)
	case o.MaxTraces < 0:
		return fmt.Errorf("tailsampler options: MaxTraces %d is negative", o.MaxTraces)
	}
	return nil
}

// Decider remembers the traces tumble selected and tells a tail sampler
// whether to keep a trace. It is safe for concurrent use: typically one
// goroutine calls Observe (Run's) while the sampler's call Keep.
//
// Invariant: byID and order hold the same entries, order from the least
// to the most recently observed, and there are at most MaxTraces of them.
type Decider struct {
	opts Options

	mu    sync.Mutex
	byID  map[string]*list.Element // of *entry, by lowercase trace ID
	order *list.List               // of *entry, oldest first
}

// entry is a remembered trace.
type entry struct {
	traceID string
	reason  string    // selection.Final or selection.Candidate
	seen    time.Time // when its last selection was observed
}

// NewDecider returns an empty Decider.
func NewDecider(opts Options) (*Decider, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Decider{opts: opts, byID: map[string]*list.Element{}, order: list.New()}, nil
}

// Candidates reports whether d keeps candidates: whether its feed should
// carry them.
func (d *Decider) Candidates() bool { return d.opts.Candidates }

// Observe remembers the traces of sels. A trace selected again is
// remembered for another TTL; once final, it stays final.
func (d *Decider) Observe(sels []selection.Selection) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now() // under the lock: order stays in the order of seen
	for i := range sels {
		s := &sels[i]
		if s.Reason != selection.Final && !(s.Reason == selection.Candidate && d.opts.Candidates) {
			continue
		}
		id := strings.ToLower(s.TraceID)
		if el, ok := d.byID[id]; ok {
			e := el.Value.(*entry)
			e.seen = now
			if s.Reason == selection.Final {
				e.reason = selection.Final
			}
			d.order.MoveToBack(el)
			continue
		}
		d.byID[id] = d.order.PushBack(&entry{traceID: id, reason: s.Reason, seen: now})
		if d.order.Len() > d.opts.MaxTraces {
			d.remove(d.order.Front())
		}
	}
	// Forget the expired traces, oldest first.
	for el := d.order.Front(); el != nil && d.expired(el.Value.(*entry), now); el = d.order.Front() {
		d.remove(el)
	}
}

// Keep reports whether the sampler should keep the trace traceID (hex, in
// either case) at now, when its decision wait has ended, and why:
// selection.Final or selection.Candidate when kept, ReasonNotSelected or
// ReasonBadTraceID when not.
func (d *Decider) Keep(traceID string, now time.Time) (keep bool, reason string) {
	id := strings.ToLower(traceID)
	if !selection.ValidTraceID(id) {
		return false, ReasonBadTraceID
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.byID[id]
	if !ok || d.expired(el.Value.(*entry), now) {
		return false, ReasonNotSelected
	}
	return true, el.Value.(*entry).reason
}

// Len returns the number of traces d remembers, expired ones included
// until Observe forgets them.
func (d *Decider) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

func (d *Decider) expired(e *entry, now time.Time) bool { return now.Sub(e.seen) >= d.opts.TTL }

// remove forgets the entry of el; d.mu is held.
func (d *Decider) remove(el *list.Element) {
	delete(d.byID, d.order.Remove(el).(*entry).traceID)
}
