package selectionpb_test

import (
	"testing"

	"github.com/tumblemetrics/tumble/flush/selection/selectionpb"
	"github.com/tumblemetrics/tumble/internal/protosync"
)

// TestGeneratedMatchesProtoFile: selection.pb.go and selection_grpc.pb.go
// were generated from the selection.proto beside them, as it is now (`make
// proto` regenerates them).
func TestGeneratedMatchesProtoFile(t *testing.T) {
	fd := selectionpb.File_flush_selection_selectionpb_selection_proto
	protosync.CheckFile(t, "selection.proto", fd)
	protosync.CheckService(t, fd, &selectionpb.Selections_ServiceDesc)
}
