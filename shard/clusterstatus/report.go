package clusterstatus

import "github.com/tumblemetrics/tumble/shard/placement"

// Report is the cluster as one node sees it.
type Report struct {
	Node     string  `json:"node"` // the node that answered
	TimeMs   int64   `json:"timeMs"`
	Shards   int     `json:"shards"`
	Replicas int     `json:"replicas"`
	Nodes    []Node  `json:"nodes"`
	Shard    []Shard `json:"shardStatus"`
}

// Node is a node of the placement or of the registrations.
type Node struct {
	ID         string `json:"id"`
	Member     bool   `json:"member"`
	Registered bool   `json:"registered"`
	GRPCAddr   string `json:"grpcAddr,omitempty"`
	HTTPAddr   string `json:"httpAddr,omitempty"`
}

// Shard is one shard: its leadership, its output and its replicas.
type Shard struct {
	Shard       int32  `json:"shard"`
	Leader      string `json:"leader,omitempty"`
	Term        int64  `json:"term,omitempty"`
	WatermarkMs *int64 `json:"watermarkMs,omitempty"`
	// WatermarkLagSeconds is how far the shard's output trails the
	// answering node's clock.
	WatermarkLagSeconds *float64  `json:"watermarkLagSeconds,omitempty"`
	Replicas            []Replica `json:"replicas"`
}

// Replica is a node's report of one of its replicas.
type Replica struct {
	Node  string          `json:"node"`
	Shard int32           `json:"shard"`
	State placement.State `json:"state,omitempty"`
	// Leading, Term, CanLead and RetainedWindows are the replica's
	// leadership (in a cluster).
	Leading         bool   `json:"leading"`
	Term            int64  `json:"term,omitempty"`
	CanLead         string `json:"canLead,omitempty"`
	RetainedWindows int    `json:"retainedWindows"`
	// EmittedMs is the replica's watermark: it closed and stored every
	// window closing at or before it.
	EmittedMs *int64 `json:"emittedMs,omitempty"`
	// BehindSeconds is how far EmittedMs trails the shard's flush
	// watermark (0 when ahead).
	BehindSeconds *float64 `json:"behindSeconds,omitempty"`
	LagRecords    int64    `json:"lagRecords"`
	Offset        int64    `json:"offset"`
	ActiveSeries  int      `json:"activeSeries"`
	// Error says why the node holding the replica did not report it.
	Error string `json:"error,omitempty"`
}
