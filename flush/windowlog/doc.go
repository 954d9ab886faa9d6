// Package windowlog is the log of the windows a shard's leader emitted:
// one record per closed window of a shard and storage policy, with the
// number of points and a digest of their values, written to a Kafka topic
// (partition = shard) by the shard's leader alone, in Kafka transactions.
//
// The log is the leader's once-only output: every window appears in it
// exactly once across failovers. Its records are written by the shard's
// transactional producer (transactional ID "tumble-windows-<shard>"), so a
// new leader's Fence aborts whatever its predecessor left open and refuses
// any later write of the predecessor; Last then tells the new leader where
// its predecessor's committed output ends.
//
//	e, err := windowlog.NewEmitter("tumble-windows", "tumble-selections", 3, kgo.SeedBrokers(brokers...))
//	defer e.Close()
//	err = e.Fence(ctx)              // on becoming leader
//	last, err := e.Last(ctx)        // close time of the last window emitted
//	err = e.Emit(ctx, windows, lease.Valid)
//
// The windows' trace selections (package selection) go to the selections
// topic in the same transaction as the windows' records, so that they too
// are written once.
//
// A record's value is the window as JSON (see Window); its key is
// "<shard>/<policy>/<window end>". Digest sums PointHash over the window's
// points, so any replica, and the offline replay, compute the same digest
// for the same points whatever their order.
package windowlog
