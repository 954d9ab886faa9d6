package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// VerifyStats is what Verify found in a WAL directory.
type VerifyStats struct {
	// ReplayStats is what Open and Replay would report on the directory as
	// it stands: the batches before the first corruption, the bytes Open
	// would cut off (a torn tail, or everything from the first corruption
	// on), the last position, and the first corruption.
	ReplayStats

	// Files is the number of segment files read, Bytes their size;
	// First and Last number the oldest and the newest (both 0 when
	// there is none).
	Files       int
	Bytes       int64
	First, Last int

	// Torn is the torn final write at the end of the last segment, which
	// Open cuts off; nil if there is none, or if a corruption comes first
	// (Open then sets the last segment aside whole). A torn tail is what a
	// crash in the middle of Log leaves: that batch was never acknowledged.
	Torn *TornTail

	// Corruptions lists, in order, every missing segment and the first
	// frame that fails a check in each segment that has one. The first is
	// ReplayStats.Corruption; the later ones are in data that Open would
	// set aside anyway.
	Corruptions []*CorruptionError

	// SetAside are the paths of the files an earlier Open set aside at a
	// corruption (NNNNNNNN.corrupt, NNNNNNNN.corrupt.1, …), sorted.
	SetAside []string
}

// TornTail locates a torn final write.
type TornTail struct {
	Segment int
	Offset  int64 // of the partial frame in the segment file
	Bytes   int64 // from Offset to the end of the file
}

// setAsideName matches the names quarantinePath gives.
var setAsideName = regexp.MustCompile(`^[0-9]+\.corrupt(\.[0-9]+)?$`)

// Verify reads every segment of the WAL in dir and checks every frame, as
// Open does, without writing anything: it neither cuts a torn tail nor sets
// a corruption aside, and it takes no lock. Unlike Open, it goes on past the
// first corruption to check the later segments too. An error means the
// directory could not be read; what is wrong with its contents is in
// VerifyStats.
//
// Run it on a WAL that no process is writing, or on a copy: the end of an
// active segment being appended to may read as a torn tail.
func Verify(dir string) (VerifyStats, error) {
	var st VerifyStats
	segs, err := listSegments(dir)
	if err != nil {
		return st, fmt.Errorf("verify WAL %s: %w", dir, err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("verify WAL %s: %w", dir, err)
	}
	for _, de := range des {
		if setAsideName.MatchString(de.Name()) {
			st.SetAside = append(st.SetAside, filepath.Join(dir, de.Name()))
		}
	}
	slices.Sort(st.SetAside)
	if len(segs) == 0 {
		return st, nil
	}
	st.First, st.Last = segs[0], segs[len(segs)-1]

	// Until the first corruption, count what Replay would deliver and
	// what Open would keep; after it, everything is what Open sets aside.
	sound := true
	var last []byte
	visit := func(fr *frame) error {
		if !sound {
			return nil
		}
		if fr.typ == frameBatch {
			st.Batches++
			st.Records += len(fr.records)
		}
		last = append(last[:0], fr.position...)
		return nil
	}
	corrupt := func(c *CorruptionError) {
		st.Corruptions = append(st.Corruptions, c)
		if sound {
			st.Corruption = c
			sound = false
		}
	}
	s := scanner{dir: dir}
	for i, seg := range segs {
		if i > 0 && seg != segs[i-1]+1 {
			if sound {
				st.Segments++ // Open creates the missing segment; Replay reads it
			}
			corrupt(&CorruptionError{Dir: dir, Segment: segs[i-1] + 1, Err: ErrMissingSegment})
		}
		wasSound := sound
		sc, err := s.scan(seg, i == len(segs)-1, visit)
		if err != nil {
			return st, fmt.Errorf("verify WAL %s: %w", dir, err)
		}
		st.Files++
		st.Bytes += sc.size
		if !wasSound {
			st.DiscardedBytes += sc.size
			if sc.corruption != nil {
				corrupt(sc.corruption)
			}
			continue
		}
		st.Segments++
		switch {
		case sc.corruption != nil:
			st.DiscardedBytes += sc.size - sc.end
			corrupt(sc.corruption)
		case sc.torn:
			st.DiscardedBytes += sc.size - sc.end
			st.Torn = &TornTail{Segment: seg, Offset: sc.end, Bytes: sc.size - sc.end}
		}
	}
	if len(last) > 0 {
		st.LastPosition = bytes.Clone(last)
	}
	return st, nil
}
