package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNodeTaken is returned by Register when a node of the same ID is
// registered under another lease: another process runs as that node, or
// the node's previous run has not lost its lease yet.
var ErrNodeTaken = errors.New("placement: node ID registered by another session")

// Node is a live node as it registers itself: its ID in the placement and
// where it serves.
type Node struct {
	ID string `json:"id"`
	// GRPCAddr is where other nodes reach its shards (host:port).
	GRPCAddr string `json:"grpcAddr,omitempty"`
	// HTTPAddr serves the query API and metrics (host:port).
	HTTPAddr string `json:"httpAddr,omitempty"`
}

// nodesPrefix is the prefix of the node keys, with its trailing '/'.
func (s *Store) nodesPrefix() string { return s.prefix + "/nodes/" }

// NodeKey is the etcd key of node id's registration.
func (s *Store) NodeKey(id string) string { return s.nodesPrefix() + id }

// Register records n as live for as long as lease lives: the key goes
// with the lease, so a node that stops, or loses its etcd session, is
// no longer registered once its lease ends. Registering again under the
// same lease replaces the addresses. The error wraps ErrNodeTaken if n.ID
// is registered under another lease.
func (s *Store) Register(ctx context.Context, lease clientv3.LeaseID, n Node) error {
	if err := ValidNodeID(n.ID); err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	key := s.NodeKey(n.ID)
	if lease == clientv3.NoLease {
		return fmt.Errorf("register node %q: no lease: the registration would outlive the node", n.ID)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("register node %q: encode: %w", n.ID, err)
	}
	put := clientv3.OpPut(key, string(b), clientv3.WithLease(lease))
	for {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(put).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return fmt.Errorf("register node %q at %s: %w", n.ID, key, err)
		}
		if resp.Succeeded {
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 1 && clientv3.LeaseID(kvs[0].Lease) != lease {
			return fmt.Errorf("register node %q at %s: lease %x holds it, not %x: %w", n.ID, key, kvs[0].Lease, lease, ErrNodeTaken)
		}
		resp, err = s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).
			Then(put).
			Commit()
		if err != nil {
			return fmt.Errorf("register node %q at %s: %w", n.ID, key, err)
		}
		if resp.Succeeded {
			return nil
		}
		// The key went, or came under another lease, in between: again.
	}
}

// Nodes returns the registered nodes by ID. It fails, naming the key, if a
// registration does not decode.
func (s *Store) Nodes(ctx context.Context) (map[string]Node, error) {
	resp, err := s.cli.Get(ctx, s.nodesPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("get nodes under %s: %w", s.nodesPrefix(), err)
	}
	nodes := make(map[string]Node, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n, err := s.decodeNode(string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		nodes[n.ID] = n
	}
	return nodes, nil
}

// decodeNode decodes the registration at key.
func (s *Store) decodeNode(key string, b []byte) (Node, error) {
	var n Node
	if err := json.Unmarshal(b, &n); err != nil {
		return Node{}, fmt.Errorf("decode node at %s: %w", key, err)
	}
	if id := strings.TrimPrefix(key, s.nodesPrefix()); n.ID != id {
		return Node{}, fmt.Errorf("decode node at %s: its ID is %q, not %q", key, n.ID, id)
	}
	return n, nil
}

// WatchNodes sends the registered nodes, all of them each time, on the
// returned channel: first the current ones, then the new set after each
// change, until ctx ends; then it closes the channel. A reader that falls
// behind is sent only the latest set; after a lost connection to etcd the
// current set may be sent again. A registration that does not decode is
// left out (and logged, see WithLogger).
//
// Like Watch, WatchNodes starts a goroutine owned by ctx; the channel is
// closed once it has ended. Cancel ctx before closing the Store's client.
func (s *Store) WatchNodes(ctx context.Context) <-chan map[string]Node {
	return follow(ctx, s.cli, s.log, s.nodesPrefix(), true, func(kvs map[string][]byte) (map[string]Node, bool) {
		nodes := make(map[string]Node, len(kvs))
		for key, b := range kvs {
			n, err := s.decodeNode(key, b)
			if err != nil {
				s.log.Warn("skip an invalid node registration", "key", key, "err", err)
				continue
			}
			nodes[n.ID] = n
		}
		return nodes, true
	})
}
