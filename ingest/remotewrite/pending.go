package remotewrite

import (
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/tumblemetrics/tumble/sample"
)

const (
	// maxPending bounds the series whose exemplar waits for a sample.
	maxPending = 1 << 16
	// maxExemplarWait is how far in time an exemplar may be from the
	// sample that takes its trace.
	maxExemplarWait = 60_000 // ms
)

// pendingTraces holds, per series, the trace of the last exemplar that
// came without a sample of its series, until one comes. Any goroutine may
// use it.
type pendingTraces struct {
	mu sync.Mutex
	m  map[uint64]pendingTrace
}

type pendingTrace struct {
	trace sample.TraceID
	ms    int64
}

func newPendingTraces() *pendingTraces { return &pendingTraces{m: map[uint64]pendingTrace{}} }

// put keeps the trace of series' exemplar at ms; when full, it forgets
// one it holds.
func (p *pendingTraces) put(series string, trace sample.TraceID, ms int64) {
	k := xxhash.Sum64String(series)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[k]; !ok && len(p.m) >= maxPending {
		for old := range p.m {
			delete(p.m, old)
			break
		}
	}
	p.m[k] = pendingTrace{trace, ms}
}

// attach gives the trace waiting for series, if any, to the sample of ss
// nearest to it in time, if near enough.
func (p *pendingTraces) attach(series string, ss []sample.Sample) {
	p.mu.Lock()
	if len(p.m) == 0 {
		p.mu.Unlock()
		return
	}
	k := xxhash.Sum64String(series)
	pt, ok := p.m[k]
	if ok {
		delete(p.m, k)
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
