// Package node runs one tumble node: what a lone process and a member of a
// cluster both run, and what cmd/tumble and the tests start.
//
// A node has a router, which reads the raw topics and writes shard
// records (package router), and the replicas of the shards it holds, each
// built the same way: its own storage, the replica that fills it from the
// shard's partition (package replica), the windows it closed that the
// shard's output may not hold yet, and the output that writes them to the
// window log and the selections topic once (package leader). Alone, the
// node holds every shard and writes every output (leader.Solo). In a
// cluster (Options.Cluster), it registers in etcd, holds the replicas the
// placement gives it (package placement), opening and stopping them as the
// placement changes, marks a replica it takes over available once it has
// caught up (the hand-over), and writes a shard's output while its
// replica leads the shard (leader.Shard).
//
//	n, err := node.New(node.Options{Rules: rs, Shards: 4, DataDir: "data", ID: "a", Kafka: k, Registerer: reg})
//	...
//	go n.Run(ctx)        // until ctx ends
//	<-n.Ready()          // the topics exist; the router and the replicas run
//	api := promapi.New(promapi.Options{Queryable: n.Queryable(), ...})
//	...
//	err = n.Close()      // after Run returned
//
// The node registers its metrics (tumble_router_*, tumble_replica_*,
// tumble_storage_*, tumble_shard_*) on the Registerer it is given, read at
// scrape time. Replicas and ClusterStatus report its state; Local serves
// the cluster's query service (package fanout). See ARCHITECTURE.md for
// where the node stands in the data flow.
package node
