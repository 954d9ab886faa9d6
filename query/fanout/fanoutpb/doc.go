// Package fanoutpb is the Go code generated from query.proto: the messages
// and the gRPC service Query through which a tumble node reads the shard
// replicas other nodes hold. Package fanout implements both sides of it.
// `make proto` regenerates query.pb.go and query_grpc.pb.go; edit
// query.proto, never them.
package fanoutpb
