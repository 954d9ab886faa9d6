package leader

import (
	"sync"
	"time"
)

// Lease is what a node knows of its etcd lease without asking etcd: etcd
// keeps the lease at least until the moment the last answered keep-alive
// request was sent plus the TTL etcd granted with the answer. A leader
// writes only while Valid, which ends Margin before that moment (for clock
// drift and the time a write takes), so it stops before etcd can let a new
// leader in. It may be used by any goroutine.
type Lease struct {
	margin time.Duration
	now    func() time.Time

	mu    sync.Mutex
	until time.Time
}

// NewLease returns a lease that is not valid until its first renewal.
func NewLease(margin time.Duration, now func() time.Time) *Lease {
	if now == nil {
		now = time.Now
	}
	return &Lease{margin: margin, now: now}
}

// Renewed records that etcd answered a keep-alive request sent at sent with
// a TTL of ttl.
func (l *Lease) Renewed(sent time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := sent.Add(ttl - l.margin); u.After(l.until) {
		l.until = u
	}
}

// Expire ends the lease now (etcd said it is gone).
func (l *Lease) Expire() {
	l.mu.Lock()
	l.until = time.Time{}
	l.mu.Unlock()
}

// Valid reports whether the lease is certainly alive now, with the margin.
func (l *Lease) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now().Before(l.until)
}

// Until returns when the lease stops being valid, as of the last renewal.
func (l *Lease) Until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}
