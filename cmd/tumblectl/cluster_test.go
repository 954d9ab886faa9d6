package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestClusterStatus asks a node that answers with a report, one that runs
// alone, and an address where nothing listens.
func TestClusterStatus(t *testing.T) {
	report, err := os.ReadFile("../../shard/clusterstatus/testdata/report.json")
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile("../../shard/clusterstatus/testdata/report.golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/status/cluster" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":%s}`, report)
	}))
	defer node.Close()
	alone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"this node runs alone, not in a cluster (no cluster.etcd)"}`)
	}))
	defer alone.Close()

	status, stdout, stderr := tumblectl(t, "", "cluster", "status", "--url", node.URL)
	if status != exitOK || stdout != string(table) {
		t.Errorf("status %d, stderr %q; stdout:\n%s\nwant:\n%s", status, stderr, stdout, table)
	}
	status, stdout, _ = tumblectl(t, "", "cluster", "status", "--url", node.URL+"/", "--json")
	if status != exitOK || !strings.Contains(stdout, `"shardStatus"`) || !strings.Contains(stdout, `"leader": "a"`) {
		t.Errorf("--json: status %d:\n%s", status, stdout)
	}
	status, _, stderr = tumblectl(t, "", "cluster", "status", "--url", alone.URL)
	if status != exitError || !strings.Contains(stderr, "404 Not Found: this node runs alone") {
		t.Errorf("a node alone: status %d, stderr %q", status, stderr)
	}
	addr := node.URL
	node.Close()
	status, _, stderr = tumblectl(t, "", "cluster", "status", "--url", addr, "--timeout", "2s")
	if status != exitError || !strings.Contains(stderr, "cluster status:") {
		t.Errorf("no node: status %d, stderr %q", status, stderr)
	}
}
