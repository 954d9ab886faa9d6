package node

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tumblemetrics/tumble/shard"
)

// metrics is the node's self-monitoring: a collector that reads, at
// scrape time, the counters the router, the replicas and the storages
// publish.
type metrics struct {
	n             *Node
	routerBatches atomic.Uint64
	routerRecords atomic.Uint64

	records, dropped, dead                *prometheus.Desc
	samplesIn, recordsOut, samplesOut     *prometheus.Desc
	routerLag, routerWM                   *prometheus.Desc
	shardRecords, shardSamples, malformed *prometheus.Desc
	late, points, flushes, watermark      *prometheus.Desc
	active, storageBytes, storagePoints   *prometheus.Desc
	batches, lag, ruleMatches             *prometheus.Desc
	checkpoints, replayed                 *prometheus.Desc
	leading, retained                     *prometheus.Desc
	rawRecreated, rawLost, gaps, gapLost  *prometheus.Desc
	flushSeconds                          *prometheus.HistogramVec
	candidates, lateDeadLetters           *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, n *Node) *metrics {
	d := func(name, help string, ls ...string) *prometheus.Desc {
		return prometheus.NewDesc("tumble_"+name, help, ls, nil)
	}
	m := &metrics{
		n:             n,
		records:       d("router_records_total", "Raw records the router read."),
		samplesIn:     d("router_samples_in_total", "Samples decoded from the raw records the router routed (not from those it dead-lettered), by raw topic and the format the records decoded as.", "topic", "format"),
		dropped:       d("router_samples_dropped_total", "Samples no rule kept."),
		recordsOut:    d("router_records_out_total", "Records the router wrote in committed transactions, by topic: shard records and watermarks to the shard topic, dead letters to the dead-letter topic.", "topic"),
		samplesOut:    d("router_samples_out_total", "Samples (one per sample and output series) in the shard records the router wrote in committed transactions, by topic.", "topic"),
		dead:          d("router_dead_letters_total", "Dead letters written, by reason: each refused sample alone, or a raw record that could not be split into samples.", "reason"),
		rawRecreated:  d("router_raw_partitions_recreated_total", "Raw partitions assigned whose committed offset was past their end: the topic was recreated or truncated; read again from the start."),
		rawLost:       d("router_raw_records_lost_total", "Records of raw partitions deleted (retention) before a router read them."),
		gaps:          d("replica_offset_gaps_total", "Times a replica's shard partition started past the offset it was to read: records deleted before it read them.", "shard"),
		gapLost:       d("replica_records_lost_total", "Shard records deleted before the replica read them.", "shard"),
		routerLag:     d("router_consumer_lag_records", "Records of a raw-topic partition the router owns not consumed yet: the high watermark of the last fetch less the next offset to consume.", "topic", "partition"),
		routerWM:      d("router_partition_watermark_seconds", "Event-time watermark of a raw-topic partition the router owns, as its last committed transaction told the replicas; absent until the router knows one.", "topic", "partition"),
		batches:       d("router_transactions_total", "Router transactions committed."),
		shardRecords:  d("replica_records_total", "Shard records a replica applied.", "shard"),
		shardSamples:  d("replica_samples_total", "Sample records a replica applied.", "shard"),
		malformed:     d("replica_malformed_records_total", "Shard records that did not decode, skipped.", "shard"),
		late:          d("replica_late_samples_total", "Samples dropped as late, per policy, by the rule of their output series (empty for records of routers that name no rule) and the reason: window_closed, the window had closed when the sample came. A shard's total is the sum over rule and reason.", "shard", "rule", "reason"),
		points:        d("replica_points_stored_total", "Points of closed windows stored.", "shard"),
		flushes:       d("replica_flushes_total", "Flushes of closed windows into storage.", "shard"),
		watermark:     d("replica_watermark_seconds", "The shard's event-time watermark.", "shard"),
		active:        d("replica_active_series", "Output series with open windows.", "shard"),
		storageBytes:  d("storage_chunk_bytes", "Encoded chunk bytes, head and blocks.", "shard", "policy"),
		storagePoints: d("storage_points", "Points stored, head and blocks.", "shard", "policy"),
		lag:           d("replica_consumer_lag_records", "Records of the shard partition not read yet.", "shard"),
		checkpoints:   d("replica_checkpoints_total", "Checkpoints of the state that spans windows written (a restart reads again from the last).", "shard"),
		replayed:      d("replica_replayed_samples_total", "Samples read again after a restart whose window was stored before it, per policy: they only move the state that spans windows.", "shard"),
		leading:       d("shard_leading", "1 while this node's replica of the shard leads it (emits its windows and advances its watermark), else 0.", "shard"),
		retained:      d("shard_retained_windows", "Windows this node's replica closed that the shard's output may not hold yet, kept for a takeover.", "shard"),
		ruleMatches:   d("rule_matches_total", "Samples each rule matched (since the rules were loaded), by list, position and name.", "list", "index", "rule"),
		flushSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tumble_replica_flush_seconds",
			Help:    "Time to write a flush of closed windows (WAL fsync included) into a shard's storage.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"shard"}),
		candidates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumble_selection_candidates_total",
			Help: "Candidates of trace selection the node's leading replicas offered, by what became of them: written to the selections topic, or dropped (the producer's buffer was full, or the write failed).",
		}, []string{"result"}),
	}
	m.lateDeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tumble_late_dead_letters_total",
		Help: "Late samples the node's leading replicas sent to the dead-letter topic (eventTime.deadLetterLate), by what became of them: written, or dropped (the producer's buffer was full, or the write failed).",
	}, []string{"result"})
	reg.MustRegister(m, m.flushSeconds, m.candidates, m.lateDeadLetters)
	return m
}

