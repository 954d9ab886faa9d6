package remotewrite

import (
	"sync"
	"sync/atomic"

	"github.com/tumblemetrics/tumble/sample"
)

const (
	// maxPending bounds the series whose exemplar waits for a sample.
	maxPending = 1 << 16
	// maxExemplarWait is how far in time an exemplar may be from the
	// sample that takes its trace.
	maxExemplarWait = 60_000 // ms
)

// pendingTraces holds, per series (by seriesKey), the trace of the last
// exemplar that came without a sample of its series, until one comes. Any
// goroutine may use it.
type pendingTraces struct {
	mu sync.Mutex
	m  map[uint64]pendingTrace
	n  atomic.Int64 // len(m), for waiting to read without mu
}

type pendingTrace struct {
	trace sample.TraceID
	ms    int64
}

func newPendingTraces() *pendingTraces { return &pendingTraces{m: map[uint64]pendingTrace{}} }

// waiting reports whether a trace may wait for a sample: if not, attach
// has nothing to give.
func (p *pendingTraces) waiting() bool { return p.n.Load() > 0 }

// put keeps the trace of the exemplar at ms of the series whose key is k;
// when full, it forgets one it holds.
func (p *pendingTraces) put(k uint64, trace sample.TraceID, ms int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[k]; !ok && len(p.m) >= maxPending {
		for old := range p.m {
			delete(p.m, old)
			break
		}
	}
	p.m[k] = pendingTrace{trace, ms}
	p.n.Store(int64(len(p.m)))
}

// attach gives the trace waiting for the series whose key is k, if any,
// to the sample of ss nearest to it in time, if near enough.
func (p *pendingTraces) attach(k uint64, ss []sample.Sample) {
	p.mu.Lock()
	pt, ok := p.m[k]
	if ok {
		delete(p.m, k)
		p.n.Store(int64(len(p.m)))
	}
	p.mu.Unlock()
	if !ok {
		return
	}
	best := -1
	var bestDist uint64
	for i := range ss {
		if d := absDiff(ss[i].TimestampMs, pt.ms); ss[i].TraceID.IsZero() && (best < 0 || d < bestDist) {
			best, bestDist = i, d
		}
	}
	if best >= 0 && bestDist <= maxExemplarWait {
		ss[best].TraceID = pt.trace
	}
}
