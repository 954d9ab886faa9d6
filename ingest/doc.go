// Package ingest takes samples in through the protocols clients already
// speak, and writes them to tumble's raw topic in its native format.
//
// Each gateway (remote write in package remotewrite) decodes a request
// into samples and hands them to a Writer, which writes them, and the
// dead letters of the samples it refused, in one Kafka transaction, and
// returns once Kafka has acknowledged the commit: a request is written
// whole or not at all, so a client that sends it again after a retryable
// error (503 and Retry-After) duplicates nothing, and a request answered
// with success is never lost. The samples of a series always go to the same
// partition of the raw topic, so they stay in order (see Groups).
//
//	w, err := ingest.NewWriter(ingest.WriterOptions{Client: kopts, Topic: "tumble-raw",
//		DeadLetterTopic: "tumble-dead-letter", ID: "node-a"})
//	defer w.Close()
//	err = w.Write(ctx, "remote_write", samples, refused) // errors.Is(err, ingest.ErrUnavailable): send again
//
// Limits bound what one request may ask (body, decompressed body, samples),
// and Metrics counts requests, samples and refusals by gateway.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package ingest
