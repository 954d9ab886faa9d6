package router

import (
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
	wm      int64
	stats   Stats
	snap    atomic.Pointer[Stats] // published by Run for other goroutines
}

// Output is a shard record to produce.
type Output struct {
	Partition int32
	Key       []byte
	Value     []byte
}

// New returns a Router for a shard topic of shards partitions.
func New(rs *rules.RuleSet, shards int, limits sample.Limits) (*Router, error) {
	if err := shard.Validate(shards); err != nil {
		return nil, err
	}
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	r := &Router{shards: shards, limits: limits, wm: math.MinInt64, stats: newStats()}
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

// Route appends to out the shard records of one raw record of topic: one
// per (sample, output series), keyed by the output series ID, in the
// partition of its shard. format is the record's, from its content-type
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
			out = append(out, Output{
				Partition: int32(shard.Of(t.ID, r.shards)),
				Key:       shard.Key(t),
				Value:     shard.AppendSample(nil, t, res.SeriesID, s),
			})
		}
		r.wm = max(r.wm, s.TimestampMs)
	}
	return out, nil
}