func (m *metrics) routerBatch(records int) {
	m.routerBatches.Add(1)
	m.routerRecords.Add(uint64(records))
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.records, m.samplesIn, m.dropped, m.recordsOut, m.samplesOut, m.dead, m.routerLag, m.routerWM, m.batches,
		m.shardRecords, m.shardSamples, m.malformed, m.late, m.points, m.flushes, m.watermark, m.active,
		m.storageBytes, m.storagePoints, m.lag, m.ruleMatches, m.checkpoints, m.replayed, m.leading, m.retained,
		m.rawRecreated, m.rawLost, m.gaps, m.gapLost} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	c := func(d *prometheus.Desc, v float64, ls ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, ls...)
	}
	g := func(d *prometheus.Desc, v float64, ls ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, ls...)
	}
	rs := m.n.router.Published()
	c(m.records, float64(rs.Records))
	c(m.dropped, float64(rs.Dropped))
	c(m.batches, float64(m.routerBatches.Load()))
	c(m.rawRecreated, float64(rs.RawRecreated))
	c(m.rawLost, float64(rs.RawRecordsLost))
	for reason, n := range rs.DeadLetters {
		c(m.dead, float64(n), reason)
	}
	for tf, n := range rs.SamplesIn {
		c(m.samplesIn, float64(n), tf.Topic, tf.Format.String())
	}
	for topic, n := range rs.RecordsOut {
		c(m.recordsOut, float64(n), topic)
	}
	for topic, n := range rs.SamplesOut {
		c(m.samplesOut, float64(n), topic)
	}
	for tp, n := range rs.Lag {
		g(m.routerLag, float64(n), tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
	for tp, wm := range rs.Watermarks {
		if wm != shard.NoWatermark {
			g(m.routerWM, float64(wm)/1000, tp.Topic, strconv.Itoa(int(tp.Partition)))
		}
	}
	for _, rc := range m.n.router.RuleCounts(nil) {
		c(m.ruleMatches, float64(rc.Samples), rc.Rule.List.String(), strconv.Itoa(rc.Rule.Index), rc.Rule.Name)
	}
	for _, r := range m.n.replicas() {
		sh := strconv.Itoa(int(r.id))
		st := r.rep.Published()
		c(m.shardRecords, float64(st.Records), sh)
		c(m.shardSamples, float64(st.Samples), sh)
		c(m.malformed, float64(st.Malformed), sh)
		c(m.gaps, float64(st.Gaps), sh)
		c(m.gapLost, float64(st.GapRecords), sh)
		for k, n := range st.Late {
			c(m.late, float64(n), sh, k.Rule, k.Reason.String())
		}
		c(m.points, float64(st.Points), sh)
		c(m.flushes, float64(st.Flushes), sh)
		if st.Watermark > 0 {
			g(m.watermark, float64(st.Watermark)/1000, sh)
		}
		g(m.active, float64(st.ActiveSeries), sh)
		g(m.lag, float64(st.Lag), sh)
		c(m.checkpoints, float64(st.Checkpoints), sh)
		c(m.replayed, float64(st.Aggregator.Replayed), sh)
		for _, ps := range r.db.Stats() {
			g(m.storageBytes, float64(ps.HeadBytes+ps.BlockBytes), sh, ps.Policy)
			g(m.storagePoints, float64(ps.HeadPoints+ps.BlockPoints), sh, ps.Policy)
		}
		if r.lead != nil {
			ld := r.lead.Status()
			leading := 0.0
			if ld.Leading {
				leading = 1
			}
			g(m.leading, leading, sh)
			g(m.retained, float64(ld.Retained), sh)
		}
	}
}

// onFlush returns the replica option that observes shard's flush latency.
func (m *metrics) onFlush(shard int32) func(time.Duration, int) {
	h := m.flushSeconds.WithLabelValues(strconv.Itoa(int(shard)))
	return func(d time.Duration, _ int) { h.Observe(d.Seconds()) }
}
