package influx

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tumblemetrics/tumble/sample"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string // measurement|tags|fields|ts, or "error: …"
	}{
		{`cpu,host=a,region=eu usage=0.5,idle=3i 1700000000000000000`, `cpu|host=a,region=eu|usage=0.5,idle=3|1700000000000000000`},
		{`cpu usage=1`, `cpu||usage=1|-`},
		{`my\ cpu,ho\,st=a\ b v=1u,ok=t,bad=F`, `my cpu|ho,st=a b|v=1,ok=1,bad=0|-`},
		{`m s="a \"quoted\", string",v=2 5`, `m||s=string,v=2|5`},
		{`m,t=1 f="x y" 7`, `m|t=1|f=string|7`},
		{`cpu`, `error: measurement: no field set after it`},
		{`cpu,host usage=1`, `error: tag "host": want key=value, neither empty`},
		{`cpu usage=abc`, `error: field usage: "abc" is not a number`},
		{`cpu usage=1 12x`, `error: timestamp "12x": not an integer`},
		{`cpu s="open`, `error: a string field is not closed`},
		{`cpu usage=1,`, `error: field usage: a comma ends the field set`},
		{`,t=1 v=1`, `error: measurement: empty`},
	} {
		p, err := ParseLine(tc.line)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var tags, fields []string
			for _, kv := range p.Tags {
				tags = append(tags, kv.Key+"="+kv.Value)
			}
			for _, f := range p.Fields {
				v := "string"
				if !f.IsString {
					v = fmtF(f.Value)
				}
				fields = append(fields, f.Key+"="+v)
			}
			ts := "-"
			if p.HasTime {
				ts = itoa(p.Timestamp)
			}
			got = p.Measurement + "|" + strings.Join(tags, ",") + "|" + strings.Join(fields, ",") + "|" + ts
		}
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestDecode(t *testing.T) {
	body := strings.Join([]string{
		`# a comment`,
		`http_requests,service=checkout,trace_id=4bf92f3577b34da6a3ce929d0e0e4736 count=3i,latency=0.25 1700000000`,
		`temperature,room=b value=21.5 1700000001`,
		`host.load,host=a-1 1m=0.7 1700000002`,
		`broken line`,
		`notes,host=a text="hello" 1700000003`,
		``,
	}, "\n")
	got, refused := Decode([]byte(body), precisions["s"], sample.Limits{}, 1700000100_000, nil, nil)
	var lines []string
	for _, s := range got {
		lines = append(lines, s.Name+s.Labels.String()+" "+fmtF(s.Value)+" "+itoa(s.TimestampMs)+" "+s.TraceID.String())
	}
	want := []string{
		`http_requests_count{service="checkout"} 3 1700000000000 4bf92f3577b34da6a3ce929d0e0e4736`,
		`http_requests_latency{service="checkout"} 0.25 1700000000000 4bf92f3577b34da6a3ce929d0e0e4736`,
		`temperature{room="b"} 21.5 1700000001000 `,
		`host_load__1m{host="a-1"} 0.7 1700000002000 `,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(refused) != 2 || refused[0].Reason != ReasonBadLine || !strings.Contains(refused[0].Err.Error(), "line 5") ||
		refused[1].Reason != ReasonStringField {
		t.Errorf("refused: got %+v, want line 5 (not line protocol) and the string field", refused)
	}
}

func TestToMs(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		prec string
		want int64
	}{
		{1700000000123456789, "ns", 1700000000123},
		{1700000000123456, "us", 1700000000123},
		{1700000000123, "ms", 1700000000123},
		{1700000000, "s", 1700000000000},
		{28333333, "m", 1699999980000},
		{1 << 62, "s", 1<<63 - 1},
	} {
		p, err := ParsePrecision(tc.prec)
		if err != nil {
			t.Fatal(err)
		}
		if got := toMs(tc.ts, p); got != tc.want {
			t.Errorf("%d %s: got %d, want %d", tc.ts, tc.prec, got, tc.want)
		}
	}
	if _, err := ParsePrecision("days"); err == nil {
		t.Error("precision days: no error")
	}
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(n int64) string   { return strconv.FormatInt(n, 10) }

// TestDecodeLongLine: a line of any length is one line among the others,
// refused or written alone; the lines after it are read.
func TestDecodeLongLine(t *testing.T) {
	long := "m,t=" + strings.Repeat("x", 2<<20) + " v=1 1"
	got, refused := Decode([]byte("a v=1 1\n"+long+"\nb v=2 2\n"), precisions["s"], sample.DefaultLimits(), 1_000, nil, nil)
	var reasons []string
	for _, r := range refused {
		reasons = append(reasons, r.Reason)
	}
	if len(got) != 2 || got[0].Name != "a_v" || got[1].Name != "b_v" || len(refused) != 1 || refused[0].Reason != sample.CodeLabelTooLong {
		t.Errorf("got %d samples, refused %v; want a_v and b_v, the long line refused for its label", len(got), reasons)
	}
}
