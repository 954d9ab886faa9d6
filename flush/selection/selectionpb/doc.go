// Package selectionpb is the Go code generated from selection.proto: the
// messages and the gRPC service Selections through which trace samplers
// watch the traces tumble selects. Package selectionfeed implements both
// sides of it. `make proto` regenerates selection.pb.go and
// selection_grpc.pb.go; edit selection.proto, never them.
package selectionpb
