package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
)

// errEnough ends a watch that has printed --count selections.
var errEnough = errors.New("enough selections")

// tracesWatchCmd prints the traces tumble selects as they come, and keeps
// their IDs in a keep-list file.
func tracesWatchCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("traces watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9301", "gRPC address of any tumble node")
	candidates := fs.Bool("candidates", false, "print the candidates of open windows too")
	fromStart := fs.Bool("from-start", false, "start with the oldest selection kept, not with the next")
	tokenFile := fs.String("token-file", "", "resume after the token in this file, and keep the token of each batch there")
	keepList := fs.String("keep-list", "", "append each selected trace ID, once, to this file")
	asJSON := fs.Bool("json", false, "write each selection as a JSON line")
	count := fs.Int("count", 0, "stop after this many selections (0: until interrupted)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitError, err
	}
	if len(pos) > 0 {
		return exitError, fmt.Errorf("traces watch: unexpected argument %q", pos[0])
	}
	opts := selectionfeed.WatchOptions{FromStart: *fromStart, Candidates: *candidates}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		switch {
		case err == nil:
			opts.Token = strings.TrimSpace(string(b))
		case !errors.Is(err, os.ErrNotExist):
			return exitError, fmt.Errorf("traces watch: %w", err)
		}
	}
	var keep *os.File
	kept := map[string]bool{}
	if *keepList != "" {
		if keep, err = os.OpenFile(*keepList, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o644); err != nil {
			return exitError, fmt.Errorf("traces watch: %w", err)
		}
		defer keep.Close()
		b, err := io.ReadAll(keep)
		if err != nil {
			return exitError, fmt.Errorf("traces watch: read %s: %w", *keepList, err)
		}
		for _, id := range strings.Fields(string(b)) {
			kept[id] = true
		}
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return exitError, fmt.Errorf("traces watch: %w", err)
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := 0
	err = selectionfeed.Watch(ctx, conn, opts, func(sels []selection.Selection, token string) error {
		var ids []byte
		cut := false // --count stopped before the batch's end
		for i := range sels {
			s := &sels[i]
			if err := printSelection(stdout, s, *asJSON); err != nil {
				return err
			}
			if keep != nil && !kept[s.TraceID] {
				kept[s.TraceID] = true
				ids = append(append(ids, s.TraceID...), '\n')
			}
			if n++; *count > 0 && n >= *count {
				cut = i < len(sels)-1
				break
			}
		}
		if len(ids) > 0 {
			if _, err := keep.Write(ids); err != nil {
				return fmt.Errorf("write %s: %w", *keepList, err)
			}
		}
		if *tokenFile != "" && !cut {
			// The token of a cut batch would skip its rest.
			if err := writeFileAtomic(*tokenFile, []byte(token+"\n")); err != nil {
				return err
			}
		}
		if *count > 0 && n >= *count {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return exitError, fmt.Errorf("traces watch: %w", err)
	}
	return exitOK, nil
}

// printSelection writes s as a line: JSON, or
//
//	final     P99 http_latency_by_route{route="/pay",service="checkout"} 10s:2d [08:00:00, 08:00:10) 0.873 trace 4bf9…  (sample 0.873 at 08:00:04.211)
func printSelection(w io.Writer, s *selection.Selection, asJSON bool) error {
	if asJSON {
		_, err := w.Write(append(s.Encode(), '\n'))
		return err
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ls strings.Builder
	for i, k := range keys {
		if i > 0 {
			ls.WriteByte(',')
		}
		ls.WriteString(k + "=" + strconv.Quote(s.Labels[k]))
	}
	at := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05.000") }
	_, err := fmt.Fprintf(w, "%-9s %s %s{%s} %s [%s, %s) %s trace %s (sample %s at %s)\n",
		s.Reason, s.Aggregation, s.Name, ls.String(), s.Policy, at(s.StartMs), at(s.EndMs),
		strconv.FormatFloat(s.Value, 'g', -1, 64), s.TraceID, strconv.FormatFloat(s.SampleValue, 'g', -1, 64), at(s.SampleMs))
	return err
}

// writeFileAtomic replaces the file at path with b.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
