package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tumblemetrics/tumble/shard/clusterstatus"
)

// clusterStatusCmd prints the cluster's status as a node serves it.
func clusterStatusCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:9201", "HTTP address of any node of the cluster")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the node")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) > 0 {
		return exitError, fmt.Errorf("cluster status: unexpected argument %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	u := strings.TrimSuffix(*url, "/") + "/api/v1/status/cluster"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return exitError, fmt.Errorf("cluster status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return exitError, fmt.Errorf("cluster status: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string                `json:"status"`
		Data   *clusterstatus.Report `json:"data"`
		Error  string                `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return exitError, fmt.Errorf("cluster status: %s answered %s: %w", u, resp.Status, err)
	}
	if env.Status != "success" || env.Data == nil {
		return exitError, fmt.Errorf("cluster status: %s answered %s: %s", u, resp.Status, env.Error)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitOK, enc.Encode(env.Data)
	}
	return exitOK, clusterstatus.WriteTable(stdout, env.Data)
}
