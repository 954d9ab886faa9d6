package router

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// TestCheckCommitted: with raw partitions whose logs hold offsets [0, 3),
// [4, 5) (four records deleted) and [0, 2), a committed offset within a
// log is no gap, nor is a partition without one or one not assigned; an
// offset past a log's end is a recreated partition, and one before its
// start tells the records lost.
func TestCheckCommitted(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx := context.Background()
	c := testCluster(t, map[string]int32{"raw-a": 2, "raw-b": 1})
	cl := testClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for _, p := range []struct {
		topic     string
		partition int32
		n         int
	}{{"raw-a", 0, 3}, {"raw-a", 1, 5}, {"raw-b", 0, 2}} {
		for range p.n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: p.topic, Partition: p.partition, Value: []byte("{}")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var del kadm.Offsets
	del.AddOffset("raw-a", 1, 4, -1)
	if resps, err := adm.DeleteRecords(ctx, del); err != nil || resps.Error() != nil {
		t.Fatalf("delete records: %v, %v", err, resps.Error())
	}

	a0, a1, b0 := TopicPartition{"raw-a", 0}, TopicPartition{"raw-a", 1}, TopicPartition{"raw-b", 0}
	all := []TopicPartition{a0, a1, b0}
	for _, tc := range []struct {
		name     string
		commit   map[TopicPartition]int64
		assigned []TopicPartition
		want     []OffsetGap
	}{
		{"within the logs", map[TopicPartition]int64{a0: 3, a1: 4, b0: 1}, all, nil},
		{"nothing committed", nil, all, nil},
		{"past the end", map[TopicPartition]int64{a0: 10, a1: 5, b0: 0}, all,
			[]OffsetGap{{TopicPartition: a0, Committed: 10, Start: 0, End: 3}}},
		{"before the start", map[TopicPartition]int64{a1: 1}, all,
			[]OffsetGap{{TopicPartition: a1, Committed: 1, Start: 4, End: 5}}},
		{"both, in assigned order", map[TopicPartition]int64{a0: 0, a1: 0, b0: 7}, []TopicPartition{b0, a0, a1},
			[]OffsetGap{{TopicPartition: b0, Committed: 7, Start: 0, End: 2}, {TopicPartition: a1, Committed: 0, Start: 4, End: 5}}},
		{"not assigned", map[TopicPartition]int64{a0: 10, b0: 1}, []TopicPartition{b0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := "routers-" + strings.ReplaceAll(tc.name, " ", "-")
			var offs kadm.Offsets
			for tp, at := range tc.commit {
				offs.AddOffset(tp.Topic, tp.Partition, at, -1)
			}
			// A partition without a commit is listed with offset -1.
			committed := map[string]map[int32]kgo.EpochOffset{"raw-a": {0: {Epoch: -1, Offset: -1}}}
			if len(offs) > 0 {
				if resps, err := adm.CommitOffsets(ctx, group, offs); err != nil || resps.Error() != nil {
					t.Fatalf("commit: %v, %v", err, resps.Error())
				}
				fetched, err := adm.FetchOffsets(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				committed = map[string]map[int32]kgo.EpochOffset{}
				fetched.Each(func(o kadm.OffsetResponse) {
					if committed[o.Topic] == nil {
						committed[o.Topic] = map[int32]kgo.EpochOffset{}
					}
					committed[o.Topic][o.Partition] = kgo.EpochOffset{Epoch: o.LeaderEpoch, Offset: o.At}
				})
			}
			got, err := checkCommitted(ctx, adm, committed, tc.assigned)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// A partition that cannot be listed is named in the error; the gaps
	// of the others still come.
	missing := TopicPartition{"raw-missing", 0}
	committed := map[string]map[int32]kgo.EpochOffset{"raw-a": {0: {Epoch: -1, Offset: 10}}, "raw-missing": {0: {Epoch: -1, Offset: 5}}}
	got, err := checkCommitted(ctx, adm, committed, []TopicPartition{a0, missing})
	if err == nil || !strings.Contains(err.Error(), "raw-missing/0") {
		t.Fatalf("got error %v, want one naming raw-missing/0", err)
	}
	if want := []OffsetGap{{TopicPartition: a0, Committed: 10, Start: 0, End: 3}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("with an unknown topic: got %+v, want %+v", got, want)
	}
}

// TestOffsetGapReport: what a gap says, in its message and its log
// attributes, for a recreated partition and for records lost.
func TestOffsetGapReport(t *testing.T) {
	for _, tc := range []struct {
		name      string
		gap       OffsetGap
		recreated bool
		lost      int64
		says      []string
	}{
		{"recreated", OffsetGap{TopicPartition{"raw", 2}, 10, 0, 3}, true, 0,
			[]string{"raw/2", "ends at offset 3", "committed offset 10", "created again, or truncated", "read again from offset 0"}},
		{"records lost", OffsetGap{TopicPartition{"raw", 1}, 1, 4, 5}, false, 3,
			[]string{"raw/1", "starts at offset 4", "committed offset 1", "3 records were deleted", "lost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.gap.Recreated(); got != tc.recreated {
				t.Errorf("Recreated: got %v, want %v", got, tc.recreated)
			}
			if got := tc.gap.Lost(); got != tc.lost {
				t.Errorf("Lost: got %d, want %d", got, tc.lost)
			}
			msg := tc.gap.String()
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("got %q, want it to say %q", msg, s)
				}
			}
			args := tc.gap.logArgs()
			want := []any{"topic", tc.gap.Topic, "partition", tc.gap.Partition, "committed", tc.gap.Committed,
				"start", tc.gap.Start, "end", tc.gap.End, "recreated", tc.recreated, "records_lost", tc.lost}
			if !reflect.DeepEqual(args, want) {
				t.Errorf("log attributes: got %v, want %v", args, want)
			}
		})
	}
}
