package etcdtest

import (
	"bytes"
	"context"
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

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

const (
	// memberName is the name of the single member, in its flags and logs.
	memberName = "etcdtest"
	// launchAttempts is how often Start launches etcd on new ports when
	// another process took one of the free ports first.
	launchAttempts = 3
	// attemptTimeout bounds one readiness read.
	attemptTimeout = 500 * time.Millisecond
	// stopTimeout is how long Stop waits for etcd to shut down on SIGTERM
	// before it kills it.
	stopTimeout = 10 * time.Second
	// tailLines is how much of etcd's log an error carries.
	tailLines = 40
	// launchMarker starts the line etcdtest writes into the log before each
	// launch, so that one log tells the runs of a restarted server apart.
	launchMarker = "--- etcdtest: launch "
)

// errPortTaken marks an etcd that could not bind a port etcdtest had found
// free: another process took it in between.
var errPortTaken = errors.New("a port was taken by another process")

// fastReconnect has the gRPC connection of a client retry a lost server
// every quarter second at most, instead of backing off up to two minutes:
// a test's client reaches a restarted or resumed etcd at once.
var fastReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  10 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   250 * time.Millisecond,
	},
	MinConnectTimeout: time.Second,
})

// startError is an etcd that did not start, with the end of its log.
type startError struct {
	logPath string
	tail    string // the last lines of the log
	err     error
}

func (e *startError) Error() string {
	return fmt.Sprintf("%v\n--- last lines of %s ---\n%s", e.err, e.logPath, e.tail)
}

func (e *startError) Unwrap() error { return e.err }

// findBinary returns the path of the etcd binary that `make etcd` unpacked
// into the module at root.
func findBinary(root string) (string, error) {
	path := filepath.Join(root, ".cache", "etcd", "usr", "bin", "etcd")
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("no etcd at %s: run `make etcd` at the module root (`make test` does it first)", path)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("etcd at %s is not executable: remove .cache/etcd and run `make etcd`", path)
	}
	return path, nil
}

// locate fills in the etcd binary unless already set.
func (c *config) locate() error {
	if c.bin != "" {
		return nil
	}
	root, err := modroot.Find()
	if err != nil {
		return err
	}
	c.bin, err = findBinary(root)
	return err
}

// process is one run of the etcd binary. done is closed once it has exited
// and waitErr is set.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// signal sends sig to the process; it fails only when the process has
// exited, which its caller learns from done.
func (p *process) signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// waitState waits, a second at most, until the kernel shows the process in
// state (a letter of /proc/PID/stat: 'T' is stopped). A signal is delivered
// asynchronously: a process told to stop may answer a request meanwhile.
func (p *process) waitState(state byte) {
	path := fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		// pid (comm) state …: comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
	}
}

// kill kills the process and waits for it to exit; it is safe twice.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// start launches a new single-member cluster in dir and waits for its first
// answer, trying new ports when another process took one. On error no
// process is left running.
func start(ctx context.Context, c config, dir string) (*Server, error) {
	var err error
	for attempt := 1; attempt <= launchAttempts; attempt++ {
		var ports []int
		if ports, err = childproc.FreePorts(2); err != nil {
			return nil, err
		}
		node := filepath.Join(dir, fmt.Sprintf("node-%d", attempt))
		if err = os.MkdirAll(node, 0o755); err != nil {
			return nil, fmt.Errorf("create etcd directory: %w", err)
		}
		s := &Server{
			cfg:       c,
			dir:       node,
			dataDir:   filepath.Join(node, "data"),
			logPath:   filepath.Join(node, "etcd.log"),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		}
		began := time.Now()
		if err = s.launch(ctx); err == nil {
			s.startTime = time.Since(began)
			return s, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("start etcd %d times: %w", launchAttempts, err)
}

// launch runs etcd on s's ports and data directory, sets s.proc and
// s.version, and returns once it answers a read. On error no process is
// left running. The caller holds s.mu or has not shared s yet.
func (s *Server) launch(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open etcd log: %w", err)
	}
	s.launches++
	fmt.Fprintf(logFile, "%s%d at %s ---\n", launchMarker, s.launches, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(s.cfg.bin, args(s.cfg.flags, s.dataDir, s.clientURL, s.peerURL)...)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childproc.Attr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start etcd: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()

	version, err := waitReady(ctx, p, s.clientURL, s.cfg.startTimeout)
	if err != nil {
		p.kill()
		tail := childproc.TailFile(s.logPath, 200)
		if i := strings.LastIndex(tail, launchMarker); i >= 0 {
			tail = tail[i:] // this launch's lines only
		}
		if strings.Contains(strings.ToLower(tail), "address already in use") {
			err = fmt.Errorf("%v: %w", err, errPortTaken)
		}
		return &startError{logPath: s.logPath, tail: childproc.LastLines([]byte(tail), tailLines), err: err}
	}
	s.proc, s.version = p, version
	return nil
}

// waitReady returns etcd's version once it answers a linearizable read (a
// leader is elected and the member applies requests), or an error when the
// process exits or timeout passes first.
func waitReady(ctx context.Context, p *process, url string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	exitWatch := make(chan struct{})
	go func() { // ends the read in progress when etcd exits
		defer close(exitWatch)
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-exitWatch
	}()
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{url},
		DialTimeout: time.Second,
		DialOptions: []grpc.DialOption{fastReconnect},
		Logger:      zap.NewNop(), // refused connections are expected here
	})
	if err != nil {
		return "", fmt.Errorf("create readiness client: %w", err)
	}
	defer cl.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		_, err := cl.Get(actx, "etcdtest-ready")
		var st *clientv3.StatusResponse
		if err == nil {
			st, err = cl.Status(actx, url)
		}
		acancel()
		if err == nil {
			return st.Version, nil
		}
		last = err
		select {
		case <-p.done:
			return "", fmt.Errorf("etcd exited before it answered: %v", p.waitErr)
		default:
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("etcd at %s did not answer a read within %v: %w", url, timeout, last)
		case <-tick.C:
		}
	}
}

// args are the command-line flags of a single member named memberName
// with its data in dataDir, serving clients at clientURL and its (absent)
// peers at peerURL, followed by flags in name order.
func args(flags map[string]string, dataDir, clientURL, peerURL string) []string {
	a := []string{
		"--name=" + memberName,
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=" + memberName + "=" + peerURL,
		"--initial-cluster-state=new",
	}
	names := make([]string, 0, len(flags))
	for name := range flags {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a = append(a, "--"+name+"="+flags[name])
	}
	return a
}
