package placement

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// retryDelay is how long a watch waits before it reads its keys again
// after etcd failed to answer.
const retryDelay = 500 * time.Millisecond

// follow keeps a copy of the key (or, with prefix, of the keys under it),
// turns it into a value with view whenever it changes and sends that value
// on the channel it returns, until ctx ends; then it closes the channel.
// view returns false when the keys make no value to send.
//
// Only the latest value waits to be sent: a slow reader skips the ones in
// between. When etcd cannot be read or the watch is lost (a compacted
// revision, a member without a leader), follow reads the keys again and
// watches on from there, sending a value only if the keys changed.
func follow[T any](ctx context.Context, cli *clientv3.Client, log *slog.Logger, key string, prefix bool,
	view func(kvs map[string][]byte) (T, bool)) <-chan T {
	out := make(chan T)
	go func() {
		defer close(out)
		var (
			kvs     map[string][]byte // the keys as of the last read or event
			pending T                 // the value to send next
			send    chan<- T          // out when a value is pending, else nil
		)
		update := func() {
			if v, ok := view(kvs); ok {
				pending, send = v, out
			} else {
				send = nil // what was pending is out of date
			}
		}
		var opts []clientv3.OpOption
		if prefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		for ctx.Err() == nil {
			resp, err := cli.Get(ctx, key, opts...)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("read keys to watch, retrying", "key", key, "err", err)
				}
				if send, err = sendOrWait(ctx, retryDelay, send, pending); err != nil {
					return
				}
				continue
			}
			read := make(map[string][]byte, len(resp.Kvs))
			for _, kv := range resp.Kvs {
				read[string(kv.Key)] = kv.Value
			}
			if kvs == nil || !maps.EqualFunc(kvs, read, bytes.Equal) {
				kvs = read
				update()
			}

			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			events := cli.Watch(wctx, key, append(opts, clientv3.WithRev(resp.Header.Revision+1))...)
		watch:
			for {
				select {
				case send <- pending:
					send = nil
				case wr, ok := <-events:
					if !ok {
						break watch // ctx ended, or the client is closing
					}
					if err := wr.Err(); err != nil {
						log.Warn("watch lost, reading the keys again", "key", key, "err", err)
						break watch
					}
					if len(wr.Events) == 0 {
						continue
					}
					for _, ev := range wr.Events {
						if ev.Type == clientv3.EventTypeDelete {
							delete(kvs, string(ev.Kv.Key))
						} else {
							kvs[string(ev.Kv.Key)] = ev.Kv.Value
						}
					}
					update()
				case <-ctx.Done():
					break watch
				}
			}
			cancel()
			if send, err = sendOrWait(ctx, retryDelay, send, pending); err != nil {
				return
			}
		}
	}()
	return out
}

// sendOrWait waits for d, sending pending on send (if not nil) meanwhile.
// It returns send, or nil once pending is sent, and ctx's error if ctx
// ended first.
func sendOrWait[T any](ctx context.Context, d time.Duration, send chan<- T, pending T) (chan<- T, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case send <- pending:
			send = nil
		case <-t.C:
			return send, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
