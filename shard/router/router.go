package router

import (
	"bytes"
	"errors"
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

	decoder *sample.Decoder
	samples []sample.Sample
	results []rules.Result     // of samples, reused
	bad     []sample.BadSample // of the last record routed
	batches []shard.Batch      // per shard, of the raw record being routed
	// recordMax is the largest timestamp of the samples of the last raw
	// record routed, whether a rule kept them or not; shard.NoWatermark
	// when it had none.
	recordMax int64
	stats     Stats
	snap      atomic.Pointer[Stats] // published by Run for other goroutines
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
	r := &Router{shards: shards, limits: limits, recordMax: shard.NoWatermark, stats: newStats(), batches: make([]shard.Batch, shards),
		decoder: sample.NewDecoder(0)}
	r.rules.Store(rs)
	r.matcher.Store(rules.NewMatcher(rs, rules.MatcherOptions{Seed: r.decoder.Seed()}))
	return r, nil
}

// SetRules replaces the rules; the next Route uses them.
func (r *Router) SetRules(rs *rules.RuleSet) { r.rules.Store(rs) }

// RecordMax returns the largest timestamp of the samples of the last raw
// record routed (every sample that was not refused, whether a rule kept it
// or not), or shard.NoWatermark if it had none.
func (r *Router) RecordMax() int64 { return r.recordMax }

// Bad returns the samples of the last record Route routed that it set
// apart as invalid, in their order in the record; the slice is valid until
// the next Route.
func (r *Router) Bad() []sample.BadSample { return r.bad }

// RuleCounts appends the samples each rule of the current rules matched;
// any goroutine may call it.
func (r *Router) RuleCounts(dst []rules.RuleCount) []rules.RuleCount {
	return r.matcher.Load().RuleCounts(dst)
}

// Route appends to out the shard records of one raw record of topic: per
// shard that its samples go to, a samples record (more than one past
// maxOutputBytes) of every (sample, output series) of that shard, in the
// order of the raw record. format is the record's, from its content-type
// header (see sample.ParseFormat).
//
// A sample that does not decode, or that breaks a limit at nowMs (one
// further ahead of the router's clock than the limits' MaxFuture among
// them), is set apart, with its position and reason, and the others are
// routed: Bad returns them until the next Route. A record that cannot be
// split into samples at all yields no output and a *sample.DecodeError
// whose Code is the dead-letter reason.
func (r *Router) Route(topic string, value []byte, format sample.Format, nowMs int64, out []Output) ([]Output, error) {
	r.stats.Records++
	r.recordMax = shard.NoWatermark
	m := r.matcher.Load()
	if rs := r.rules.Load(); rs != m.RuleSet() {
		m = rules.NewMatcher(rs, rules.MatcherOptions{Seed: r.decoder.Seed()})
		r.matcher.Store(m)
	}
	var err error
	r.samples, r.bad, err = r.decoder.DecodeRecordSamples(value, format, r.samples[:0], r.bad[:0])
	if err != nil {
		var de *sample.DecodeError
		code := "unknown"
		if errors.As(err, &de) {
			code = de.Code()
		}
		r.stats.DeadLetters[code]++
		return out, err
	}
	r.samples, r.bad = r.limits.Filter(value, format, nowMs, r.samples, r.bad)
	for i := range r.bad {
		r.stats.DeadLetters[r.bad[i].Err.Code()]++
	}
	r.stats.SamplesIn[TopicFormat{topic, format.Of(value)}] += uint64(len(r.samples))
	if cap(r.results) < len(r.samples) {
		r.results = make([]rules.Result, len(r.samples))
	}
	results := r.results[:len(r.samples)]
	m.MatchBatch(r.samples, results)
	for i := range r.samples {
		s, res := &r.samples[i], &results[i]
		r.recordMax = max(r.recordMax, s.TimestampMs)
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
