package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Session is a node's etcd session: a lease that the node keeps alive, the
// elections of its shards run in, and the Lease view of it that says, from
// the local clock alone, until when the node may still act as a leader.
type Session struct {
	cs    *concurrency.Session
	lease *Lease
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
}

// NewSession grants a lease of ttl and keeps it alive until Close or until
// etcd says it is gone. margin is how long before the end of the lease as
// the node last knew it the node stops acting as leader; now is the clock
// (nil: time.Now).
func NewSession(ctx context.Context, cli *clientv3.Client, ttl, margin time.Duration, now func() time.Time) (*Session, error) {
	if now == nil {
		now = time.Now
	}
	if ttl < 2*time.Second || margin <= 0 || margin >= ttl/2 {
		return nil, fmt.Errorf("leader session: ttl %s margin %s: want ttl >= 2s and 0 < margin < ttl/2", ttl, margin)
	}
	sent := now()
	g, err := cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("grant a lease: %w", err)
	}
	lease := NewLease(margin, now)
	lease.Renewed(sent, time.Duration(g.TTL)*time.Second)
	cs, err := concurrency.NewSession(cli, concurrency.WithLease(g.ID))
	if err != nil {
		return nil, fmt.Errorf("session on lease %x: %w", g.ID, err)
	}
	kctx, stop := context.WithCancel(context.Background())
	s := &Session{cs: cs, lease: lease, stop: stop}
	s.wg.Go(func() { s.keepAlive(kctx, cli, g.ID, ttl, now) })
	return s, nil
}

// keepAlive renews the lease every third of its TTL and records each answer
// in the Lease; it ends when etcd says the lease is gone, or on Close.
func (s *Session) keepAlive(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID, ttl time.Duration, now func() time.Time) {
	every := ttl / 3
	t := time.NewTicker(every / 2)
	defer t.Stop()
	last := now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cs.Done():
			s.lease.Expire()
			return
		case <-t.C:
		}
		if now().Sub(last) < every && s.lease.Valid() {
			continue
		}
		sent := now()
		kctx, cancel := context.WithTimeout(ctx, every)
		resp, err := cli.KeepAliveOnce(kctx, id)
		cancel()
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			s.lease.Expire()
			return
		case err == nil && resp.TTL > 0:
			s.lease.Renewed(sent, time.Duration(resp.TTL)*time.Second)
			last = sent
		}
	}
}

// Lease returns the session's lease as the node knows it.
func (s *Session) Lease() *Lease { return s.lease }

// ID returns the etcd lease of the session.
func (s *Session) ID() clientv3.LeaseID { return s.cs.Lease() }

// Done is closed when the session is over for good (etcd let the lease
// expire, or Close was called): a new one is needed.
func (s *Session) Done() <-chan struct{} { return s.cs.Done() }

// Close revokes the lease (so the node's leaderships pass on at once) and
// stops keeping it alive. It is safe to call twice.
func (s *Session) Close() {
	s.once.Do(func() {
		s.stop()
		s.wg.Wait()
		s.lease.Expire()
		s.cs.Close()
	})
}

// Sessions gives a node's goroutines its one live session, and a new one
// once etcd has let the last one expire. Any goroutine may call Get.
type Sessions struct {
	cli         *clientv3.Client
	ttl, margin time.Duration
	now         func() time.Time

	mu  sync.Mutex
	cur *Session
}

// NewSessions returns the node's sessions on cli (see NewSession for ttl,
// margin and now).
func NewSessions(cli *clientv3.Client, ttl, margin time.Duration, now func() time.Time) *Sessions {
	return &Sessions{cli: cli, ttl: ttl, margin: margin, now: now}
}

// Get returns the live session, starting one if there is none, retrying
// until ctx ends while etcd cannot be reached.
func (s *Sessions) Get(ctx context.Context) (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.cur != nil {
			select {
			case <-s.cur.Done():
				s.cur.Close()
				s.cur = nil
			default:
				return s.cur, nil
			}
		}
		gctx, cancel := context.WithTimeout(ctx, s.ttl)
		sess, err := NewSession(gctx, s.cli, s.ttl, s.margin, s.now)
		cancel()
		if err == nil {
			s.cur = sess
			return sess, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.ttl / 4):
		}
	}
}

// Close ends the live session, revoking its lease. It is safe to call
// twice.
func (s *Sessions) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
}
