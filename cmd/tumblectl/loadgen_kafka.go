package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
)

// recordSamples is the most samples one produced record holds.
const recordSamples = 500

// The generated fleet, as loadgen.New builds it: service i (of at most
// maxServices) has 3+i%4 routes, and every tick each of its pods sends a
// latency timer per request, a request counter per route and status it has
// answered with so far (of fleetStatuses), and two gauges. Once every route
// has answered with every status, which takes a few ticks at hundreds of
// requests per pod and tick, a pod of service i sends 2×5×routes+2 series.
const (
	maxServices     = 12
	fleetStatuses   = 5
	defaultServices = 4
	defaultPods     = 3
)

func serviceRoutes(i int) int { return 3 + i%4 }

// fleetSeries returns the series that services services of pods pods each
// send once every route has answered with every status.
func fleetSeries(services, pods int) int {
	n := 0
	for i := range services {
		n += 2*fleetStatuses*serviceRoutes(i) + 2
	}
	return n * pods
}

// fleetForSeries returns the fleet for about n series: the most services
// whose fleetSeries, with a whole number of pods per service, is within 5%
// of n, or else the fleet nearest n.
func fleetForSeries(n int) (services, pods int) {
	best := -1
	for s := maxServices; s >= 1; s-- {
		per := fleetSeries(s, 1)
		p := max(1, (n+per/2)/per)
		d := p*per - n
		if d < 0 {
			d = -d
		}
		if 20*d <= n {
			return s, p
		}
		if best < 0 || d < best {
			best, services, pods = d, s, p
		}
	}
	return services, pods
}

// fleetPace returns the mean requests per pod and tick, and the tick, with
// which the fleet sends about rate samples a second: one-second ticks whose
// timers (a sample per request) make up what the counters and gauges leave
// of rate; or, when the counters and gauges alone send more than rate, a
// request per pod and tick and a tick long enough to bring the fleet down to
// rate.
func fleetPace(services, pods, rate int) (requests int, tick time.Duration) {
	perTick := 0 // counters and gauges
	for i := range services {
		perTick += fleetStatuses*serviceRoutes(i) + 2
	}
	perTick *= pods
	all := services * pods
	if rate >= perTick+all {
		return (rate - perTick + all/2) / all, time.Second
	}
	tick = time.Duration(float64(time.Second) * float64(perTick+all) / float64(rate))
	return 1, tick.Round(time.Millisecond)
}

// kafkaLoadFlags are the flags of `tumblectl loadgen --brokers`.
type kafkaLoadFlags struct {
	brokers  string
	topic    string
	rate     int
	series   int
	format   string
	duration time.Duration
}

// kafkaOnlyFlags are read with --brokers only, fileOnlyFlags without it only.
var (
	kafkaOnlyFlags = []string{"topic", "rate", "series", "format", "duration"}
	fileOnlyFlags  = []string{"output", "bad-every", "requests"}
)

