package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ensureTopics creates the topics the node needs that do not exist, and
// checks that those of the shards have one partition per shard.
func (n *Node) ensureTopics(ctx context.Context) error {
	k := n.opts.Kafka
	cl, err := kgo.NewClient(k.Client...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	shards := int32(n.opts.Shards)
	want := map[string]int32{k.ShardTopic: shards, k.DeadLetterTopic: 1, k.WindowTopic: shards, k.SelectionTopic: shards}
	for _, t := range k.RawTopics {
		want[t] = shards
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for name, parts := range want {
		if d, ok := td[name]; ok {
			if name != k.DeadLetterTopic && !slices.Contains(k.RawTopics, name) && len(d.Partitions) != n.opts.Shards {
				return fmt.Errorf("topic %s has %d partitions, the configuration %d shards", name, len(d.Partitions), n.opts.Shards)
			}
			continue
		}
		_, err := adm.CreateTopic(ctx, parts, -1, nil, name)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			continue // another node made it meanwhile
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
		n.log.Info("topic created", "topic", name, "partitions", parts)
	}
	return nil
}
