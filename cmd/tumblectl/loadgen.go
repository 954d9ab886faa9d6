package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/sample"
)

// badLines are the malformed records --bad-every mixes in, one kind after
// the other.
var badLines = []string{
	`{"name":"http_request_duration_seconds","type":"timer","value":0.1}`,
	`{"name":"http_request_duration_seconds","type":"histogram","value":0.1,"timestamp_ms":1}`,
	`{"name":"http_request_duration_seconds","type":"timer","value":0.1,"timestamp_ms":1,"trace_id":"not-a-trace"}`,
	`not json at all`,
}

// loadgenCmd writes a realistic workload as JSON sample lines, or with
// --brokers produces it to Kafka (loadgen_kafka.go).
func loadgenCmd(args []string, stdout, stderr io.Writer) (int, error) {
	return loadgenClockCmd(args, stdout, stderr, wallClock{})
}

// loadgenClockCmd is loadgenCmd with clk pacing what it produces to Kafka.
func loadgenClockCmd(args []string, stdout, stderr io.Writer, clk loadClock) (int, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "-", "where to write the samples; - writes stdout")
	ticks := fs.Int("ticks", 60, "seconds of traffic to generate; with --brokers, ticks to produce, without a limit unless given")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same samples")
	services := fs.Int("services", 0, "services in the fleet (default 4)")
	pods := fs.Int("pods", 0, "pods per service (default 3)")
	rps := fs.Int("requests", 0, "mean requests per pod and second (default 20)")
	badEvery := fs.Int("bad-every", 0, "write a malformed line after every N samples (0: none)")
	kafka := addKafkaLoadFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) > 0 {
		return exitError, fmt.Errorf("loadgen: unexpected argument %q", pos[0])
	}
	cfg := loadgen.Config{Seed: *seed, Services: *services, PodsPerService: *pods, RequestsPerPod: *rps}
	if kafka.brokers != "" {
		return kafka.run(fs, cfg, *ticks, clk, stderr)
	}
	if err := kafka.checkUnused(fs); err != nil {
		return exitError, err
	}
	out, err := createOutput(*output, stdout)
	if err != nil {
		return exitError, err
	}
	g := loadgen.New(cfg)
	w := bufio.NewWriter(out)
	var batch []sample.Sample
	var line []byte
	n, bad := 0, 0
	for range *ticks {
		batch = g.Tick(batch[:0])
		for i := range batch {
			line = append(sample.AppendJSON(line[:0], &batch[i]), '\n')
			_, _ = w.Write(line)
			n++
			if *badEvery > 0 && n%*badEvery == 0 {
				fmt.Fprintln(w, badLines[bad%len(badLines)])
				bad++
			}
		}
	}
	err = w.Flush()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitError, fmt.Errorf("loadgen: write samples: %w", err)
	}
	fmt.Fprintf(stderr, "loadgen: %d samples and %d malformed lines\n", n, bad)
	return exitOK, nil
}
