package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tumblemetrics/tumble/shard/clusterstatus"
	"github.com/tumblemetrics/tumble/shard/placement"
)

// ErrAlone answers what only a node of a cluster can tell.
var ErrAlone = errors.New("this node runs alone, not in a cluster (no cluster.etcd)")

// Replicas reports the node's replicas: state, leadership, progress. Any
// goroutine may call it.
func (n *Node) Replicas() []clusterstatus.Replica {
	var node string
	if n.cluster != nil {
		node = n.cluster.opts.Node
	}
	var out []clusterstatus.Replica
	for _, r := range n.replicas() {
		st := r.rep.Published()
		rs := clusterstatus.Replica{Node: node, Shard: r.id, State: *r.state.Load(), EmittedMs: knownMs(st.Watermark),
			LagRecords: st.Lag, Offset: st.Offset, ActiveSeries: st.ActiveSeries}
		if r.lead != nil {
			ld := r.lead.Status()
			rs.Leading, rs.Term, rs.CanLead, rs.RetainedWindows = ld.Leading, ld.Term, ld.CanLead, ld.Retained
			if ld.Mark != math.MinInt64 && st.Watermark != math.MinInt64 {
				behind := max(0, float64(ld.Mark-st.Watermark)/1000)
				rs.BehindSeconds = &behind
			}
		}
		out = append(out, rs)
	}
	return out
}

// ClusterStatus gathers the cluster's status as this node sees it: the
// placement and registrations from etcd, the leaderships as observed, and
// each node's report of its replicas, asked of the node over HTTP
// (/api/v1/status/replicas). Alone, it returns ErrAlone.
func (n *Node) ClusterStatus(ctx context.Context) (*clusterstatus.Report, error) {
	if n.cluster == nil {
		return nil, ErrAlone
	}
	return n.cluster.status(ctx, n.Replicas())
}

// status gathers the cluster's status, with this node's replicas given.
func (c *cluster) status(ctx context.Context, local []clusterstatus.Replica) (*clusterstatus.Report, error) {
	p, _, err := c.store.Get(ctx)
	if err != nil {
		return nil, err
	}
	regs, err := c.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	st := &clusterstatus.Report{Node: c.opts.Node, TimeMs: now.UnixMilli(), Shards: p.Shards, Replicas: p.Replicas}
	for _, id := range p.Nodes() {
		n, reg := regs[id]
		st.Nodes = append(st.Nodes, clusterstatus.Node{ID: id, Member: slices.Contains(p.Members, id), Registered: reg,
			GRPCAddr: n.GRPCAddr, HTTPAddr: n.HTTPAddr})
	}
	// Each node's report, asked at once.
	reports := map[string][]clusterstatus.Replica{c.opts.Node: local}
	errs := map[string]error{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for id, n := range regs {
		if id == c.opts.Node {
			continue
		}
		wg.Go(func() {
			rs, err := FetchReplicas(ctx, n.HTTPAddr)
			mu.Lock()
			defer mu.Unlock()
			reports[id], errs[id] = rs, err
		})
	}
	wg.Wait()
	views := c.observer.Shards(p.Shards)
	for i, v := range views {
		ss := clusterstatus.Shard{Shard: int32(i), Leader: v.Leader, Term: v.Term, WatermarkMs: knownMs(v.Mark.Watermark)}
		if ss.WatermarkMs != nil {
			lag := max(0, float64(now.UnixMilli()-v.Mark.Watermark)/1000)
			ss.WatermarkLagSeconds = &lag
		}
		for _, r := range p.Assignment[i] {
			rs := clusterstatus.Replica{Node: r.Node, Shard: int32(i), State: r.State}
			switch rep, ok := findReplica(reports[r.Node], int32(i)); {
			case ok:
				rs = rep
				rs.State = r.State
				if rs.EmittedMs != nil && ss.WatermarkMs != nil {
					behind := max(0, float64(*ss.WatermarkMs-*rs.EmittedMs)/1000)
					rs.BehindSeconds = &behind
				}
			case errs[r.Node] != nil:
				rs.Error = errs[r.Node].Error()
			case r.Node != c.opts.Node && !registered(regs, r.Node):
				rs.Error = "node not registered (down, or its session lost)"
			default:
				rs.Error = "node does not run this replica yet"
			}
			ss.Replicas = append(ss.Replicas, rs)
		}
		st.Shard = append(st.Shard, ss)
	}
	return st, nil
}

func registered(regs map[string]placement.Node, id string) bool {
	_, ok := regs[id]
	return ok
}

func findReplica(rs []clusterstatus.Replica, shard int32) (clusterstatus.Replica, bool) {
	for _, r := range rs {
		if r.Shard == shard {
			return r, true
		}
	}
	return clusterstatus.Replica{}, false
}

// FetchReplicas asks the node whose HTTP API is at addr for its replicas' status.
func FetchReplicas(ctx context.Context, addr string) ([]clusterstatus.Replica, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/status/replicas", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", addr, err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string                  `json:"status"`
		Data   []clusterstatus.Replica `json:"data"`
		Error  string                  `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, fmt.Errorf("ask %s: %s: %w", addr, resp.Status, err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("ask %s: %s: %s", addr, resp.Status, env.Error)
	}
	return env.Data, nil
}

// knownMs returns &ms, or nil for the unknown watermark.
func knownMs(ms int64) *int64 {
	if ms == math.MinInt64 {
		return nil
	}
	return &ms
}
