// Package placement says which nodes hold the replicas of which shards,
// and keeps that, with the registrations of the live nodes, in etcd.
//
// A cluster has a fixed number of shards, one per partition of the shard
// topic, and keeps Replicas replicas of each on distinct nodes. The
// leader among a shard's replicas is elected elsewhere; placement only
// says who holds what, and in which state:
//
//   - Initializing: a new replica, catching up from the shard partition;
//     it may not lead yet;
//   - Available: caught up; it may lead;
//   - Leaving: being replaced; it keeps running, and may lead, until its
//     replacement is available, and is removed then.
//
// # The data type
//
// Placement is a plain value with a JSON form; its methods never change
// it but return a new one, and are deterministic: the same placement and
// arguments give the same result.
//
//	p, err := placement.New(8, 2, []string{"node-a", "node-b", "node-c"})
//	p, err = p.AddNode("node-d")          // hand-overs to node-d, loads balanced
//	p, err = p.MarkAvailable(3, "node-d") // node-d caught up on shard 3: the replica it replaces goes
//	p, err = p.RemoveNode("node-a")       // node-a's replicas leave, replacements start elsewhere
//
// Moving a replica is always a hand-over, never a cut: the shard keeps
// Replicas caught-up replicas running until the new one has caught up.
//
// # In etcd
//
// A Store keeps the placement at <prefix>/placement and each live node at
// <prefix>/nodes/<id>, with "/tumble" as the default prefix. Changes are
// compare-and-swap transactions, retried when another writer came first,
// so operators and nodes may change the placement at the same time:
//
//	st := placement.NewStore(cli, "/tumble")
//	err := st.Create(ctx, p) // once, when the cluster is made
//
//	// A node, once its replica of shard 3 has caught up:
//	_, err = st.Update(ctx, func(p *placement.Placement) (*placement.Placement, error) {
//		return p.MarkAvailable(3, "node-d")
//	})
//
//	// A node registers under its session's lease, and follows the placement:
//	err = st.Register(ctx, session.Lease(), placement.Node{ID: "node-d", GRPCAddr: "10.0.0.4:9300"})
//	for p := range st.Watch(ctx) { // until ctx ends
//		run(p.ShardsOf("node-d"))
//	}
//
// Watch and WatchNodes each start a goroutine that ends with the context
// they are given and closes the channel it sends on.
package placement
