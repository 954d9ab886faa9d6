package fanout

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// ErrPoolClosed is returned by Conn after Close.
var ErrPoolClosed = errors.New("fanout: connection pool closed")

// Pool holds one gRPC client connection per address, made on first use and
// kept until Close. A connection reconnects by itself after its peer goes
// away, with a short backoff (at most a second between tries), so that a
// replica that comes back is used again soon; while it is down, calls on it
// fail at once rather than wait.
//
// A Pool is safe for concurrent use. Its owner, not the Queryables that use
// it, closes it.
type Pool struct {
	opts []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewPool returns an empty pool whose connections are plaintext (insecure
// transport credentials) with a short reconnect backoff; opts are added
// after those defaults, and may override them.
func NewPool(opts ...grpc.DialOption) *Pool {
	defaults := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	return &Pool{opts: append(defaults, opts...), conns: map[string]*grpc.ClientConn{}}
}

// Conn returns the connection to addr (host:port), making it if there is
// none yet. Making one does not wait for the peer: the first call on it
// connects.
func (p *Pool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection; calls in flight on them fail. Close is
// safe to call twice; Conn fails after it.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for addr, c := range p.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", addr, err))
		}
	}
	p.conns = nil
	return errors.Join(errs...)
}
