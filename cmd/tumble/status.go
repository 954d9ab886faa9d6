package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tumblemetrics/tumble/shard/node"
)

// The status endpoints, in the Prometheus API's envelope:
//
//	/api/v1/status/replicas  this node's replicas: state, leadership, progress
//	/api/v1/status/cluster   the cluster as this node sees it: nodes, and per
//	                         shard its leader, watermark and every replica's
//	                         report (asked of the node that holds it)
func (s *server) registerStatus(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status/replicas", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, s.node.Replicas())
	})
	mux.HandleFunc("GET /api/v1/status/cluster", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.node.ClusterStatus(r.Context())
		switch {
		case errors.Is(err, node.ErrAlone):
			writeStatus(w, http.StatusNotFound, err)
		case err != nil:
			writeStatus(w, http.StatusServiceUnavailable, err)
		default:
			writeStatus(w, http.StatusOK, st)
		}
	})
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
