package router

import "github.com/twmb/franz-go/pkg/kgo"

// highWatermarks holds, per raw-topic partition, the high watermark of the
// last fetch that told it. Run owns it.
type highWatermarks map[TopicPartition]int64

// fetched takes the high watermarks of the partitions of fs that fetched
// without an error.
func (hw highWatermarks) fetched(fs kgo.Fetches) {
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err == nil && p.HighWatermark >= 0 {
			hw[TopicPartition{p.Topic, p.Partition}] = p.HighWatermark
		}
	})
}

// lag sets dst to the consumer lag of every partition that has a high
// watermark and an offset in next (the next offset to consume of every
// partition the router owns, as kgo.Client.CommittedOffsets returns it in
// a transactional session): the high watermark less that offset, or 0 if
// the watermark is behind it. The partitions of hw that next does not
// hold have been revoked or lost, or have no position yet: they leave hw,
// to be fetched again if they come back. It returns dst, a new map if dst
// is nil.
func (hw highWatermarks) lag(next map[string]map[int32]kgo.EpochOffset, dst map[TopicPartition]int64) map[TopicPartition]int64 {
	if dst == nil {
		dst = map[TopicPartition]int64{}
	}
	clear(dst)
	for tp, h := range hw {
		off, ok := next[tp.Topic][tp.Partition]
		if !ok || off.Offset < 0 {
			delete(hw, tp)
			continue
		}
		dst[tp] = max(0, h-off.Offset)
	}
	return dst
}
