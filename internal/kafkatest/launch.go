package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tumblemetrics/tumble/internal/childproc"
	"github.com/tumblemetrics/tumble/internal/modroot"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The JVM of a test broker: a modest heap, the serial collector (two cores
// are shared with the tests), the quick compiler alone (it starts the broker
// in about two thirds of the time, and tests are too short for the
// optimizing one to pay off), no perf data files in /tmp, and a timestamp on
// every log line.
var jvmArgs = []string{
	"-Xmx512m",
	"-XX:+UseSerialGC",
	"-XX:TieredStopAtLevel=1",
	"-XX:-UsePerfData",
	"-XX:+ExitOnOutOfMemoryError",
	"-Djava.awt.headless=true",
	"-Dorg.slf4j.simpleLogger.showDateTime=true",
	"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
}

const (
	// formatTimeout bounds the storage formatting, a short JVM run of its own.
	formatTimeout = 60 * time.Second
	// launchAttempts is how often a broker is started on new ports when
	// another process took one of the free ports first.
	launchAttempts = 3
	// tailLines is how much of the broker's log an error carries.
	tailLines = 40
)

// errPortTaken marks a broker that could not bind a port kafkatest had found
// free: another process took it in between, and new ports will do.
var errPortTaken = errors.New("a listener port was taken by another process")

// startError is a broker that did not start, with the end of the output
// that says why.
type startError struct {
	output string // the log file, or which output tail comes from
	tail   string // its last lines
	err    error
}

func (e *startError) Error() string {
	return fmt.Sprintf("%v\n--- last lines of %s ---\n%s", e.err, e.output, e.tail)
}

func (e *startError) Unwrap() error { return e.err }

// findLibs returns the directory of the jars that `make kafka` fetched into
// the module at root; the stamp file is written once they are all there.
func findLibs(root string) (string, error) {
	dir := filepath.Join(root, ".cache", "kafka")
	if _, err := os.Stat(filepath.Join(dir, "stamp")); err != nil {
		return "", fmt.Errorf("no Kafka jars in %s: run `make kafka` at the module root (`make test` does it first)", filepath.Join(dir, "libs"))
	}
	return filepath.Join(dir, "libs"), nil
}

// findJava returns $JAVA_HOME/bin/java when JAVA_HOME is set, else java
// from the PATH.
func findJava() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(java); err != nil {
			return "", fmt.Errorf("find java under JAVA_HOME: %w", err)
		}
		return java, nil
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("find java (Kafka needs a Java 17 runtime; set JAVA_HOME or put java on the PATH): %w", err)
	}
	return java, nil
}

// locate fills in the java binary and the jar directory unless already set.
func (c *config) locate() error {
	if c.libs == "" {
		root, err := modroot.Find()
		if err != nil {
			return err
		}
		if c.libs, err = findLibs(root); err != nil {
			return err
		}
	}
	if c.java == "" {
		java, err := findJava()
		if err != nil {
			return err
		}
		c.java = java
	}
	return nil
}

// start formats and starts a broker in dir and waits for its first answer.
// On error no process is left running.
func start(ctx context.Context, c config, dir string) (*Broker, error) {
	var err error
	for attempt := 1; attempt <= launchAttempts; attempt++ {
		node := filepath.Join(dir, fmt.Sprintf("node-%d", attempt))
		var b *Broker
		b, err = launch(ctx, c, node)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("start broker %d times: %w", launchAttempts, err)
}

// launch runs one attempt of start in its own directory.
func launch(ctx context.Context, c config, dir string) (*Broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create broker directory: %w", err)
	}
	ports, err := childproc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		addr:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		logPath: filepath.Join(dir, "broker.log"),
		done:    make(chan struct{}),
	}
	props := filepath.Join(dir, "server.properties")
	text := serverProperties(c.props, ports[0], ports[1], filepath.Join(dir, "data"))
	if err := os.WriteFile(props, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("write server.properties: %w", err)
	}
	classpath := filepath.Join(c.libs, "*")

	began := time.Now()
	id, err := clusterID()
	if err != nil {
		return nil, err
	}
	if err := format(ctx, c.java, classpath, props, id); err != nil {
		return nil, err
	}
	formatted := time.Now()

	b.java, b.classpath, b.props, b.dir, b.startTimeout = c.java, classpath, props, dir, c.startTimeout
	if err := b.run(ctx, os.O_TRUNC); err != nil {
		return nil, err
	}
	b.formatTime, b.startTime = formatted.Sub(began), time.Since(formatted)
	return b, nil
}

