package leader

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/windowlog"
)

func rwin(closeMs int64) windowlog.Window {
	return windowlog.Window{Shard: 1, Policy: "10s:2d", StartMs: closeMs - 20, EndMs: closeMs - 10, CloseMs: closeMs, Points: 3, Digest: "ab"}
}

// TestOpenRetained keeps a replica's windows across restarts: restored when
// the file covers where the replica resumes, not when it is older, broken
// or missing.
func TestOpenRetained(t *testing.T) {
	path := RetainedPath(t.TempDir())
	r := OpenRetained(path, 100, nil)
	if from, emitted := r.State(); from != 100 || emitted != 100 || r.Len() != 0 {
		t.Fatalf("without a file: from %d, emitted %d, %d windows", from, emitted, r.Len())
	}
	r.Add(300, []windowlog.Window{rwin(200), rwin(300)})
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		resumeAt int64
		wantFrom int64
		want     []windowlog.Window
	}{
		{"resumes before the file's end: restored", 150, 100, []windowlog.Window{rwin(200), rwin(300)}},
		{"resumes at the file's end: restored", 300, 100, []windowlog.Window{rwin(200), rwin(300)}},
		{"resumes after the file's end: a gap, not restored", 400, 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := OpenRetained(path, tc.resumeAt, nil)
			from, emitted := r.State()
			if got := r.Between(from, 1<<62); from != tc.wantFrom || emitted != tc.resumeAt || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("from %d, emitted %d, windows %+v; want from %d, emitted %d, windows %+v", from, emitted, got, tc.wantFrom, tc.resumeAt, tc.want)
			}
		})
	}

	// The output passed 200: the file forgets it.
	r.Prune(200)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	r2 := OpenRetained(path, 250, nil)
	if from, _ := r2.State(); from != 200 || !reflect.DeepEqual(r2.Between(0, 1<<62), []windowlog.Window{rwin(300)}) {
		t.Errorf("after pruning: from %d, windows %+v", from, r2.Between(0, 1<<62))
	}
	// Nothing changed: Save writes nothing.
	os.Remove(path)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an unchanged Retained wrote its file: %v", err)
	}

	early := rwin(200)
	// A broken file is set aside: the replica starts from its watermark.
	for _, bad := range []string{"{", `{"version":2,"from":1,"emitted":2,"windows":[]}`,
		`{"version":1,"from":250,"emitted":400,"windows":[` + string(early.Encode()) + `]}`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if from, _ := OpenRetained(path, 150, nil).State(); from != 150 {
			t.Errorf("file %s: from %d, want 150", bad, from)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "retained.json.tmp")); !os.IsNotExist(err) {
		t.Errorf("a temporary file is left: %v", err)
	}
}

// FuzzRetained: any file decodes or is refused, and what decodes encodes
// to the same.
func FuzzRetained(f *testing.F) {
	f.Add(appendRetained(nil, 100, 300, []windowlog.Window{rwin(200), rwin(300)}))
	f.Add([]byte(`{"version":1,"from":0,"emitted":0,"windows":[]}`))
	f.Add([]byte(`{"version":1,"from":5,"emitted":1,"windows":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		from, emitted, ws, err := parseRetained(b)
		if err != nil {
			return
		}
		from2, emitted2, ws2, err := parseRetained(appendRetained(nil, from, emitted, ws))
		if err != nil || from2 != from || emitted2 != emitted || !reflect.DeepEqual(ws2, ws) {
			t.Fatalf("round trip: %d %d %+v, %v; want %d %d %+v", from2, emitted2, ws2, err, from, emitted, ws)
		}
	})
}

// TestBetweenCopies: the windows Between returns are the caller's to
// stamp, selections included, while the retained ones may be writing to
// the file (a race under -race before).
func TestBetweenCopies(t *testing.T) {
	r := NewRetained(0)
	r.Add(20, []windowlog.Window{{Policy: "10s:2d", EndMs: 10, CloseMs: 20,
		Selections: []selection.Selection{{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Reason: selection.Final}}}})
	ws := r.Between(0, 20)
	ws[0].Leader = "a"
	ws[0].Selections[0].Leader, ws[0].Selections[0].Term = "a", 7
	again := r.Between(0, 20)
	if again[0].Leader != "" || again[0].Selections[0].Leader != "" || again[0].Selections[0].Term != 0 {
		t.Errorf("retained window after the caller stamped its copy: got %+v, want it unstamped", again[0])
	}
}
