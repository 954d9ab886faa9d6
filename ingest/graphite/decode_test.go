package graphite

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

func TestParseLine(t *testing.T) {
	const now = int64(1_800_000_000_000)
	for _, tc := range []struct{ line, want string }{
		{"servers.api-1.cpu 0.5 1700000000", `servers_api_1_cpu{__g0__="servers", __g1__="api-1", __g2__="cpu"} 0.5 1700000000000`},
		{"a.b 2 1700000000.25", `a_b{__g0__="a", __g1__="b"} 2 1700000000250`},
		{"a 3", `a{__g0__="a"} 3 1800000000000`},
		{"a 3 -1", `a{__g0__="a"} 3 1800000000000`},
		{"disk.used;dc=eu;host=h1 7 1700000000", `disk_used{__g0__="disk", __g1__="used", dc="eu", host="h1"} 7 1700000000000`},
		{"a.b", "error: 1 fields, want path value [timestamp]"},
		{"a..b 1", `error: path "a..b": empty, or an empty component`},
		{"a.b x 1", `error: value "x": not a number`},
		{"a.b 1 tomorrow", `error: timestamp "tomorrow": not a number of seconds`},
		{"a;dc 1", `error: tag "dc": want name=value`},
	} {
		s, err := ParseLine(tc.line, now)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = s.Name + s.Labels.String() + " " + strings.TrimSpace(fmtF(s.Value)) + " " + itoa(s.TimestampMs)
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestDecode(t *testing.T) {
	got, refused := Decode([]string{"a.b 1 1700000000", "x..y 1 1700000000", "a.b 1 99999999999"}, sample.DefaultLimits(), 1_700_000_100_000, nil, nil)
	if len(got) != 1 || len(refused) != 2 || refused[0].Reason != ReasonBadLine || refused[1].Reason != sample.CodeTimestampInFuture {
		t.Errorf("got %+v, refused %+v; want a.b written, the empty component and the future timestamp refused", got, refused)
	}
}

// FuzzParseLine: any line parses to a sample that validates, or to an
// error, never to a panic.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"servers.api-1.cpu 0.5 1700000000", "disk.used;dc=eu 7", "a 1 -1", "1a.b.c 1e3 1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := ParseLine(line, 1_800_000_000_000)
		if err != nil {
			return
		}
		if len(s.Labels) == 0 || s.Name == "" {
			t.Fatalf("%q: got %+v, want a name and the path's labels", line, s)
		}
		if verr := sample.Validate(&s); verr == nil && strings.ContainsAny(s.Name, ".-") {
			t.Fatalf("%q: name %q validates with a dot or dash", line, s.Name)
		}
	})
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
