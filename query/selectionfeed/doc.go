// Package selectionfeed serves the selections topic (package selection) to
// trace samplers over gRPC, with resume tokens, and watches it as a
// client.
//
// The server reads the topic read-committed: a final selection appears
// once its leader's transaction commits, and every watcher sees the same
// records in the same order per partition. Each batch it sends carries a
// resume token: the next offset of every partition after the batch. A
// watcher that handles a batch, keeps its token and reconnects with it
// sees every later selection once, whichever node it reconnects to.
//
//	srv := selectionfeed.NewServer("tumble-selections", logger, kgo.SeedBrokers(brokers...))
//	srv.Register(grpcServer)
//
//	err := selectionfeed.Watch(ctx, conn, selectionfeed.WatchOptions{Token: saved},
//		func(sels []selection.Selection, token string) error {
//			// handle sels, then keep token
//			return nil
//		})
//
// Watch reconnects by itself, with the last token, when the stream breaks.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package selectionfeed
