package fanoutpb_test

import (
	"testing"

	"github.com/tumblemetrics/tumble/internal/protosync"
	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// TestGeneratedMatchesProtoFile: query.pb.go and query_grpc.pb.go were
// generated from the query.proto beside them, as it is now (`make proto`
// regenerates them).
func TestGeneratedMatchesProtoFile(t *testing.T) {
	fd := fanoutpb.File_query_fanout_fanoutpb_query_proto
	protosync.CheckFile(t, "query.proto", fd)
	protosync.CheckService(t, fd, &fanoutpb.Query_ServiceDesc)
}