func addKafkaLoadFlags(fs *flag.FlagSet) *kafkaLoadFlags {
	k := &kafkaLoadFlags{}
	fs.StringVar(&k.brokers, "brokers", "", "produce to Kafka, HOST:PORT[,...], instead of writing --output, until --ticks, --duration or "+
		"an interrupt; records are keyed by their samples' pod label, so that each series' samples stay in order on one partition "+
		"(cumulative counters need it)")
	fs.StringVar(&k.topic, "topic", "tumble-raw", "with --brokers, the topic to produce to")
	fs.IntVar(&k.rate, "rate", 10000, "with --brokers, samples per second, approximately: ticks are paced by the wall clock, "+
		"which gives the event times, and it sets the requests per pod")
	fs.IntVar(&k.series, "series", 0, "with --brokers, about how many series to send: the most --services (at most 12) that, with "+
		"a whole number of --pods, come within 5% of it (default: from those flags, 564 series for 4 services of 3 pods)")
	fs.StringVar(&k.format, "format", "proto", "with --brokers, the records' format: proto (protobuf batches) or json (JSON lines), "+
		"up to 500 samples a record")
	fs.DurationVar(&k.duration, "duration", 0, "with --brokers, how long to produce (default: until --ticks or an interrupt)")
	return k
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// checkUnused refuses the flags that only --brokers reads.
func (k *kafkaLoadFlags) checkUnused(fs *flag.FlagSet) error {
	set := setFlags(fs)
	for _, name := range kafkaOnlyFlags {
		if set[name] {
			return fmt.Errorf("loadgen: --%s needs --brokers", name)
		}
	}
	return nil
}

// kafkaLoad is one run of `tumblectl loadgen --brokers`.
type kafkaLoad struct {
	brokers  []string
	topic    string
	format   sample.Format // FormatProto or FormatJSON
	cfg      loadgen.Config
	tick     time.Duration
	ticks    int           // 0: no limit
	duration time.Duration // 0: no limit
}

// load checks the flags of a --brokers run and returns it; cfg has the
// fleet's flags and ticks the --ticks flag.
func (k *kafkaLoadFlags) load(fs *flag.FlagSet, cfg loadgen.Config, ticks int) (*kafkaLoad, error) {
	set := setFlags(fs)
	for _, name := range fileOnlyFlags {
		if set[name] {
			return nil, fmt.Errorf("loadgen: --%s does not go with --brokers", name)
		}
	}
	l := &kafkaLoad{topic: k.topic, duration: k.duration}
	for b := range strings.SplitSeq(k.brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			return nil, fmt.Errorf("loadgen: --brokers %q: empty broker address", k.brokers)
		}
		l.brokers = append(l.brokers, b)
	}
	switch k.format {
	case "proto":
		l.format = sample.FormatProto
	case "json":
		l.format = sample.FormatJSON
	default:
		return nil, fmt.Errorf("loadgen: --format %q: want proto or json", k.format)
	}
	if k.topic == "" {
		return nil, fmt.Errorf("loadgen: --topic is empty")
	}
	if k.rate <= 0 {
		return nil, fmt.Errorf("loadgen: --rate %d: must be positive", k.rate)
	}
	if k.duration < 0 {
		return nil, fmt.Errorf("loadgen: --duration %v: must not be negative", k.duration)
	}
	if set["ticks"] {
		if ticks <= 0 {
			return nil, fmt.Errorf("loadgen: --ticks %d: must be positive with --brokers", ticks)
		}
		l.ticks = ticks
	}
	switch {
	case k.series < 0:
		return nil, fmt.Errorf("loadgen: --series %d: must not be negative", k.series)
	case k.series > 0 && (set["services"] || set["pods"]):
		return nil, fmt.Errorf("loadgen: --series picks --services and --pods: give one or the other")
	case k.series > 0:
		cfg.Services, cfg.PodsPerService = fleetForSeries(k.series)
	default:
		if cfg.Services <= 0 {
			cfg.Services = defaultServices
		}
		cfg.Services = min(cfg.Services, maxServices)
		if cfg.PodsPerService <= 0 {
			cfg.PodsPerService = defaultPods
		}
	}
	cfg.RequestsPerPod, l.tick = fleetPace(cfg.Services, cfg.PodsPerService, k.rate)
	cfg.TickMs = l.tick.Milliseconds()
	l.cfg = cfg
	return l, nil
}

