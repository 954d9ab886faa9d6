package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// recover brings the directory to a sound log, as Open documents: it reads
// every segment, cuts off a torn tail, quarantines everything from the first
// corruption on, and sets first, active, size, batches and lastPos.
//
// Every step leaves the directory in a state the next recover handles,
// should a crash interrupt it: the later segments are moved aside before the
// corrupt one is cut, so a crash in between can never make them follow a
// hole in the log.
func (w *WAL) recover() error {
	if err := removeTemporary(w.dir); err != nil {
		return err
	}
	segs, err := listSegments(w.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		size, err := createSegment(w.dir, 0, nil)
		if err != nil {
			return err
		}
		w.first, w.active, w.size = 0, 0, size
		return nil
	}
	w.first = segs[0]
	s := scanner{dir: w.dir}
	visit := func(fr *frame) error {
		if fr.typ == frameBatch {
			w.batches++
		}
		w.lastPos = append(w.lastPos[:0], fr.position...)
		return nil
	}
	for i, seg := range segs {
		if i > 0 && seg != segs[i-1]+1 {
			missing := segs[i-1] + 1
			c := &CorruptionError{Dir: w.dir, Segment: missing, Err: ErrMissingSegment}
			if err := w.quarantine(c, segs[i:]); err != nil {
				return err
			}
			size, err := createSegment(w.dir, missing, w.lastPos)
			if err != nil {
				return err
			}
			w.active, w.size, w.batches = missing, size, 0
			return nil
		}
		w.batches = 0
		sc, err := s.scan(seg, i == len(segs)-1, visit)
		if err != nil {
			return err
		}
		w.active, w.size = seg, sc.end
		switch {
		case sc.corruption != nil:
			if err := w.quarantine(sc.corruption, segs[i+1:]); err != nil {
				return err
			}
			name := quarantinePath(w.dir, seg)
			if err := copyFileSync(segmentPath(w.dir, seg), name); err != nil {
				return fmt.Errorf("quarantine WAL segment %d: %w", seg, err)
			}
			w.opened.Quarantined = append(w.opened.Quarantined, name)
			w.opened.DiscardedBytes += sc.size - sc.end
			if w.size, err = cutSegment(w.dir, seg, sc.end); err != nil {
				return err
			}
			return nil
		case sc.torn:
			w.opened.DiscardedBytes += sc.size - sc.end
			if w.size, err = cutSegment(w.dir, seg, sc.end); err != nil {
				return err
			}
		}
	}
	return nil
}

// quarantine records the corruption c and renames the segments later
// (all after it) aside.
func (w *WAL) quarantine(c *CorruptionError, later []int) error {
	w.opened.Corruption = c
	for _, seg := range later {
		path := segmentPath(w.dir, seg)
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("quarantine WAL segment %d: %w", seg, err)
		}
		name := quarantinePath(w.dir, seg)
		if err := os.Rename(path, name); err != nil {
			return fmt.Errorf("quarantine WAL segment %d: %w", seg, err)
		}
		w.opened.DiscardedBytes += fi.Size()
		w.opened.Quarantined = append(w.opened.Quarantined, name)
	}
	if len(later) > 0 {
		if err := syncDir(w.dir); err != nil {
			return fmt.Errorf("quarantine WAL segments: %w", err)
		}
	}
	return nil
}

// cutSegment truncates segment seg to end bytes, durably, and returns its
// new size. A segment whose header is bad (end is 0) gets a new header.
func cutSegment(dir string, seg int, end int64) (int64, error) {
	f, err := os.OpenFile(segmentPath(dir, seg), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("cut WAL segment %d: %w", seg, err)
	}
	defer f.Close()
	if end < segmentHeaderSize {
		h := segmentHeader()
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("cut WAL segment %d: %w", seg, err)
		}
		if _, err := f.WriteAt(h[:], 0); err != nil {
			return 0, fmt.Errorf("cut WAL segment %d: %w", seg, err)
		}
		end = segmentHeaderSize
	} else if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("cut WAL segment %d at offset %d: %w", seg, end, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync WAL segment %d: %w", seg, err)
	}
	return end, f.Close()
}

// quarantinePath returns a free name for a quarantined copy of segment seg:
// its name followed by ".corrupt", then by a counter if that is taken.
func quarantinePath(dir string, seg int) string {
	base := segmentPath(dir, seg) + ".corrupt"
	name := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.%d", base, i)
	}
}

// copyFileSync copies the file src to the new file dst, durably.
func copyFileSync(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// removeTemporary deletes the temporary files a crash may have left while a
// segment was being created.
func removeTemporary(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list WAL directory: %w", err)
	}
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), tmpSuffix)
		if _, isSeg := parseSegmentName(name); !ok || !isSeg {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove temporary WAL file: %w", err)
		}
	}
	return nil
}
