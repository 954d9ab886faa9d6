// Package leader decides which replica of a shard leads and makes the
// leader's output once-only: every window of the shard is emitted to the
// window log exactly once across failovers, and a leader that may have lost
// its place stops writing before another can start.
//
// Every replica of a shard closes the same windows (the shard topic gives
// them the same records in the same order) and keeps their records in a
// Retained until the shard's output holds them. The output stands at the
// later of two marks: the flush watermark in etcd
// (<prefix>/shards/<n>/watermark) and the last window committed to the
// window log. A replica may campaign (concurrency.Election on
// <prefix>/shards/<n>/leader) only when CanLead says so: it knows every
// window after that point and has closed windows up to it.
//
// The elected replica fences its predecessor in Kafka (the shard's
// transactional ID), reads where the output stands, and from there emits
// each batch of closed windows in one Kafka transaction, then advances the
// watermark in an etcd transaction that compares its election key's
// creation revision (its term): a write with an old term is refused
// (ErrFenced). It writes only while its Lease is certainly alive by its
// own clock (the last answered keep-alive's send time plus the TTL, less a
// margin), and every write is bounded by that time, so a leader cut off
// from etcd gives up before etcd lets its lease expire and elects another.
//
//	sessions := leader.NewSessions(cli, 5*time.Second, time.Second, nil)
//	windows := leader.NewRetained(emitted) // fed by replica.Options.OnWindows
//	sh, err := leader.NewShard(leader.ShardOptions{Client: cli, Prefix: "/tumble", Shard: 3,
//		Node: "node-a", Emitter: emitter, Windows: windows, Replica: eligibleAndLag})
//	err = sh.Run(ctx, sessions.Get)
//
// CanLead, Resume and Lease are the decisions, with time and state as
// arguments; Shard and Session are the shell that talks to etcd and Kafka.
package leader
