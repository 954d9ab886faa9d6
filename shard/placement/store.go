package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPrefix is the etcd key prefix of a cluster's keys unless one is
// given.
const DefaultPrefix = "/tumble"

var (
	// ErrNoPlacement is returned by Get and Update when etcd holds no
	// placement: the cluster was not initialized (tumblectl placement
	// init).
	ErrNoPlacement = errors.New("placement: none stored")
	// ErrExists is returned by Create when etcd holds a placement already.
	ErrExists = errors.New("placement: one is stored already")
)

// Store keeps a cluster's placement and its node registrations in etcd:
// the placement, as JSON, at <prefix>/placement, and each live node at
// <prefix>/nodes/<id>. A Store holds no state but its client: its methods
// may be called from any goroutine, and any number of Stores, in any
// number of processes, may share the keys.
type Store struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger
}

// StoreOption changes a Store.
type StoreOption func(*Store)

// WithLogger has the watches of a Store log, to l, what they skip or
// retry: an undecodable or invalid value, a lost watch. Without it they
// log nothing.
func WithLogger(l *slog.Logger) StoreOption {
	return func(s *Store) { s.log = l }
}

// NewStore returns a Store of the keys under prefix (DefaultPrefix if
// empty, a trailing '/' dropped) on cli. The caller keeps cli and closes it
// after the last use of the Store.
func NewStore(cli *clientv3.Client, prefix string, opts ...StoreOption) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &Store{cli: cli, prefix: strings.TrimRight(prefix, "/"), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key is the etcd key of the placement.
func (s *Store) Key() string { return s.prefix + "/placement" }

// Get returns the placement and its etcd mod revision, which changes with
// every update. The error wraps ErrNoPlacement when there is none.
func (s *Store) Get(ctx context.Context) (*Placement, int64, error) {
	p, _, rev, err := s.get(ctx)
	return p, rev, err
}

// get returns the placement, its stored form and mod revision.
func (s *Store) get(ctx context.Context) (*Placement, []byte, int64, error) {
	key := s.Key()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("get placement %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, 0, fmt.Errorf("get placement %s: %w", key, ErrNoPlacement)
	}
	kv := resp.Kvs[0]
	p, err := decode(kv.Value)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("get placement %s at revision %d: %w", key, kv.ModRevision, err)
	}
	return p, kv.Value, kv.ModRevision, nil
}

// decode decodes and validates a stored placement.
func decode(b []byte) (*Placement, error) {
	var p Placement
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode placement: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Create stores p, which must be valid, as the placement of a new
// cluster. The error wraps ErrExists if there is one already: the
// placement of a running cluster changes only through Update.
func (s *Store) Create(ctx context.Context, p *Placement) error {
	key := s.Key()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("create placement %s: %w", key, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("create placement %s: encode: %w", key, err)
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("create placement %s: %w", key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("create placement %s: %w", key, ErrExists)
	}
	return nil
}

// Update reads the placement, applies change to it and stores the result
// if no one else changed the placement in between (a compare-and-swap on
// its mod revision); otherwise it reads the new placement and applies
// change again, until it succeeds, change fails or ctx ends. change may
// thus run several times and must not act but through its result; it
// must not keep the placement it is given. An error of change is returned
// as it is.
//
// The result must be valid and keep the number of shards, which is fixed
// at cluster creation; a result equal to the placement read is not
// written. Update returns the placement stored.
func (s *Store) Update(ctx context.Context, change func(*Placement) (*Placement, error)) (*Placement, error) {
	key := s.Key()
	for {
		cur, raw, rev, err := s.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("update placement: %w", err)
		}
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return nil, fmt.Errorf("update placement %s: the change returned no placement", key)
		}
		if err := next.Validate(); err != nil {
			return nil, fmt.Errorf("update placement %s: %w", key, err)
		}
		if next.Shards != cur.Shards {
			return nil, fmt.Errorf("update placement %s: the change makes %d shards of %d: the number of shards is fixed at cluster creation", key, next.Shards, cur.Shards)
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("update placement %s: encode: %w", key, err)
		}
		if bytes.Equal(b, raw) {
			return next, nil
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(b))).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("update placement %s: %w", key, err)
		}
		if resp.Succeeded {
			return next, nil
		}
		// Another writer came first: apply change to its placement.
	}
}

// Watch sends the placement on the returned channel as soon as there is
// one, then each new placement as it is stored, until ctx ends; then it
// closes the channel. A reader that falls behind is sent only the latest
// placement, never an older one after a newer; after a lost connection to
// etcd the current placement may be sent again. A deleted placement is
// not sent, and a value that is not a valid placement is skipped (and
// logged, see WithLogger).
//
// Watch starts a goroutine that lives until ctx ends: the caller owns it
// through ctx, and knows it has ended when the channel is closed. Cancel
// ctx before closing the Store's client.
func (s *Store) Watch(ctx context.Context) <-chan *Placement {
	key := s.Key()
	return follow(ctx, s.cli, s.log, key, false, func(kvs map[string][]byte) (*Placement, bool) {
		b, ok := kvs[key]
		if !ok {
			return nil, false
		}
		p, err := decode(b)
		if err != nil {
			s.log.Warn("skip an invalid placement", "key", key, "err", err)
			return nil, false
		}
		return p, true
	})
}
