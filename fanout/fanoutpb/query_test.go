package fanoutpb_test

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tumblemetrics/tumble/fanout/fanoutpb"
)

// TestGeneratedMatchesProtoFile: query.pb.go and query_grpc.pb.go were
// generated from the query.proto beside them, as it is now (`make proto`
// regenerates them). It compares the package, the fields of every message,
// the values of every enum and the methods of the service.
func TestGeneratedMatchesProtoFile(t *testing.T) {
	f, err := os.Open("query.proto")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		typeRe  = regexp.MustCompile(`^(message|enum|service) (\w+) \{$`)
		fieldRe = regexp.MustCompile(`^\s+((?:optional |repeated )?\w+ \w+ = \d+);$`)
		valueRe = regexp.MustCompile(`^\s+(\w+ = \d+);$`)
		rpcRe   = regexp.MustCompile(`^\s+rpc (\w+)\((\w+)\) returns \(((?:stream )?\w+)\);$`)
		pkgRe   = regexp.MustCompile(`^package ([\w.]+);$`)
		got     []string
		outer   string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := typeRe.FindStringSubmatch(line); m != nil {
			outer = m[2]
		} else if m := pkgRe.FindStringSubmatch(line); m != nil {
			got = append(got, "package "+m[1])
		} else if m := fieldRe.FindStringSubmatch(line); m != nil {
			got = append(got, outer+": "+m[1])
		} else if m := valueRe.FindStringSubmatch(line); m != nil {
			got = append(got, outer+": "+m[1])
		} else if m := rpcRe.FindStringSubmatch(line); m != nil {
			got = append(got, fmt.Sprintf("%s: rpc %s(%s) %s", outer, m[1], m[2], m[3]))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	fd := fanoutpb.File_fanout_fanoutpb_query_proto
	want := []string{"package " + string(fd.Package())}
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		for j := range sd.Methods().Len() {
			md := sd.Methods().Get(j)
			out := string(md.Output().Name())
			if md.IsStreamingServer() {
				out = "stream " + out
			}
			want = append(want, fmt.Sprintf("%s: rpc %s(%s) %s", sd.Name(), md.Name(), md.Input().Name(), out))
		}
	}
	for i := range fd.Enums().Len() {
		ed := fd.Enums().Get(i)
		for j := range ed.Values().Len() {
			v := ed.Values().Get(j)
			want = append(want, fmt.Sprintf("%s: %s = %d", ed.Name(), v.Name(), v.Number()))
		}
	}
	for i := range fd.Messages().Len() {
		md := fd.Messages().Get(i)
		for j := range md.Fields().Len() {
			f := md.Fields().Get(j)
			typ := f.Kind().String()
			switch f.Kind() {
			case protoreflect.MessageKind:
				typ = string(f.Message().Name())
			case protoreflect.EnumKind:
				typ = string(f.Enum().Name())
			}
			switch {
			case f.Cardinality() == protoreflect.Repeated:
				typ = "repeated " + typ
			case f.HasOptionalKeyword():
				typ = "optional " + typ
			}
			want = append(want, fmt.Sprintf("%s: %s %s = %d", md.Name(), typ, f.Name(), f.Number()))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("query.proto declares\n\t%s\nbut query.pb.go was generated from\n\t%s\nrun make proto",
			strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestServiceMatchesGenerated: the gRPC code declares the service's
// methods as the message code does.
func TestServiceMatchesGenerated(t *testing.T) {
	sd := fanoutpb.File_fanout_fanoutpb_query_proto.Services().ByName("Query")
	if sd == nil || string(sd.FullName()) != fanoutpb.Query_ServiceDesc.ServiceName {
		t.Fatalf("service: got %v, want %s", sd, fanoutpb.Query_ServiceDesc.ServiceName)
	}
	var got []string
	for _, m := range fanoutpb.Query_ServiceDesc.Methods {
		got = append(got, m.MethodName)
	}
	for _, s := range fanoutpb.Query_ServiceDesc.Streams {
		got = append(got, s.StreamName+" (stream)")
	}
	var want []string
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		if m.IsStreamingServer() {
			continue
		}
		want = append(want, string(m.Name()))
	}
	for i := range sd.Methods().Len() {
		if m := sd.Methods().Get(i); m.IsStreamingServer() {
			want = append(want, string(m.Name())+" (stream)")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("query_grpc.pb.go: got methods %q, want %q; run make proto", got, want)
	}
}
