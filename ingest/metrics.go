package ingest

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the gateways of a node took in.
type Metrics struct {
	requests *prometheus.CounterVec
	samples  *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// NewMetrics registers the gateways' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumble_ingest_requests_total",
			Help: "Requests the ingest gateways answered, by gateway and HTTP status code.",
		}, []string{"gateway", "code"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumble_ingest_samples_total",
			Help: "Samples the ingest gateways took in, by gateway and outcome: written to the raw topic, refused (to the dead-letter topic), or failed (Kafka did not take them; the client may send them again).",
		}, []string{"gateway", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumble_ingest_refused_samples_total",
			Help: "Samples the ingest gateways refused, by gateway and reason.",
		}, []string{"gateway", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.samples, m.refused)
	}
	return m
}

// Observe counts a request of gateway answered with code, which wrote
// written samples (or failed to: !ok) and refused the others.
func (m *Metrics) Observe(gateway string, code int, written int, ok bool, refused []Refused) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(gateway, strconv.Itoa(code)).Inc()
	outcome := "written"
	if !ok {
		outcome = "failed"
	}
	if written > 0 {
		m.samples.WithLabelValues(gateway, outcome).Add(float64(written))
	}
	if len(refused) > 0 && ok {
		m.samples.WithLabelValues(gateway, "refused").Add(float64(len(refused)))
		for i := range refused {
			m.refused.WithLabelValues(gateway, refused[i].Reason).Inc()
		}
	}
}