// run starts the broker's JVM, its log opened with flag (O_TRUNC at
// first, O_APPEND on a restart), and waits for its first answer; on error
// it leaves no process running.
func (b *Broker) run(ctx context.Context, flag int) error {
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|flag, 0o644)
	if err != nil {
		return fmt.Errorf("open broker log: %w", err)
	}
	args := append(slices.Clone(jvmArgs), "-cp", b.classpath, "kafka.Kafka", b.props)
	b.cmd = exec.Command(b.java, args...)
	b.cmd.Dir = b.dir
	b.cmd.Stdout = logFile
	b.cmd.Stderr = logFile
	b.cmd.SysProcAttr = childproc.Attr()
	b.done = make(chan struct{})
	if err := b.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start broker JVM: %w", err)
	}
	done := b.done
	go func() {
		b.waitErr = b.cmd.Wait()
		logFile.Close()
		close(done)
	}()
	if err := b.waitReady(ctx, b.startTimeout); err != nil {
		b.stop()
		if strings.Contains(childproc.TailFile(b.logPath, 200), "Address already in use") {
			err = fmt.Errorf("%v: %w", err, errPortTaken)
		}
		return &startError{output: b.logPath, tail: childproc.TailFile(b.logPath, tailLines), err: err}
	}
	return nil
}

// format writes the cluster's first metadata into the node's log
// directory, as kafka-storage.sh format does.
func format(ctx context.Context, java, classpath, props, clusterID string) error {
	ctx, cancel := context.WithTimeout(ctx, formatTimeout)
	defer cancel()
	args := append(slices.Clone(jvmArgs), "-cp", classpath,
		"kafka.tools.StorageTool", "format", "--config", props, "--cluster-id", clusterID)
	cmd := exec.CommandContext(ctx, java, args...)
	cmd.SysProcAttr = childproc.Attr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &startError{output: "the storage tool's output", tail: childproc.LastLines(out, tailLines),
			err: fmt.Errorf("format broker storage: %w", err)}
	}
	return nil
}

// waitReady returns once the broker answers a metadata request that lists
// it, or with an error when the broker exits or timeout passes first.
func (b *Broker) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.addr),
		kgo.DialTimeout(time.Second),
		kgo.RequestRetries(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	if err != nil {
		return fmt.Errorf("create readiness client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := adm.BrokerMetadata(actx)
		acancel()
		switch {
		case err == nil && len(m.Brokers) > 0:
			return nil
		case err == nil:
			last = errors.New("metadata lists no broker")
		default:
			last = err
		}
		select {
		case <-b.done:
			return fmt.Errorf("broker exited before it answered: %v", b.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("broker at %s did not answer a metadata request within %v: %w", b.addr, timeout, last)
		case <-tick.C:
		}
	}
}

// serverProperties is the configuration of a combined broker and controller
// with node ID 1, listening on 127.0.0.1 at the two ports given.
func serverProperties(props map[string]string, brokerPort, controllerPort int, dataDir string) string {
	var sb strings.Builder
	sb.WriteString("# A single-node KRaft cluster written by kafkatest.\n")
	fmt.Fprintf(&sb, "process.roles=broker,controller\n")
	fmt.Fprintf(&sb, "node.id=1\n")
	fmt.Fprintf(&sb, "controller.quorum.voters=1@127.0.0.1:%d\n", controllerPort)
	fmt.Fprintf(&sb, "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d\n", brokerPort, controllerPort)
	fmt.Fprintf(&sb, "advertised.listeners=PLAINTEXT://127.0.0.1:%d\n", brokerPort)
	fmt.Fprintf(&sb, "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n")
	fmt.Fprintf(&sb, "controller.listener.names=CONTROLLER\n")
	fmt.Fprintf(&sb, "inter.broker.listener.name=PLAINTEXT\n")
	fmt.Fprintf(&sb, "log.dirs=%s\n", escapeValue(dataDir))
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s\n", k, escapeValue(props[k]))
	}
	return sb.String()
}

// escapeValue escapes the one character of a value that Java's Properties
// reads specially in paths and plain values.
func escapeValue(v string) string {
	return strings.ReplaceAll(v, `\`, `\\`)
}

// clusterID is a random Kafka UUID in its text form: 16 bytes, URL-safe
// base64 without padding, never starting with '-' (which the storage tool
// would read as an option).
func clusterID() (string, error) {
	var u [16]byte
	for {
		if _, err := rand.Read(u[:]); err != nil {
			return "", fmt.Errorf("generate cluster ID: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(u[:]); id[0] != '-' {
			return id, nil
		}
	}
}
