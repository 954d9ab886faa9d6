package kafkatest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/childproc"
)

// Broker is a running single-node Kafka cluster, owned by the test that
// started it: the process is killed when that test ends.
type Broker struct {
	addr    string
	logPath string

	// What runs the broker, kept for Restart.
	java, classpath, props, dir string
	startTimeout                time.Duration

	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and waitErr is set
	waitErr error

	formatTime, startTime time.Duration
}

// Start starts a broker for t and returns once it answers requests. It fails
// t, with the last lines of the broker's log, if the jars are missing or the
// broker does not come up. It skips t only under -short, the quick loop
// that runs no outside server (make test runs without it).
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("kafkatest: no Kafka broker under -short (make test runs this test)")
	}
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.locate(); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	b, err := start(t.Context(), c, t.TempDir())
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("kafkatest: broker %s\n%s", b.addr, b.logTail())
		}
	})
	t.Logf("kafkatest: broker at %s ready in %v (storage formatted in %v, then up in %v)",
		b.addr, (b.formatTime + b.startTime).Round(time.Millisecond),
		b.formatTime.Round(time.Millisecond), b.startTime.Round(time.Millisecond))
	return b
}

// Addr is the broker's "127.0.0.1:port", for kgo.SeedBrokers.
func (b *Broker) Addr() string { return b.addr }

// LogPath is the file the broker logs to.
func (b *Broker) LogPath() string { return b.logPath }

// Client returns a client of the broker with opts, closed when t ends
// (before the broker stops).
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: create client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the given number of partitions, one
// replica each, and returns once every partition has a leader.
func (b *Broker) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatalf("kafkatest: create admin client: %v", err)
	}
	defer cl.Close()
	if err := createTopic(ctx, kadm.NewClient(cl), name, partitions); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
}

func createTopic(ctx context.Context, adm *kadm.Client, name string, partitions int32) error {
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		return fmt.Errorf("create topic %q with %d partitions: %w", name, partitions, err)
	}
	for {
		m, err := adm.Metadata(ctx, name)
		if err == nil && topicReady(m.Topics[name], partitions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the leaders of topic %q: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func topicReady(td kadm.TopicDetail, partitions int32) bool {
	if td.Err != nil || int32(len(td.Partitions)) != partitions {
		return false
	}
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// Stop kills the broker, as a crash would, and waits for it to exit;
// Restart starts it again. Clients see it gone: connections refused.
func (b *Broker) Stop() { b.stop() }

// Restart starts a stopped broker again on its ports and its data, and
// returns once it answers; it fails t if it does not.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.stop()
	began := time.Now()
	if err := b.run(t.Context(), os.O_APPEND); err != nil {
		t.Fatalf("kafkatest: restart the broker at %s: %v", b.addr, err)
	}
	t.Logf("kafkatest: broker at %s restarted in %v", b.addr, time.Since(began).Round(time.Millisecond))
}

// stop kills the broker and waits for it to exit; it is safe twice.
func (b *Broker) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Kill() // fails only when the process has already exited
	<-b.done
}

// logTail is the end of the broker's log, headed by the file's path.
func (b *Broker) logTail() string {
	return fmt.Sprintf("--- last lines of %s ---\n%s", b.logPath, childproc.TailFile(b.logPath, tailLines))
}
