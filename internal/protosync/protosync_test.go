package protosync

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/flush/selection/selectionpb"
)

func TestDeclared(t *testing.T) {
	const src = `syntax = "proto3";

package a.v1;

// A comment with = 1; in it.
service S {
  rpc Get(Req) returns (Resp);
  rpc Watch(Req) returns (stream Resp);
}

enum Kind {
  KIND_UNSPECIFIED = 0;
  KIND_A = 1;
}

message Req {
  optional string name = 1;
  repeated Kind kinds = 2;
  map<string, int64> counts = 3;
}
`
	got, err := Declared(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"package a.v1",
		"Kind: KIND_UNSPECIFIED = 0",
		"Kind: KIND_A = 1",
		"Req: optional string name = 1",
		"Req: repeated Kind kinds = 2",
		"Req: map<string, int64> counts = 3",
		"S: rpc Get(Req) Resp",
		"S: rpc Watch(Req) stream Resp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestGenerated compares the selection service's generated code with its
// .proto file, as it is and with each kind of change that must be seen.
func TestGenerated(t *testing.T) {
	b, err := os.ReadFile("../../flush/selection/selectionpb/selection.proto")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	// The service's block, to move to the end of the file.
	start := strings.Index(src, "service Selections {")
	n := strings.Index(src[max(start, 0):], "\n}\n")
	if start < 0 || n < 0 {
		t.Fatal("selection.proto declares no service Selections")
	}
	service := src[start : start+n+len("\n}\n")]
	fd := selectionpb.File_flush_selection_selectionpb_selection_proto
	tests := []struct {
		name      string
		old, new  string
		wantEqual bool
	}{
		{name: "as generated", wantEqual: true},
		{name: "service declared last", old: service, new: "", wantEqual: true},
		{name: "field renumbered", old: "string tenant = 13;", new: "string tenant = 17;"},
		{name: "field renamed", old: "string leader = 15;", new: "string leader_node = 15;"},
		{name: "field type", old: "int64 term = 16;", new: "uint64 term = 16;"},
		{name: "map value type", old: "map<string, string> labels = 4;", new: "map<string, bytes> labels = 4;"},
		{name: "label", old: "string resume_token = 2;", new: "optional string resume_token = 2;"},
		{name: "field added", old: "bool candidates = 3;", new: "bool candidates = 3;\n  bool finals = 4;"},
		{name: "stream dropped", old: "returns (stream WatchResponse)", new: "returns (WatchResponse)"},
		{name: "package", old: "package tumble.selection.v1;", new: "package tumble.selection.v2;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := src
			if tt.old != "" {
				if !strings.Contains(src, tt.old) {
					t.Fatalf("selection.proto no longer holds %q", tt.old)
				}
				text = strings.Replace(src, tt.old, tt.new, 1)
			}
			if tt.old == service {
				text += "\n" + service
			}
			got, err := Declared(strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if want := Generated(fd); slices.Equal(got, want) != tt.wantEqual {
				t.Errorf("equal = %v, want %v:\n\t%s\ngenerated from\n\t%s", !tt.wantEqual, tt.wantEqual,
					strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

func TestCheckService(t *testing.T) {
	CheckService(t, selectionpb.File_flush_selection_selectionpb_selection_proto, &selectionpb.Selections_ServiceDesc)
}
