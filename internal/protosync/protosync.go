package protosync

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var (
	pkgRe   = regexp.MustCompile(`^package ([\w.]+);$`)
	typeRe  = regexp.MustCompile(`^(?:message|enum|service) (\w+) \{$`)
	fieldRe = regexp.MustCompile(`^\s+((?:optional |repeated )?(?:map<\w+, \w+>|\w+) \w+ = \d+);$`)
	valueRe = regexp.MustCompile(`^\s+(\w+ = \d+);$`)
	rpcRe   = regexp.MustCompile(`^\s+rpc (\w+)\((\w+)\) returns \(((?:stream )?\w+)\);$`)
)

// Declared returns the declarations of the .proto text r, one line each:
// "package p", "Message: type name = n", "Enum: NAME = n" and
// "Service: rpc M(In) [stream ]Out", grouped by type in the order the
// types are declared.
func Declared(r io.Reader) ([]string, error) {
	var (
		got   []string
		outer string
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if m := typeRe.FindStringSubmatch(line); m != nil {
			outer = m[1]
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
		return nil, err
	}
	return byType(got), nil
}

// Generated returns the declarations the generated code was made from,
// described as Declared describes a .proto file's.
func Generated(fd protoreflect.FileDescriptor) []string {
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
			want = append(want, fmt.Sprintf("%s: %s %s = %d", md.Name(), fieldType(f), f.Name(), f.Number()))
		}
	}
	return byType(want)
}

// fieldType is f's type as a .proto file writes it, with its label.
func fieldType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map<%s, %s>", kindName(f.MapKey()), kindName(f.MapValue()))
	}
	typ := kindName(f)
	switch {
	case f.Cardinality() == protoreflect.Repeated:
		typ = "repeated " + typ
	case f.HasOptionalKeyword():
		typ = "optional " + typ
	}
	return typ
}

func kindName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind:
		return string(f.Message().Name())
	case protoreflect.EnumKind:
		return string(f.Enum().Name())
	}
	return f.Kind().String()
}

// byType orders lines by the type they belong to (the package line first),
// keeping the order of the lines of each type: the order in which a file
// declares its types does not change the generated code.
func byType(lines []string) []string {
	typeOf := func(l string) string {
		if strings.HasPrefix(l, "package ") {
			return ""
		}
		name, _, _ := strings.Cut(l, ":")
		return name
	}
	slices.SortStableFunc(lines, func(a, b string) int { return strings.Compare(typeOf(a), typeOf(b)) })
	return lines
}

// CheckFile fails t unless the .proto file at path declares what fd, the
// descriptor of the code generated from it, describes.
func CheckFile(t testing.TB, path string, fd protoreflect.FileDescriptor) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Declared(f)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if want := Generated(fd); !slices.Equal(got, want) {
		t.Errorf("%s declares\n\t%s\nbut the code beside it was generated from\n\t%s\nrun make proto",
			path, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// CheckService fails t unless desc, the service description of the
// generated gRPC code, has the methods of the service of that name in fd:
// its unary methods, then its streaming ones, each in declaration order.
func CheckService(t testing.TB, fd protoreflect.FileDescriptor, desc *grpc.ServiceDesc) {
	t.Helper()
	var sd protoreflect.ServiceDescriptor
	for i := range fd.Services().Len() {
		if s := fd.Services().Get(i); string(s.FullName()) == desc.ServiceName {
			sd = s
		}
	}
	if sd == nil {
		t.Fatalf("service %s: not in %s; run make proto", desc.ServiceName, fd.Path())
	}
	var got, want, streams []string
	for _, m := range desc.Methods {
		got = append(got, m.MethodName)
	}
	for _, s := range desc.Streams {
		got = append(got, s.StreamName+" (stream)")
	}
	for i := range sd.Methods().Len() {
		if m := sd.Methods().Get(i); m.IsStreamingServer() || m.IsStreamingClient() {
			streams = append(streams, string(m.Name())+" (stream)")
		} else {
			want = append(want, string(m.Name()))
		}
	}
	want = append(want, streams...)
	if !slices.Equal(got, want) {
		t.Errorf("%s: the gRPC code has methods %q, want %q; run make proto", desc.ServiceName, got, want)
	}
}
