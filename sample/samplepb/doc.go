// Package samplepb is the Go code generated from sample.proto, the native
// protobuf form of tumble's raw samples. Producers in Go may build a Batch
// with it and marshal it with google.golang.org/protobuf/proto, or use
// sample.AppendProto, which writes the same bytes without the messages.
// `make proto` regenerates sample.pb.go; edit sample.proto, never it.
package samplepb