// run produces the load until the run's end or an interrupt.
func (k *kafkaLoadFlags) run(fs *flag.FlagSet, cfg loadgen.Config, ticks int, clk loadClock, stderr io.Writer) (int, error) {
	l, err := k.load(fs, cfg, ticks)
	if err != nil {
		return exitError, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.brokers...))
	if err != nil {
		return exitError, fmt.Errorf("loadgen: %w", err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = cl.Ping(pctx)
	cancel()
	if err != nil {
		return exitError, fmt.Errorf("loadgen: reach brokers %s: %w", k.brokers, err)
	}
	c := l.cfg
	fmt.Fprintf(stderr, "loadgen: %d services of %d pods, %d series, %d requests per pod and %v tick: about %d samples/s to %s as %s records keyed by pod\n",
		c.Services, c.PodsPerService, fleetSeries(c.Services, c.PodsPerService), c.RequestsPerPod, l.tick, k.rate, l.topic, k.format)
	sum, err := l.produce(ctx, cl, clk)
	rate := 0.0
	if sum.elapsed > 0 {
		rate = float64(sum.samples) / sum.elapsed.Seconds()
	}
	fmt.Fprintf(stderr, "loadgen: %d ticks, %d records, %d samples, %d bytes in %v: %.0f samples/s\n",
		sum.ticks, sum.records, sum.samples, sum.bytes, sum.elapsed.Round(time.Millisecond), rate)
	if err != nil {
		return exitError, fmt.Errorf("loadgen: produce to %s: %w", l.topic, err)
	}
	return exitOK, nil
}

// loadSummary counts what a run produced; records, samples and bytes (of
// the records' values) count what the brokers acknowledged.
type loadSummary struct {
	ticks, records, samples, bytes int
	elapsed                        time.Duration
}

// produce produces a tick of samples when the clock reaches its end, so that
// event times follow the clock, and waits for each tick's acknowledgements
// before the next. It returns the first produce error; an interrupt only
// ends the run.
func (l *kafkaLoad) produce(ctx context.Context, cl *kgo.Client, clk loadClock) (loadSummary, error) {
	start := clk.Now()
	cfg := l.cfg
	cfg.StartMs = start.UnixMilli()
	g := loadgen.New(cfg)
	var (
		sum     loadSummary
		batch   []sample.Sample
		recs    []*kgo.Record
		samples = map[*kgo.Record]int{}
	)
	for l.ticks == 0 || sum.ticks < l.ticks {
		end := start.Add(time.Duration(sum.ticks+1) * l.tick)
		if l.duration > 0 && (end.Sub(start) > l.duration || clk.Now().Sub(start) > l.duration) {
			break
		}
		if clk.Wait(ctx, end) != nil {
			break
		}
		batch = g.Tick(batch[:0])
		clear(samples)
		recs = appendRecords(recs[:0], samples, l.topic, l.format, batch)
		var first error
		for _, r := range cl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				first = cmp.Or(first, r.Err)
				continue
			}
			sum.records++
			sum.samples += samples[r.Record]
			sum.bytes += len(r.Record.Value)
		}
		if first != nil {
			sum.elapsed = clk.Now().Sub(start)
			if ctx.Err() != nil {
				return sum, nil
			}
			return sum, first
		}
		sum.ticks++
	}
	sum.elapsed = clk.Now().Sub(start)
	return sum, nil
}

// appendRecords appends to dst the records of batch, in order: one per run
// of samples with one pod label, at most recordSamples each, keyed by that
// label and encoded in format (FormatProto or FormatJSON) with its
// content-type header. It sets samples[rec] to the samples of each.
func appendRecords(dst []*kgo.Record, samples map[*kgo.Record]int, topic string, format sample.Format, batch []sample.Sample) []*kgo.Record {
	loadgen.PodRuns(batch, recordSamples, func(pod string, part []sample.Sample) {
		rec := &kgo.Record{Topic: topic, Key: []byte(pod)}
		contentType := sample.ContentTypeProto
		if format == sample.FormatJSON {
			contentType = sample.ContentTypeJSON
			for i := range part {
				rec.Value = append(sample.AppendJSON(rec.Value, &part[i]), '\n')
			}
		} else {
			rec.Value = sample.AppendProto(nil, part)
		}
		rec.Headers = []kgo.RecordHeader{{Key: sample.ContentTypeHeader, Value: []byte(contentType)}}
		samples[rec] = len(part)
		dst = append(dst, rec)
	})
	return dst
}

// loadClock paces a run: the wall clock, or a fake one in tests.
type loadClock interface {
	Now() time.Time
	// Wait returns when the clock reaches t, or ctx.Err() once ctx is done.
	Wait(ctx context.Context, t time.Time) error
}

// wallClock is the loadClock of the time of day.
type wallClock struct{}

var _ loadClock = wallClock{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Wait(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
