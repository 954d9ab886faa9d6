package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tumblemetrics/tumble/sample"
)

// Config shapes the generated fleet. The zero value asks for the defaults.
type Config struct {
	Seed uint64
	// Services is the number of services (default 4, at most 12).
	Services int
	// PodsPerService (default 3).
	PodsPerService int
	// RequestsPerPod is the mean number of requests a pod serves per tick
	// (default 20); each is one timer sample.
	RequestsPerPod int
	// StartMs is the event time of the first tick (default 1763800000000).
	StartMs int64
	// TickMs is the event time between ticks (default 1000).
	TickMs int64
	// UntracedPercent of requests carry no trace ID (default 10).
	UntracedPercent int
	// CounterExemplars gives each request count (http_requests_total)
	// the trace of the last traced request it counted in its tick, as a
	// Prometheus client library's counter exemplar does; otherwise only
	// the timer samples carry traces.
	CounterExemplars bool
}

func (c Config) withDefaults() Config {
	if c.Services <= 0 {
		c.Services = 4
	}
	c.Services = min(c.Services, len(serviceNames))
	if c.PodsPerService <= 0 {
		c.PodsPerService = 3
	}
	if c.RequestsPerPod <= 0 {
		c.RequestsPerPod = 20
	}
	if c.StartMs == 0 {
		c.StartMs = 1763800000000
	}
	if c.TickMs <= 0 {
		c.TickMs = 1000
	}
	if c.UntracedPercent == 0 {
		c.UntracedPercent = 10
	}
	return c
}

var serviceNames = []string{"checkout", "cart", "search", "auth", "catalog", "payments", "shipping", "reviews", "ads", "email", "profile", "inventory"}

var routeNames = []string{"/", "/list", "/get", "/create", "/update", "/pay", "/login", "/query"}

// statuses and their weights out of 1000.
var statuses = []struct {
	code   string
	weight int
}{{"200", 955}, {"201", 20}, {"404", 15}, {"500", 7}, {"503", 3}}

// route is one endpoint with its latency shape: log-normal around median
// seconds, with rare slow outliers.
type route struct {
	name   string
	median float64
	sigma  float64
}

// pod is one instance of a service, with its counters.
type pod struct {
	service string
	name    string
	routes  []route
	labels  map[string]sample.Labels  // per route/status, built once
	totals  map[string]float64        // cumulative request counts per route/status
	traces  map[string]sample.TraceID // the last traced request per route/status this tick, with CounterExemplars
	memory  float64
}

// Generator makes ticks of samples. It is not safe for concurrent use.
type Generator struct {
	cfg  Config
	r    *rand.Rand
	pods []*pod
	now  int64
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 0x70b1e)), now: cfg.StartMs}
	for s := range cfg.Services {
		svc := serviceNames[s]
		var routes []route
		for i, name := range routeNames[:3+s%4] {
			routes = append(routes, route{name: name, median: 0.004 * float64(1+(s*3+i)%9), sigma: 0.35 + 0.1*float64(i%3)})
		}
		for p := range cfg.PodsPerService {
			g.pods = append(g.pods, &pod{
				service: svc, name: fmt.Sprintf("%s-%x", svc, 0x7f9c0+p),
				routes: routes, labels: map[string]sample.Labels{}, totals: map[string]float64{}, traces: map[string]sample.TraceID{},
				memory: 2e8 + 1e7*float64(p),
			})
		}
	}
	return g
}

// Tick appends one tick of samples to dst and returns it: per pod, one timer
// sample per request (http_request_duration_seconds), the cumulative request
// counts (http_requests_total, with CounterExemplars the trace of a request
// they counted), a memory gauge and a debug gauge.
func (g *Generator) Tick(dst []sample.Sample) []sample.Sample {
	start := g.now
	g.now += g.cfg.TickMs
	for _, p := range g.pods {
		n := g.r.IntN(2*g.cfg.RequestsPerPod + 1)
		for range n {
			rt := p.routes[g.r.IntN(len(p.routes))]
			status := g.status()
			v := rt.median * math.Exp(rt.sigma*g.r.NormFloat64())
			if g.r.IntN(200) == 0 { // a slow outlier: a lock, a retry, a cold cache
				v *= 5 + 10*g.r.Float64()
			}
			s := sample.Sample{
				Name: "http_request_duration_seconds", Labels: p.seriesLabels(rt.name, status),
				Type: sample.Timer, Value: math.Round(v*1e6) / 1e6,
				TimestampMs: start + g.r.Int64N(g.cfg.TickMs),
			}
			if g.r.IntN(100) >= g.cfg.UntracedPercent {
				g.fillTrace(&s.TraceID)
			}
			dst = append(dst, s)
			key := rt.name + " " + status
			p.totals[key]++
			if g.cfg.CounterExemplars && !s.TraceID.IsZero() {
				p.traces[key] = s.TraceID
			}
		}
		ts := start + g.cfg.TickMs - 1
		for _, rt := range p.routes {
			for _, st := range statuses {
				key := rt.name + " " + st.code
				if total, ok := p.totals[key]; ok {
					dst = append(dst, sample.Sample{
						Name: "http_requests_total", Labels: p.seriesLabels(rt.name, st.code),
						Type: sample.Cumulative, Value: total, TimestampMs: ts, TraceID: p.traces[key],
					})
				}
			}
		}
		clear(p.traces)
		p.memory += 1e5 * g.r.NormFloat64()
		dst = append(dst,
			sample.Sample{Name: "process_resident_memory_bytes", Labels: p.podLabels(), Type: sample.Gauge, Value: math.Round(p.memory), TimestampMs: ts},
			sample.Sample{Name: "debug_goroutines", Labels: p.podLabels(), Type: sample.Gauge, Value: float64(40 + g.r.IntN(20)), TimestampMs: ts},
		)
	}
	return dst
}

// NowMs returns the event time of the next tick.
func (g *Generator) NowMs() int64 { return g.now }

func (g *Generator) status() string {
	n := g.r.IntN(1000)
	for _, s := range statuses {
		if n < s.weight {
			return s.code
		}
		n -= s.weight
	}
	return statuses[0].code
}

func (g *Generator) fillTrace(t *sample.TraceID) {
	for t.IsZero() {
		a, b := g.r.Uint64(), g.r.Uint64()
		for i := range 8 {
			t[i], t[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
		}
	}
}

func (p *pod) seriesLabels(route, status string) sample.Labels {
	key := route + " " + status
	ls, ok := p.labels[key]
	if !ok {
		ls = sample.Labels{{Name: "pod", Value: p.name}, {Name: "route", Value: route}, {Name: "service", Value: p.service}, {Name: "status", Value: status}}
		p.labels[key] = ls
	}
	return ls
}

func (p *pod) podLabels() sample.Labels {
	return sample.Labels{{Name: "pod", Value: p.name}, {Name: "service", Value: p.service}}
}
