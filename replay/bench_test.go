package replay

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// benchRules is the benchmark's rule file: timers rolled up by two labels
// with four percentiles, count and sum.
const benchRules = `
rollupRules:
  - name: latency by service and route
    filter: __name__:http_request_duration_seconds
    transforms:
      - rollup:
          metricName: http_request_duration_seconds_by_route
          groupBy: [service, route]
          aggregations: [P50, P90, P99, P999, Count, Sum]
    storagePolicies:
      - resolution: 10s
        retention: 2d
`

// BenchmarkMatchAndAggregate measures one core's throughput through rule
// matching and aggregation, as a shard and the router do it between them:
// 100k input timer series (20 services × 50 routes × 100 pods), ten samples
// each per 10s window, rolled up by service and route into 1,000 series.
// Samples arrive interleaved across series, as they do from Kafka.
func BenchmarkMatchAndAggregate(b *testing.B) {
	const services, routes, pods, perWindow = 20, 50, 100, 10
	rs, err := rules.Parse("bench.yaml", []byte(benchRules))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	// Label values come from small tables, and each sample's labels are
	// assembled in one reused buffer, as a decoder leaves them: in cache.
	// What misses the cache is what would in a shard: the match cache and
	// the aggregation state of 100k series.
	var svcNames, routeNames, podNames []string
	for s := range services {
		svcNames = append(svcNames, fmt.Sprintf("svc%d", s))
		for p := range pods {
			podNames = append(podNames, fmt.Sprintf("svc%d-%05x", s, p))
		}
	}
	for rt := range routes {
		routeNames = append(routeNames, fmt.Sprintf("/route/%d", rt))
	}
	type input struct {
		svc, route, pod int32
		v               float64
	}
	series := make([]input, 0, services*routes*pods)
	for s := range services {
		for rt := range routes {
			for p := range pods {
				series = append(series, input{svc: int32(s), route: int32(rt), pod: int32(s*pods + p)})
			}
		}
	}
	r.Shuffle(len(series), func(i, j int) { series[i], series[j] = series[j], series[i] })
	// interleaved: each series' ten samples are spread over the window, the
	// worst case for caches. grouped: as a pod's producer batches them, the
	// ten samples of a series come together, the series in random order.
	// series-batched: grouped, and decoded from a format that carries a
	// series once with its samples (remote-write, the native batch), so
	// that they share one Labels.
	interleaved := make([]input, len(series)*perWindow)
	grouped := make([]input, len(series)*perWindow)
	for i := range interleaved {
		interleaved[i] = series[i%len(series)]
		interleaved[i].v = math.Round(math.Exp(r.NormFloat64()-3)*1e6) / 1e6
		grouped[i] = series[i/perWindow]
		grouped[i].v = interleaved[i].v
	}
	fill := func(s *sample.Sample, ls *[3]sample.Label, in *input, i int) {
		ls[0] = sample.Label{Name: "pod", Value: podNames[in.pod]}
		ls[1] = sample.Label{Name: "route", Value: routeNames[in.route]}
		ls[2] = sample.Label{Name: "service", Value: svcNames[in.svc]}
		*s = sample.Sample{
			Name: "http_request_duration_seconds", Labels: ls[:], Type: sample.Timer,
			Value: in.v, TraceID: sample.TraceID{byte(i), byte(i >> 8), 1},
		}
	}
	for _, c := range []struct {
		order  string
		inputs []input
		limit  int
		batch  int
		shared bool // a series' samples in a batch share one Labels, as a batch decoder gives them
	}{
		{"interleaved", interleaved, 256, 64, false},
		{"interleaved", interleaved, aggregator.DefaultExactLimit, 1, false},
		{"interleaved", interleaved, aggregator.DefaultExactLimit, 64, false},
		{"grouped", grouped, aggregator.DefaultExactLimit, 64, false},
		{"series-batched", grouped, aggregator.DefaultExactLimit, 64, true},
	} {
		inputs, limit, batch, shared := c.inputs, c.limit, c.batch, c.shared
		{
			b.Run(fmt.Sprintf("%s/exact-limit=%d/batch=%d", c.order, limit, batch), func(b *testing.B) {
				m := rules.NewMatcher(rs, rules.MatcherOptions{})
				agg, err := aggregator.New(aggregator.Options{ExactLimit: limit})
				if err != nil {
					b.Fatal(err)
				}
				var points []aggregator.Point
				// Warm the match cache: in steady state every series was
				// seen in an earlier window.
				ss := make([]sample.Sample, batch)
				ls := make([][3]sample.Label, batch)
				res := make([]rules.Result, batch)
				for j := range series {
					fill(&ss[0], &ls[0], &series[j], j)
					m.Match(&ss[0])
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					n := min(batch, b.N-i)
					for k := range n {
						j := (i + k) % len(inputs)
						fill(&ss[k], &ls[k], &inputs[j], i+k)
						if shared && k > 0 && j > 0 && inputs[j].pod == inputs[j-1].pod && inputs[j].route == inputs[j-1].route {
							ss[k].Labels = ss[k-1].Labels // one series of a decoded batch
						}
						ss[k].TimestampMs = int64((i+k)/len(inputs))*10_000 + int64(j%10_000)
					}
					m.MatchBatch(ss[:n], res[:n])
					for k := range n {
						for _, t := range res[k].Targets {
							agg.Add(t, res[k].SeriesID, &ss[k])
						}
						if j := (i + k) % len(inputs); j == len(inputs)-1 {
							points = agg.Advance(ss[k].TimestampMs-int64(j%10_000)+10_000, points[:0])
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}
