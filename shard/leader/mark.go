package leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrFenced is returned when a write of the shard's output is refused
// because the writer no longer leads (another replica was elected, or its
// lease is gone).
var ErrFenced = errors.New("leader: fenced")

// Mark is the shard's flush watermark in etcd: the leader emitted every
// window that closes at or before Watermark. Windows holds, per storage
// policy, the end of the last window emitted.
type Mark struct {
	Watermark int64            `json:"watermark"`
	Windows   map[string]int64 `json:"windows,omitempty"`
	Leader    string           `json:"leader"`
	Term      int64            `json:"term"` // the leader's election revision
}

// Keys of a shard under the cluster's prefix.
func ElectionKey(prefix string, shard int32) string {
	return path.Join(prefix, "shards", strconv.Itoa(int(shard)), "leader")
}

func MarkKey(prefix string, shard int32) string {
	return path.Join(prefix, "shards", strconv.Itoa(int(shard)), "watermark")
}

// ReadMark returns the shard's flush watermark, math.MinInt64 when no
// leader has recorded one.
func ReadMark(ctx context.Context, cli *clientv3.Client, prefix string, shard int32) (Mark, error) {
	resp, err := cli.Get(ctx, MarkKey(prefix, shard))
	if err != nil {
		return Mark{}, fmt.Errorf("read the watermark of shard %d: %w", shard, err)
	}
	if len(resp.Kvs) == 0 {
		return Mark{Watermark: math.MinInt64}, nil
	}
	return parseMark(shard, resp.Kvs[0].Value)
}

func parseMark(shard int32, b []byte) (Mark, error) {
	var m Mark
	if err := json.Unmarshal(b, &m); err != nil {
		return Mark{}, fmt.Errorf("watermark of shard %d: %w", shard, err)
	}
	return m, nil
}

// writeMark records m as the shard's watermark if the election key
// electionKey still has the creation revision term: only the leader that
// won with it may write. A refusal is ErrFenced.
func writeMark(ctx context.Context, cli *clientv3.Client, prefix string, shard int32, electionKey string, m Mark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(electionKey), "=", m.Term)).
		Then(clientv3.OpPut(MarkKey(prefix, shard), string(b))).
		Commit()
	if err != nil {
		return fmt.Errorf("write the watermark of shard %d: %w", shard, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("write the watermark of shard %d with term %d: %w", shard, m.Term, ErrFenced)
	}
	return nil
}
