package leader

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tumblemetrics/tumble/flush/windowlog"
)

// A replica restarted from a checkpoint closes again only the windows after
// the checkpoint's watermark: the records of those it closed before are in
// no memory, and if the shard's output lags behind that watermark (no
// leader for a while, every replica restarted), no replica could take the
// lead. So a Retained may keep its windows in a file, the snapshot of
// retainedSnapshot below, rewritten at each change by writing a new file
// and renaming it over the old. The replica adds the windows of a flush
// before it takes a checkpoint at that flush's watermark, so the file is
// never older than the checkpoint a restart resumes from (unless the
// machine, not the process, went down before the file reached the disk):
//
//	{"version": 1, "from": MS, "emitted": MS, "windows": [window record, …]}
//
// "from" and the windows are as in Retained; "emitted" is the replica's
// emitted watermark when the snapshot was taken. A restarted replica that
// resumes at watermark W takes the snapshot's windows and its "from" if
// the snapshot's "emitted" is at W or after (the snapshot and the windows
// the replica closes again then cover every window after "from"), and
// starts from W otherwise, as without a file.

const retainedVersion = 1

type retainedSnapshot struct {
	Version int               `json:"version"`
	From    int64             `json:"from"`
	Emitted int64             `json:"emitted"`
	Windows []json.RawMessage `json:"windows"`
}

// parseRetained decodes a snapshot, checking every window record.
func parseRetained(b []byte) (from, emitted int64, ws []windowlog.Window, err error) {
	var s retainedSnapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, 0, nil, fmt.Errorf("retained windows: %w", err)
	}
	if s.Version != retainedVersion {
		return 0, 0, nil, fmt.Errorf("retained windows: version %d, want %d", s.Version, retainedVersion)
	}
	if s.Emitted < s.From {
		return 0, 0, nil, fmt.Errorf("retained windows: emitted %d before from %d", s.Emitted, s.From)
	}
	for i, raw := range s.Windows {
		w, err := windowlog.Decode(raw)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("retained windows: window %d: %w", i, err)
		}
		if w.CloseMs <= s.From || i > 0 && !less(&ws[i-1], &w) {
			return 0, 0, nil, fmt.Errorf("retained windows: window %d (closing at %d) out of order or at or before from %d", i, w.CloseMs, s.From)
		}
		ws = append(ws, w)
	}
	return s.From, s.Emitted, ws, nil
}

func appendRetained(dst []byte, from, emitted int64, ws []windowlog.Window) []byte {
	s := retainedSnapshot{Version: retainedVersion, From: from, Emitted: emitted, Windows: make([]json.RawMessage, len(ws))}
	for i := range ws {
		s.Windows[i] = ws[i].Encode()
	}
	b, _ := json.Marshal(&s) // numbers and valid JSON records
	return append(dst, b...)
}

// OpenRetained returns the retained windows of a replica that resumes at
// emitted watermark emitted, kept in the file at path: those of the file if
// it covers the replica's watermark (see above), none otherwise. A file
// that cannot be read or decoded is logged to log (nil discards) and
// replaced: the replica starts from its watermark, as it would without it.
func OpenRetained(path string, emitted int64, log *slog.Logger) *Retained {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := NewRetained(emitted)
	r.path = path
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r
	}
	var (
		from, saved int64
		ws          []windowlog.Window
	)
	if err == nil {
		from, saved, ws, err = parseRetained(b)
	}
	switch {
	case err != nil:
		log.Warn("retained windows unusable; known from the replica's watermark on", "path", path, "err", err)
	case saved < emitted:
		log.Info("retained windows older than the replica's watermark; known from it on", "path", path, "saved", saved, "emitted", emitted)
	case from < emitted:
		r.from, r.ws = from, ws
		log.Info("retained windows restored", "path", path, "from", from, "windows", len(ws))
	}
	return r
}

// Save writes the windows to the file, if the Retained has one and they
// changed since it last did.
func (r *Retained) Save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.save()
}

// changed notes a change and writes the file. A failed write is retried
// at the next change; the caller of Save sees its error.
func (r *Retained) changed() {
	r.dirty = true
	_ = r.save()
}

func (r *Retained) save() error {
	if r.path == "" || !r.dirty {
		return nil
	}
	r.buf = appendRetained(r.buf[:0], r.from, r.emitted, r.ws)
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, r.buf, 0o644); err != nil {
		return fmt.Errorf("save retained windows: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("save retained windows: %w", err)
	}
	r.dirty = false
	return nil
}

// RetainedPath is where a replica whose directory is dir keeps its
// retained windows.
func RetainedPath(dir string) string { return filepath.Join(dir, "retained.json") }
