// Command tumblectl is tumble's operator tool: it replays samples through the
// aggregation offline, checks and tests rule files, generates workloads,
// inspects, verifies and dumps a storage directory, and shows and changes
// which nodes hold which shards.
//
//	tumblectl replay --rules RULES.yaml --input SAMPLES.jsonl --output POINTS.jsonl
//	tumblectl rules check RULES.yaml
//	tumblectl rules test RULES.yaml --input SAMPLES.jsonl
//	tumblectl loadgen --ticks 60 --output SAMPLES.jsonl
//	tumblectl loadgen --brokers localhost:9092 --rate 10000 --series 1000 --duration 10m
//	tumblectl tsdb inspect DIR [--json]
//	tumblectl tsdb verify DIR
//	tumblectl tsdb dump DIR --match 'http_latency_seconds{route="/pay"}' --from 2025-11-22T08:00:00Z
//	tumblectl placement init --etcd 10.0.0.9:2379 --shards 16 --replicas 2 --nodes node-a,node-b,node-c
//	tumblectl placement show
//	tumblectl placement add-node node-d
//	tumblectl placement remove-node node-a
//	tumblectl placement mark-available 3 node-d
//	tumblectl cluster status --url http://node-a:9201
//	tumblectl traces watch --addr node-a:9301 --keep-list keep.txt --token-file watch.token
//
// loadgen writes a generated fleet's samples as JSON lines; with --brokers
// it produces them to a Kafka topic in real time instead, as protobuf batches
// or JSON lines of up to 500 samples keyed by their pod label (so each series
// stays in order on one partition), until --ticks, --duration or an
// interrupt, and then prints what it produced.
//
// tsdb inspect and tsdb dump open the storage as the server does (so they
// fail on a directory a running server holds, and they make the repairs
// its Open makes: a corrupt block set aside, the WAL cut at a corruption,
// each reported on stderr). tsdb inspect prints each storage policy's blocks
// and head with their sizes; tsdb dump writes the points a series selector
// matches as JSON lines, {"labels":{…},"policy":"10s:2d","t":MS,"v":V} with
// the point's "exemplar" if it has one, and NaN and infinities as the
// strings "NaN", "+Inf" and "-Inf". tsdb verify writes nothing: it opens
// every block, set-aside ones included, checks every chunk's checksum and
// every WAL frame, and reports each corruption with its file and byte
// offset; run it on a stopped server's directory or on a copy, since the end
// of a WAL being written may read as a torn write.
//
// The placement commands work on the cluster's placement in etcd (--etcd,
// 127.0.0.1:2379 by default; the keys under --prefix, /tumble by default).
// placement init creates it for a new cluster, its replicas dealt round
// robin over the nodes; it refuses to replace an existing one. placement
// show prints each shard's replicas with their states (initializing,
// available, leaving) and how many run on a live (registered) node, then
// each node with its replicas and addresses, then warnings: a shard that
// no live replica may lead, a registered node that the placement lacks;
// --json writes the placement and the registrations instead. placement
// add-node and remove-node change the members and hand replicas over,
// keeping the nodes' loads within one of each other, and print each
// shard that changed: a new replica starts initializing, and the one it
// replaces leaves once it has caught up. Nodes mark their own replicas
// available; placement mark-available does it by hand. Every change is a
// compare-and-swap, safe while nodes change the placement too.
//
// cluster status asks a node (--url) for the cluster as it sees it: the
// nodes, and per shard its leader, term, flush watermark and how far it
// trails the clock, then each replica's state, role, how far it trails
// the watermark, the records it has left to read, and whether it can take
// the lead (or why not), then warnings; --json writes the report.
//
// traces watch prints the traces the cluster selects for tail-based
// samplers (see package selection) as they are committed, a line each (or
// JSON with --json): the final selections of closed windows and, with
// --candidates, the candidates of open ones. --keep-list appends each
// trace ID, once, to a file, the keep-list of a sampler that reads files;
// --token-file keeps the feed's resume token after each batch, so that the
// next run goes on where this one stopped, missing nothing and repeating
// nothing. It starts with the next selection (--from-start: the oldest the
// topic keeps) and runs until interrupted or --count selections.
//
// Exit status: 0 on success, 1 when input lines were skipped (each is
// reported on stderr with its line number) or, for tsdb verify, when
// corruption was found, 2 when the command could not run (bad flags, an
// invalid rule file, an unreadable input or directory, etcd out of reach,
// a placement change refused).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tumblemetrics/tumble/rules"
)

// Exit statuses.
const (
	exitOK      = 0
	exitSkipped = 1
	exitCorrupt = 1 // tsdb verify found corruption
	exitError   = 2
)

