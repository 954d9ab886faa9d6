package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tumblemetrics/tumble/shard/clusterstatus"
	"github.com/tumblemetrics/tumble/shard/placement"
)

// The status endpoints, in the Prometheus API's envelope:
//
//	/api/v1/status/replicas  this node's replicas: state, leadership, progress
//	/api/v1/status/cluster   the cluster as this node sees it: nodes, and per
//	                         shard its leader, watermark and every replica's
//	                         report (asked of the node that holds it)

func (s *server) registerStatus(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status/replicas", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, s.replicaStatuses())
	})
	mux.HandleFunc("GET /api/v1/status/cluster", func(w http.ResponseWriter, r *http.Request) {
		if s.cluster == nil {
			writeStatus(w, http.StatusNotFound, fmt.Errorf("this node runs alone, not in a cluster (no cluster.etcd)"))
			return
		}
		st, err := s.cluster.status(r.Context(), s.replicaStatuses())
		if err != nil {
			writeStatus(w, http.StatusServiceUnavailable, err)
			return
		}
		writeStatus(w, http.StatusOK, st)
	})
}

// replicaStatuses reports the node's replicas.
func (s *server) replicaStatuses() []clusterstatus.Replica {
	node := s.cfg.Cluster.Node
	var out []clusterstatus.Replica
	for _, ls := range s.localShards() {
		st := ls.rep.Published()
		rs := clusterstatus.Replica{Node: node, Shard: ls.id, State: ls.state, EmittedMs: knownMs(st.Watermark),
			LagRecords: st.Lag, Offset: st.Offset, ActiveSeries: st.ActiveSeries}
		if ls.lead != nil {
			ld := ls.lead.Status()
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

// status gathers the cluster's status: the placement and registrations
// from etcd, the leaderships as observed, and each node's report of its
// replicas (local ones given).
func (c *clusterNode) status(ctx context.Context, local []clusterstatus.Replica) (*clusterstatus.Report, error) {
	p, _, err := c.store.Get(ctx)
	if err != nil {
		return nil, err
	}
	regs, err := c.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	st := &clusterstatus.Report{Node: c.cfg.Cluster.Node, TimeMs: now.UnixMilli(), Shards: p.Shards, Replicas: p.Replicas}
	for _, id := range p.Nodes() {
		n, reg := regs[id]
		st.Nodes = append(st.Nodes, clusterstatus.Node{ID: id, Member: slices.Contains(p.Members, id), Registered: reg,
			GRPCAddr: n.GRPCAddr, HTTPAddr: n.HTTPAddr})
	}
	// Each node's report, asked at once.
	reports := map[string][]clusterstatus.Replica{c.cfg.Cluster.Node: local}
	errs := map[string]error{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for id, n := range regs {
		if id == c.cfg.Cluster.Node {
			continue
		}
		wg.Go(func() {
			rs, err := fetchReplicas(ctx, n.HTTPAddr)
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
			case r.Node != c.cfg.Cluster.Node && !registered(regs, r.Node):
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

// fetchReplicas asks the node at addr for its replicas' status.
func fetchReplicas(ctx context.Context, addr string) ([]clusterstatus.Replica, error) {
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

// writeStatus writes data, or an error, in the API's envelope.
func writeStatus(w http.ResponseWriter, code int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	env := map[string]any{"status": "success", "data": data}
	if err, ok := data.(error); ok {
		env = map[string]any{"status": "error", "errorType": "unavailable", "error": err.Error()}
	}
	json.NewEncoder(w).Encode(env)
}

// knownMs returns &ms, or nil for the unknown watermark.
func knownMs(ms int64) *int64 {
	if ms == math.MinInt64 {
		return nil
	}
	return &ms
}
