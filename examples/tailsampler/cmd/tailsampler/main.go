// Command tailsampler follows tumble's selections feed and tells a tail
// sampler whether to keep a trace: the call its policy makes when a
// trace's decision wait ends.
//
//	tailsampler --addr 127.0.0.1:9301 --candidates --token-file /var/lib/tailsampler/token
//	curl -s 'http://127.0.0.1:9411/keep?trace_id=4bf92f3577b34da6a3ce929d0e0e4736'
//	{"keep":true,"reason":"final"}
//
// SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tumblemetrics/tumble/examples/tailsampler"
	"github.com/tumblemetrics/tumble/query/selectionfeed"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9301", "tumble's gRPC address (the selections feed)")
	listen := flag.String("listen", "127.0.0.1:9411", "HTTP address of GET /keep")
	candidates := flag.Bool("candidates", false, "keep the candidates of open windows too, not only final selections")
	tokenFile := flag.String("token-file", "", "file that keeps the resume token across restarts")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *listen, *candidates, *tokenFile); err != nil {
		log.Error("tailsampler stopped", "err", err)
		os.Exit(1)
	}
}

// run follows the feed and serves /keep until ctx ends or either fails.
func run(ctx context.Context, log *slog.Logger, addr, listen string, candidates bool, tokenFile string) error {
	d, err := tailsampler.NewDecider(tailsampler.Options{Candidates: candidates})
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to tumble at %s: %w", addr, err)
	}
	defer conn.Close()
	srv := &http.Server{Addr: listen, Handler: keepHandler(d, time.Now), ReadHeaderTimeout: 5 * time.Second}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return tailsampler.Run(ctx, conn, d, tailsampler.RunOptions{
			WatchOptions: selectionfeed.WatchOptions{Logger: log},
			TokenFile:    tokenFile,
		})
	})
	g.Go(func() error {
		log.Info("serving GET /keep", "listen", listen, "tumble", addr, "candidates", candidates)
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP on %s: %w", listen, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// keepHandler answers GET /keep?trace_id=… with {"keep": bool, "reason": "…"}
// (400 for a malformed trace ID).
func keepHandler(d *tailsampler.Decider, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /keep", func(w http.ResponseWriter, r *http.Request) {
		keep, reason := d.Keep(r.URL.Query().Get("trace_id"), now())
		w.Header().Set("Content-Type", "application/json")
		if reason == tailsampler.ReasonBadTraceID {
			w.WriteHeader(http.StatusBadRequest)
		}
		json.NewEncoder(w).Encode(struct {
			Keep   bool   `json:"keep"`
			Reason string `json:"reason"`
		}{keep, reason})
	})
	return mux
}