const usage = `usage:
  tumblectl replay --rules RULES.yaml [--input SAMPLES.jsonl|-] [--output POINTS.jsonl|-]
  tumblectl rules check RULES.yaml
  tumblectl rules test RULES.yaml --input SAMPLES.jsonl|-
  tumblectl loadgen [--ticks N] [--seed S] [--output SAMPLES.jsonl|-]
  tumblectl loadgen --brokers HOST:PORT[,...] [--topic T] [--rate N] [--series N] [--format proto|json] [--ticks N|--duration D] [--seed S]
  tumblectl tsdb inspect DIR [--json]
  tumblectl tsdb verify DIR
  tumblectl tsdb dump DIR --match SELECTOR [--from T] [--to T] [--output POINTS.jsonl|-]
  tumblectl placement init --shards N [--replicas R] --nodes ID,... [ETCD FLAGS]
  tumblectl placement show [--json] [ETCD FLAGS]
  tumblectl placement add-node ID [ETCD FLAGS]
  tumblectl placement remove-node ID [ETCD FLAGS]
  tumblectl placement mark-available SHARD ID [ETCD FLAGS]
    ETCD FLAGS: [--etcd HOST:PORT[,...]] [--prefix /tumble] [--dial-timeout D] [--timeout D]
  tumblectl cluster status [--url http://NODE:9201] [--json]
  tumblectl traces watch [--addr NODE:9301] [--candidates] [--from-start] [--token-file F] [--keep-list F] [--json] [--count N]
Run a command with -h for its flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	var err error
	status := exitOK
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "loadgen":
		status, err = loadgenCmd(rest, stdout, stderr)
	case cmd == "replay":
		status, err = replayCmd(rest, stdin, stdout, stderr)
	case cmd == "rules" && len(rest) > 0 && rest[0] == "check":
		status, err = rulesCheckCmd(rest[1:], stdout, stderr)
	case cmd == "rules" && len(rest) > 0 && rest[0] == "test":
		status, err = rulesTestCmd(rest[1:], stdin, stdout, stderr)
	case cmd == "tsdb" && len(rest) > 0 && rest[0] == "inspect":
		status, err = tsdbInspectCmd(rest[1:], stdout, stderr)
	case cmd == "tsdb" && len(rest) > 0 && rest[0] == "verify":
		status, err = tsdbVerifyCmd(rest[1:], stdout, stderr)
	case cmd == "tsdb" && len(rest) > 0 && rest[0] == "dump":
		status, err = tsdbDumpCmd(rest[1:], stdout, stderr)
	case cmd == "placement" && len(rest) > 0 && rest[0] == "init":
		status, err = placementInitCmd(rest[1:], stdout, stderr)
	case cmd == "placement" && len(rest) > 0 && rest[0] == "show":
		status, err = placementShowCmd(rest[1:], stdout, stderr)
	case cmd == "placement" && len(rest) > 0 && rest[0] == "add-node":
		status, err = placementAddNodeCmd(rest[1:], stdout, stderr)
	case cmd == "placement" && len(rest) > 0 && rest[0] == "remove-node":
		status, err = placementRemoveNodeCmd(rest[1:], stdout, stderr)
	case cmd == "placement" && len(rest) > 0 && rest[0] == "mark-available":
		status, err = placementMarkAvailableCmd(rest[1:], stdout, stderr)
	case cmd == "cluster" && len(rest) > 0 && rest[0] == "status":
		status, err = clusterStatusCmd(rest[1:], stdout, stderr)
	case cmd == "traces" && len(rest) > 0 && rest[0] == "watch":
		status, err = tracesWatchCmd(rest[1:], stdout, stderr)
	case cmd == "-h" || cmd == "--help" || cmd == "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "tumblectl: unknown command %q\n%s", args[0], usage)
		return exitError
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "tumblectl: %v\n", err)
		}
		return exitError
	}
	return status
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// openRulesAndInput parses the rule file at rulesPath and opens the samples
// at input ("-" is stdin).
func openRulesAndInput(rulesPath, input string, stdin io.Reader) (*rules.RuleSet, io.ReadCloser, error) {
	rs, err := rules.ParseFile(rulesPath)
	if err != nil {
		return nil, nil, err
	}
	in, err := openInput(input, stdin)
	if err != nil {
		return nil, nil, err
	}
	return rs, in, nil
}

// openInput opens path for reading; "-" is stdin.
func openInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	return f, nil
}

// nopWriteCloser gives stdout a Close that does nothing.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// createOutput creates path for writing; "-" is stdout.
func createOutput(path string, stdout io.Writer) (io.WriteCloser, error) {
	if path == "-" {
		return nopWriteCloser{stdout}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	return f, nil
}
