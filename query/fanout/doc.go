// Package fanout answers queries for the whole cluster from any node: it
// asks one live replica of every shard for its part, over gRPC (the Query
// service of fanoutpb), and merges the answers.
//
// Each node serves the replicas it holds with a Server, and queries
// through a Queryable, which implements Prometheus' storage.Queryable and
// storage.ExemplarQueryable, for the PromQL engine and package promapi:
//
//	srv, err := fanout.NewServer(func(shard int32) (fanout.Shard, bool) {
//		db, ok := local[shard] // *storage.DB is a Shard
//		return db, ok
//	}, fanout.ServerOptions{})
//	if err != nil {
//		return err
//	}
//	g := grpc.NewServer()
//	srv.Register(g)
//	go g.Serve(lis) // stopped with g.GracefulStop by its owner
//
//	pool := fanout.NewPool()
//	defer pool.Close()
//	q, err := fanout.New(fanout.Options{
//		Shards:   placement.Shards(),
//		Replicas: placement.Replicas, // leader first
//		Pool:     pool,
//		Node:     nodeName,
//		Local:    localShard, // read this node's replicas in-process
//	})
//	if err != nil {
//		return err
//	}
//	api, err := promapi.New(promapi.Options{Queryable: q, ExemplarQueryable: q})
//
// # Replicas and failover
//
// For each shard, the replicas are asked in the order Options.Replicas
// lists them, one at a time, until one answers; a replica of this node
// (Endpoint.Node equal to Options.Node) is read in-process at its place in
// that order. A replica that refuses (it does not hold the shard, it is
// shutting down), cannot be reached, breaks the protocol or gives no
// answer within Options.AttemptTimeout is given up for the next, within
// the same query. A Select stream that breaks off part way is resumed on
// the next replica after the last series received, so no series is
// returned twice or skipped. A request that no replica could answer (an
// INVALID_ARGUMENT status) fails the query at once.
//
// A shard whose replicas all fail is left out, and said so: Select adds
// an *UnavailableError naming the shard and each replica's error to the
// SeriesSet's warnings, LabelNames and LabelValues to their annotations,
// which PromQL and the query API pass on as warnings. Exemplar queries
// have no warnings in the Prometheus API, so there the same error fails
// the query rather than answer partially without a word.
//
// # Results
//
// Series are partitioned by shard, so the shards' answers are disjoint;
// they are still merged with Prometheus' merge (storage.NewMergeSeriesSet
// with ChainedSeriesMerge), which removes any duplicate. Select returns
// the series sorted by labels whether asked to or not. Replicas send the
// series of a Select sorted, in messages of about ServerOptions.BatchBytes
// (1 MiB), splitting a long series across messages; the client passes each
// message's series on as it arrives, and reads a shard no more than a few
// messages ahead of the PromQL engine (gRPC's flow control holds the
// replica back meanwhile). Points are floats: a series with native histogram samples
// fails its Select on the replica with UNIMPLEMENTED.
//
// A series read from a local replica is passed on as the local storage
// returns it: its points are read when the engine iterates them, so an
// error reading them fails the query instead of moving to another replica.
//
// # Concurrency
//
// A Server and a Queryable are immutable and safe for concurrent use, as
// are a Queryable's queriers. Each Select starts one goroutine per shard,
// owned by its querier: they end when their shard is read or when the
// querier is closed or the Select's context canceled, and Close waits for
// them. At most Options.Concurrency shards of one call are read at once.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package fanout
