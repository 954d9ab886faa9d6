package promapi

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/timestamp"
)

// TestParseTime: the forms of a timestamp Prometheus accepts, to the
// millisecond.
func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in      string
		wantMs  int64
		wantErr bool
	}{
		{in: "1700000000", wantMs: 1_700_000_000_000},
		{in: "1700000000.5", wantMs: 1_700_000_000_500},
		{in: "1700000000.123", wantMs: 1_700_000_000_123},
		{in: "1700000000.1236", wantMs: 1_700_000_000_124},
		{in: "1.7e9", wantMs: 1_700_000_000_000},
		{in: "0", wantMs: 0},
		{in: "-1.5", wantMs: -1_500},
		{in: "2023-11-14T22:13:20Z", wantMs: 1_700_000_000_000},
		{in: "2023-11-14T22:13:20.123456789Z", wantMs: 1_700_000_000_123},
		{in: "2023-11-14T23:13:20.5+01:00", wantMs: 1_700_000_000_500},
		{in: minTimeFormatted, wantMs: timestamp.FromTime(minTime)},
		{in: maxTimeFormatted, wantMs: timestamp.FromTime(maxTime)},
		{in: "", wantErr: true},
		{in: "now", wantErr: true},
		{in: "2023-11-14 22:13:20", wantErr: true},
		{in: "2023-11-14", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "+Inf", wantErr: true},
		{in: "1e300", wantErr: true},
	} {
		got, err := parseTime(c.in)
		switch {
		case c.wantErr && err == nil:
			t.Errorf("parseTime(%q) = %v, want an error", c.in, got)
		case !c.wantErr && err != nil:
			t.Errorf("parseTime(%q): %v", c.in, err)
		case !c.wantErr && timestamp.FromTime(got) != c.wantMs:
			t.Errorf("parseTime(%q) = %d ms, want %d", c.in, timestamp.FromTime(got), c.wantMs)
		}
	}
}

// TestParseDuration: seconds as a float or a Prometheus duration.
func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "15", want: 15 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "1.5e1", want: 15 * time.Second},
		{in: "-10", want: -10 * time.Second},
		{in: "0", want: 0},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: "1h", want: time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "", wantErr: `cannot parse "" to a valid duration`},
		{in: "often", wantErr: `cannot parse "often" to a valid duration`},
		{in: "1m30", wantErr: "valid duration"},
		{in: "-1m", wantErr: "valid duration"},
		{in: "1e300", wantErr: "overflows int64"},
		{in: "NaN", wantErr: "overflows int64"},
		{in: "9223372037", wantErr: "overflows int64"},
	} {
		got, err := parseDuration(c.in)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("parseDuration(%q) = %v, %v, want an error with %q", c.in, got, err, c.wantErr)
		case c.wantErr == "" && (err != nil || got != c.want):
			t.Errorf("parseDuration(%q) = %v, %v, want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"", 0, false}, {"0", 0, false}, {"10", 10, false}, {"-1", 0, true}, {"1.5", 0, true}, {"ten", 0, true},
	} {
		got, err := parseLimit(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("parseLimit(%q) = %d, %v, want %d, error %v", c.in, got, err, c.want, c.wantErr)
		}
	}
	if hintLimit(0) != 0 || hintLimit(5) != 6 || hintLimit(math.MaxInt) != math.MaxInt {
		t.Errorf("hintLimit: %d %d %d", hintLimit(0), hintLimit(5), hintLimit(math.MaxInt))
	}
}

// FuzzParseTime: no input panics, and a time parsed from a number is that
// number of seconds to the millisecond.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1700000000.123", "-1.5", "2023-11-14T22:13:20Z", "9.2e15", "-9.2e15", "1e-300", minTimeFormatted} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			return
		}
		ms := timestamp.FromTime(got)
		if v, err := strconv.ParseFloat(s, 64); err == nil && math.Abs(float64(ms)-v*1000) > 1+math.Abs(v*1000)*1e-15 {
			t.Errorf("parseTime(%q) = %d ms", s, ms)
		}
	})
}

// FuzzParseDuration: no input panics.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15", "0.5", "1m30s", "1d", "-1", "1e300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseDuration(s)
	})
}
