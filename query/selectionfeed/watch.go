package selectionfeed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/selection/selectionpb"
)

// WatchOptions says where a watch starts and what it wants.
type WatchOptions struct {
	// Token resumes after the batch it came with; "" starts from now, or
	// from the oldest selection kept with FromStart.
	Token      string
	FromStart  bool
	Candidates bool // the candidates of open windows too
	// Retry is the wait before reconnecting after the stream broke; 0
	// means 1s.
	Retry  time.Duration
	Logger *slog.Logger
}

// Watch calls fn with each batch of selections and the token that resumes
// after it, until ctx ends (it then returns nil) or fn fails. fn is called
// first with no selection and the token of where the watch starts. When
// the stream breaks, Watch reconnects with the last token fn was given: fn
// sees each selection once. fn may keep the slice it is given.
func Watch(ctx context.Context, conn grpc.ClientConnInterface, opts WatchOptions, fn func(sels []selection.Selection, token string) error) error {
	cl := selectionpb.NewSelectionsClient(conn)
	retry := opts.Retry
	if retry <= 0 {
		retry = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	token := opts.Token
	for {
		err := func() error {
			// Canceled on return: a stream left open after fn fails
			// would keep the server reading Kafka for nobody.
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := cl.Watch(sctx, &selectionpb.WatchRequest{ResumeToken: token, FromStart: opts.FromStart, Candidates: opts.Candidates})
			if err != nil {
				return err
			}
			for {
				resp, err := stream.Recv()
				if err != nil {
					return err
				}
				sels := make([]selection.Selection, 0, len(resp.GetSelections()))
				for i, m := range resp.GetSelections() {
					s, err := FromProto(m)
					if err != nil {
						return &fnError{fmt.Errorf("selection %d of a batch: %w", i, err)}
					}
					sels = append(sels, s)
				}
				if err := fn(sels, resp.GetResumeToken()); err != nil {
					return &fnError{err}
				}
				token = resp.GetResumeToken()
			}
		}()
		if fe, ok := err.(*fnError); ok {
			return fe.err
		}
		if ctx.Err() != nil {
			return nil
		}
		if status.Code(err) == codes.InvalidArgument || status.Code(err) == codes.Unimplemented {
			return fmt.Errorf("watch selections: %w", err)
		}
		log.Warn("the selections stream broke; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// fnError is an error that ends the watch.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
