package graphite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tumblemetrics/tumble/ingest"
	"github.com/tumblemetrics/tumble/sample"
)

// The gateways' names in metrics and dead letters.
const (
	GatewayTCP = "graphite_tcp"
	GatewayUDP = "graphite_udp"
)

// Options configures a Server.
type Options struct {
	Writer  *ingest.Writer
	Samples sample.Limits
	Metrics *ingest.Metrics
	Logger  *slog.Logger
	// TCP and UDP are the addresses to listen on; "" listens on none.
	TCP, UDP string
	// BatchLines is the most lines written at once; 0 means 5000.
	// BatchWait is the longest a line waits for its batch; 0 means 200ms.
	BatchLines int
	BatchWait  time.Duration
	// Retry is the wait before a TCP batch Kafka did not take is written
	// again; 0 means 1s.
	Retry time.Duration
	Now   func() time.Time // nil means time.Now
}

// Server takes Graphite's plaintext protocol over TCP and UDP. Lines are
// written in batches (BatchLines, or after BatchWait). Over TCP, a batch
// Kafka did not take is written again until it is, and the connection is
// not read meanwhile: the sender waits, nothing is lost. Over UDP, which
// has no way back, such a batch is dropped and counted. Refused lines go
// to the dead-letter topic with their reason.
type Server struct {
	opts Options
	tcp  net.Listener
	udp  net.PacketConn
}

// Listen opens the listeners; Run serves them.
func Listen(opts Options) (*Server, error) {
	if opts.Writer == nil {
		return nil, errors.New("graphite: Writer is required")
	}
	if opts.BatchLines <= 0 {
		opts.BatchLines = 5000
	}
	if opts.BatchWait <= 0 {
		opts.BatchWait = 200 * time.Millisecond
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	var err error
	if opts.TCP != "" {
		if s.tcp, err = net.Listen("tcp", opts.TCP); err != nil {
			return nil, err
		}
	}
	if opts.UDP != "" {
		if s.udp, err = net.ListenPacket("udp", opts.UDP); err != nil {
			if s.tcp != nil {
				s.tcp.Close()
			}
			return nil, err
		}
	}
	return s, nil
}

// TCPAddr and UDPAddr return the addresses listened on (nil for none).
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// Run serves until ctx ends, then closes the listeners and the
// connections, writes what they had read, and returns.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.tcp != nil {
		wg.Go(func() { s.acceptTCP(ctx) })
	}
	if s.udp != nil {
		wg.Go(func() { s.serveUDP(ctx) })
	}
	<-ctx.Done()
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	wg.Wait()
	return nil
}

func (s *Server) acceptTCP(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.SetReadDeadline(time.Now()) // ends its reads; its batch is still written
		}
	})
	defer stop()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return // closed by Run
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			s.serveTCP(ctx, c)
		})
	}
}

// maxLine bounds a line: a longer one is refused, and what the sender
// sends until its end is skipped unread into memory.
const maxLine = 64 << 10

// serveTCP reads lines from c and writes them in batches.
func (s *Server) serveTCP(ctx context.Context, c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	var batch []string
	var partial string
	var long []ingest.Refused // lines over maxLine, refused
	skipping := false
	var first time.Time
	for {
		if len(batch) > 0 {
			c.SetReadDeadline(first.Add(s.opts.BatchWait))
		} else {
			c.SetReadDeadline(time.Time{})
		}
		if ctx.Err() != nil {
			c.SetReadDeadline(time.Now())
		}
		frag, err := r.ReadSlice('\n') // at most the buffer: a line without end cannot fill memory
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		line := string(frag)
		if !skipping {
			partial += line
		}
		if len(partial) > maxLine && !skipping {
			long = append(long, ingest.Refused{Series: abbrev(partial), Reason: ReasonBadLine,
				Err:    fmt.Errorf("a line of more than %d bytes", maxLine),
				Sample: sample.Sample{Name: "graphite_line", Type: sample.Gauge, TimestampMs: s.opts.Now().UnixMilli()}})
			if len(batch) == 0 {
				first = time.Now()
			}
			skipping, partial = true, ""
		}
		if strings.HasSuffix(line, "\n") {
			if l := strings.TrimSpace(partial); l != "" && !skipping {
				if len(batch) == 0 {
					first = time.Now()
				}
				batch = append(batch, l)
			}
			partial, skipping = "", false
		}
		timeout := errors.Is(err, os.ErrDeadlineExceeded)
		if len(batch)+len(long) >= s.opts.BatchLines || len(batch)+len(long) > 0 && (timeout || err != nil) {
			if !s.writeTCP(ctx, batch, long) {
				return
			}
			batch, long = batch[:0], nil
		}
		if err != nil && !timeout || ctx.Err() != nil && timeout {
			if l := strings.TrimSpace(partial); l != "" && err == io.EOF {
				s.writeTCP(ctx, []string{l}, nil)
			}
			return
		}
	}
}

// writeTCP writes a TCP batch and the lines refused before, again until
// Kafka takes them; false if ctx ended first.
func (s *Server) writeTCP(ctx context.Context, lines []string, refused []ingest.Refused) bool {
	samples, refused := Decode(lines, s.opts.Samples, s.opts.Now().UnixMilli(), nil, refused)
	for {
		err := s.opts.Writer.Write(context.WithoutCancel(ctx), GatewayTCP, samples, refused)
		s.observe(GatewayTCP, len(samples), err, refused)
		if err == nil {
			return true
		}
		s.opts.Logger.Warn("graphite: Kafka did not take a batch; writing it again", "lines", len(lines), "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(s.opts.Retry):
		}
	}
}

func (s *Server) serveUDP(ctx context.Context) {
	buf := make([]byte, 64<<10)
	var batch []string
	var first time.Time
	flush := func() {
		if len(batch) == 0 {
			return
		}
		samples, refused := Decode(batch, s.opts.Samples, s.opts.Now().UnixMilli(), nil, nil)
		err := s.opts.Writer.Write(context.WithoutCancel(ctx), GatewayUDP, samples, refused)
		s.observe(GatewayUDP, len(samples), err, refused)
		if err != nil {
			s.opts.Logger.Warn("graphite: Kafka did not take a UDP batch: dropped", "lines", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		if len(batch) > 0 {
			s.udp.SetReadDeadline(first.Add(s.opts.BatchWait))
		} else {
			s.udp.SetReadDeadline(time.Time{})
		}
		n, _, err := s.udp.ReadFrom(buf)
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				if len(batch) == 0 {
					first = time.Now()
				}
				batch = append(batch, l)
			}
		}
		if len(batch) >= s.opts.BatchLines || err != nil {
			flush()
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed by Run
		}
	}
}

func (s *Server) observe(gateway string, written int, err error, refused []ingest.Refused) {
	code := http.StatusNoContent
	if err != nil {
		code = http.StatusServiceUnavailable
	}
	s.opts.Metrics.Observe(gateway, code, written, err == nil, refused)
}
