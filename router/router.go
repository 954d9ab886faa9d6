package router

import (
	"bytes"
	"errors"
	"math"
	"sync/atomic"

	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
)

// Router is the deterministic core of a router: it turns the value of a raw
// record into shard records, or into the reason to dead-letter it. It is
// used by one goroutine; its rules are swapped with SetRules from any.
type Router struct {
	shards int
	limits sample.Limits

	rules   atomic.Pointer[rules.RuleSet]
	matcher atomic.Pointer[rules.Matcher] // replaced by the owner only

	samples []sample.Sample
	batches []shard.Batch // per shard, of the raw record being routed
	wm      int64
	stats   Stats
	snap    atomic.Pointer[Stats] // published by Run for other goroutines
}

// Output is a shard record to produce: a samples record for one shard.
type Output struct {
	Partition int32
	Value     []byte
	Samples   int // the samples it holds (one per sample and output series)
}

// maxOutputBytes is the size past which a shard's samples of one raw
// record go into more than one record, well below Kafka's default limit on
// a record batch (1 MiB).
const maxOutputBytes = 256 << 10

// New returns a Router for a shard topic of shards partitions.
func New(rs *rules.RuleSet, shards int, limits sample.Limits) (*Router, error) {
	if err := shard.Validate(shards); err != nil {
		return nil, err
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	r := &Router{shards: shards, limits: limits, wm: math.MinInt64, stats: newStats(), batches: make([]shard.Batch, shards)}
	r.rules.Store(rs)
	r.matcher.Store(rules.NewMatcher(rs, rules.MatcherOptions{}))
	return r, nil
}

// SetRules replaces the rules; the next Route uses them.
func (r *Router) SetRules(rs *rules.RuleSet) { r.rules.Store(rs) }

// Watermark returns the largest sample timestamp routed so far.
func (r *Router) Watermark() int64 { return r.wm }

// RuleCounts appends the samples each rule of the current rules matched;
// any goroutine may call it.
func (r *Router) RuleCounts(dst []rules.RuleCount) []rules.RuleCount {
	return r.matcher.Load().RuleCounts(dst)
}

// Route appends to out the shard records of one raw record of topic: per
// shard that its samples go to, a samples record (more than one past
// maxOutputBytes) of every (sample, output series) of that shard, in the
// order of the raw record. format is the record's, from its content-type
// header (see sample.ParseFormat). A record that does not decode, or whose
// samples break a limit at nowMs, yields no output and a
// *sample.DecodeError whose Code is the dead-letter reason.
func (r *Router) Route(topic string, value []byte, format sample.Format, nowMs int64, out []Output) ([]Output, error) {
	r.stats.Records++
	m := r.matcher.Load()
	if rs := r.rules.Load(); rs != m.RuleSet() {
		m = rules.NewMatcher(rs, rules.MatcherOptions{})
		r.matcher.Store(m)
	}
	var err error
	r.samples, err = sample.DecodeRecord(value, format, r.samples[:0])
	if err == nil {
		err = r.limits.CheckAll(r.samples, nowMs)
	}
	if err != nil {
		var de *sample.DecodeError
		code := "unknown"
		if errors.As(err, &de) {
			code = de.Code()
		}
		r.stats.DeadLetters[code]++
		return out, err
	}
	r.stats.SamplesIn[TopicFormat{topic, format.Of(value)}] += uint64(len(r.samples))
	for i := range r.samples {
		s := &r.samples[i]
		res := m.Match(s)
		if len(res.Targets) == 0 {
			r.stats.Dropped++
			continue
		}
		for _, t := range res.Targets {
			p := shard.Of(t.ID, r.shards)
			b := &r.batches[p]
			b.Add(t, res.SeriesID, s)
			if b.Size() >= maxOutputBytes {
				out = r.output(out, p)
			}
		}
		r.wm = max(r.wm, s.TimestampMs)
	}
	for p := range r.batches {
		if r.batches[p].Len() > 0 {
			out = r.output(out, p)
		}
	}
	return out, nil
}

// output appends shard p's batch to out as a record, and empties it.
func (r *Router) output(out []Output, p int) []Output {
	b := &r.batches[p]
	out = append(out, Output{Partition: int32(p), Value: bytes.Clone(b.Bytes()), Samples: b.Len()})
	b.Reset()
	return out
}
