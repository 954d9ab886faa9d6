package replica

import (
	"strings"
	"testing"
)

// TestResumePoint: a replica reads its partition on from where it stopped
// while the partition holds that offset, from the partition's start (the
// records before it lost) when retention deleted records it had not read,
// and not at all when the partition ends before it.
func TestResumePoint(t *testing.T) {
	for _, tc := range []struct {
		name               string
		resume, start, end int64
		from, lost         int64
		ok                 bool
	}{
		{"empty partition, fresh replica", 0, 0, 0, 0, 0, true},
		{"inside the log", 5, 0, 10, 5, 0, true},
		{"at the end", 10, 0, 10, 10, 0, true},
		{"at the start", 4, 4, 10, 4, 0, true},
		{"records deleted unread", 2, 7, 10, 7, 5, true},
		{"every record deleted unread", 2, 10, 10, 10, 8, true},
		{"recreated empty", 10, 0, 0, 0, 0, false},
		{"truncated", 10, 0, 9, 0, 0, false},
		{"recreated and deleted past", 10, 3, 3, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, lost, ok := resumePoint(tc.resume, tc.start, tc.end)
			if from != tc.from || lost != tc.lost || ok != tc.ok {
				t.Fatalf("resume %d in [%d, %d): got from %d, lost %d, ok %v; want %d, %d, %v",
					tc.resume, tc.start, tc.end, from, lost, ok, tc.from, tc.lost, tc.ok)
			}
		})
	}
}

// TestOffsetsErrorMessage: the error names the shard, the topic, the
// resume offset, the partition's end and what the operator can do.
func TestOffsetsErrorMessage(t *testing.T) {
	err := &OffsetsError{Shard: 3, Topic: "tumble-shards", Resume: 1234, Start: 0, End: 17, Dir: "data/shard-3/checkpoints"}
	msg := err.Error()
	for _, want := range []string{"shard 3", "topic tumble-shards", "ends at offset 17", "offset 1234 where the replica resumes",
		"created again, or truncated", "Restore the topic", "data/shard-3/checkpoints"} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %q, want it to say %q", msg, want)
		}
	}
}
