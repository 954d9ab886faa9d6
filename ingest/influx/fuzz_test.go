package influx

import (
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

// FuzzDecode: any body decodes to samples and refusals, never to a panic;
// every sample it gives validates, and a line that parses gives back what
// it says.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"cpu,host=a usage=0.5,idle=3i 1700000000000000000\nmem v=1u",
		`m\ x,t\,a=b\=c s="a \"q\"",v=t 5`,
		"#c\n\ncpu,trace_id=4bf92f3577b34da6a3ce929d0e0e4736 v=1",
	} {
		f.Add([]byte(s), "ns")
	}
	f.Add([]byte("a v=1 1"), "h")
	f.Fuzz(func(t *testing.T, body []byte, precision string) {
		prec, err := ParsePrecision(precision)
		if err != nil {
			return
		}
		samples, _ := Decode(body, prec, sample.DefaultLimits(), 1_800_000_000_000, nil, nil)
		for i := range samples {
			if err := sample.Validate(&samples[i]); err != nil {
				t.Fatalf("sample %d %+v does not validate: %v", i, samples[i], err)
			}
		}
	})
}
