// Package aggregator folds metric samples into tumbling windows and emits one
// point per window, output series, storage policy and aggregation.
//
// It is the deterministic core of tumble: no I/O, no clock, no goroutines.
// Event time comes with each sample; the watermark comes from the caller
// (in the server, from watermark records in the shard's Kafka partition; in
// replay, from the largest timestamp read so far). The same samples in the
// same order, with the same watermarks, give the same points byte for byte,
// which is what lets the replicas of a shard agree.
//
// # Windows
//
// A window of resolution res is [k·res, (k+1)·res) in milliseconds since the
// epoch. It closes when the watermark reaches its end plus the allowed
// lateness (Options.Lateness; by default one resolution, at most two
// minutes). A sample whose window has closed is dropped and counted in
// Stats.Late: never silently. Options.OnLate is told of each, with the
// sample's target, whose Rule names the rule to count it against.
//
// # Aggregations
//
// Last, Min, Max, Mean, Median, Count, Sum, SumSq, Stdev, P10 … P9999 (M3's
// set), Increase and Rate. Which apply depends on the type of the values:
// quantiles need a distribution (gauges, timers), Increase and Rate a counter,
// and sums of cumulative totals mean nothing (see Type.Supports). Percentiles
// follow the nearest-rank definition: the value at rank ceil(q·n) of the
// window's sorted samples. Up to Options.ExactLimit samples a window keeps
// them all and is exact; beyond, it records them in an HDR histogram and the
// answer is a real sample of the bucket that holds that rank, within the
// histogram's precision (1% with two significant figures).
//
// Every percentile point carries an exemplar: a real sample of the window (a
// trace ID, its value and timestamp). The exemplar of a percentile is the
// traced sample nearest in rank, with its own value and timestamp; the point
// keeps the percentile's value, so the two show how near the trace is. The
// samples of one value share the ranks they span: a traced sample of the
// value at the percentile's rank is at distance 0. Past the exact limit,
// ranks are those of histogram buckets, each bucket standing for one of its
// samples, a traced one if it saw any. On a tie the sample above the rank
// wins, then, among samples of one value (or bucket), a traced one, the
// earliest timestamp, the smallest trace ID: never the order of arrival, so
// the samples of a rollup that reach a shard through several raw
// partitions give the same exemplars in any order. Only a window without a
// traced sample gives an exemplar without a trace ID: a sample of the value
// (or bucket) at the rank. Min, Max and Last carry the sample that set
// them; Last is the latest timestamp, the larger value on a tie.
//
// Up to the exact limit every aggregation but Sum, Mean, SumSq and Stdev is
// free of the order of arrival, bit for bit (those four add floats, and
// agree to within rounding). Past it, a window's histogram is scaled by the
// smallest of the samples it held when it left exact mode, so its
// percentiles may differ within the histogram's precision with the order.
//
// # Output names
//
// A target with one aggregation keeps its metric name. With several,
// percentiles (and Median) add a label quantile="0.99" to the name, and the
// others take a suffix: _count, _sum, _min, _max, _mean, _last, _sum_sq,
// _stdev, _increase, _rate. See OutputName and OutputLabels.
//
// # Cumulative counters
//
// A cumulative sample's increase is measured from the previous sample of the
// same input series (a drop is a reset and counts from zero) and belongs to
// the window of the later sample. The first sample of an input series only
// sets the baseline (Stats.Baselines); an older sample than the last one adds
// nothing (Stats.OutOfOrder). Rate is Increase divided by the resolution in
// seconds.
//
// # Restarts
//
// Open windows are rebuilt after a restart by reading their samples again;
// what must be saved is the state that spans windows (see
// AppendInputState). It is saved in two parts: the input state at an input
// position S, and the output state (the emitted watermark, the post-rollup
// transforms) later, once every window open at S has been emitted. Restore
// both into a new aggregator and add the samples from S on again, with the
// same watermarks: samples of windows emitted before the output state was
// saved only update the input state, as they did the first time
// (Stats.Replayed), and every later window is emitted exactly as in the
// first run. Series come back with their state when a sample reaches them;
// a series that was forgotten and came back is told apart by when it was
// created. Lateness must stay below SeriesIdle so that a series with an open
// window is never forgotten.
//
// # Use
//
//	agg, err := aggregator.New(aggregator.Options{})
//	...
//	for each sample s and each target t that rules matched for it {
//	    agg.Add(t, s.SeriesID(), &s)
//	}
//	points = agg.Advance(watermarkMs, points[:0]) // the windows it closed
//	for _, p := range points {
//	    store(p.SeriesName(), p.SeriesLabels(), p.EndMs, p.Value, p.Exemplar)
//	}
//
// An Aggregator is owned by one goroutine; Targets are immutable and may be
// shared.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package aggregator
