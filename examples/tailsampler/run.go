package tailsampler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
)

// RunOptions says where Run watches the feed from and where it keeps its
// place.
type RunOptions struct {
	// Where a first start begins (Token, FromStart), how long to wait
	// before reconnecting and where to log. Candidates is set by Run:
	// the feed carries them when the Decider keeps them.
	selectionfeed.WatchOptions
	// TokenFile, if set, keeps the resume token across restarts: Run
	// resumes from the token it holds, if any (it overrides Token), and
	// replaces it after each batch.
	TokenFile string
}

// Run watches tumble's selections on conn and feeds them to d until ctx
// ends (it then returns nil) or the watch fails for good (a refused
// token). Watch keeps the last resume token in memory and reconnects with
// it; with a TokenFile, a restarted sampler resumes after the last batch
// it handled.
//
// A token file that cannot be written is logged and does not stop the
// watch: deciding on fresh selections matters more than the file, and a
// restart from an older token only observes some selections again, which
// changes nothing.
func Run(ctx context.Context, conn grpc.ClientConnInterface, d *Decider, opts RunOptions) error {
	w := opts.WatchOptions
	w.Candidates = d.Candidates()
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.TokenFile != "" {
		token, err := readToken(opts.TokenFile)
		if err != nil {
			return err
		}
		if token != "" {
			w.Token = token
			log.Info("resuming the selections feed", "token_file", opts.TokenFile)
		}
	}
	saved := w.Token
	return selectionfeed.Watch(ctx, conn, w, func(sels []selection.Selection, token string) error {
		d.Observe(sels)
		if opts.TokenFile == "" || token == saved {
			return nil
		}
		if err := writeToken(opts.TokenFile, token); err != nil {
			log.Warn("cannot keep the resume token; a restart will observe some selections again", "err", err)
			return nil
		}
		saved = token
		return nil
	})
}

// readToken returns the token kept in path, or "" if there is none.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read resume token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeToken replaces the token kept in path atomically: a crash leaves
// either the old token or the new one, never a part.
func writeToken(path, token string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write resume token: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write resume token to %s: %w", path, err)
	}
	return nil
}
