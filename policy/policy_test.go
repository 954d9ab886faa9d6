package policy

import (
	"strings"
	"testing"
)

func TestPolicyParse(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "10s:2d", want: "10s:2d"},
		{in: "1m:40d", want: "1m:40d"},
		{in: "30s:720h", want: "30s:30d"},
		{in: "1m:1d12h", want: "1m:36h"},
		{in: "500ms:1h", want: "500ms:1h"},
		{in: "10s", err: "want resolution:retention"},
		{in: "10x:2d", err: `unknown unit "x"`},
		{in: "1m:10s", err: "shorter than the resolution"},
		{in: "0s:1d", err: "not positive"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", p, err, tc.want)
			}
		})
	}
}
