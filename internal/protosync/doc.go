// Package protosync checks that the Go code generated from a .proto file
// (the *.pb.go and *_grpc.pb.go beside it, which `make proto` regenerates)
// was generated from the file as it is now. A test of each generated
// package calls it:
//
//	protosync.CheckFile(t, "query.proto", fanoutpb.File_query_fanout_fanoutpb_query_proto)
//	protosync.CheckService(t, fanoutpb.File_query_fanout_fanoutpb_query_proto, &fanoutpb.Query_ServiceDesc)
//
// The comparison covers what changes the bytes on the wire or the calls
// a client makes: the package, each message's fields (label, type, name,
// number, in order), each enum's values and each service's methods. It
// reads the .proto file line by line in the layout this module writes
// (one declaration per line, no nested types), not with a full parser.
package protosync
