package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is a storage policy: windows of Resolution, kept for Retention.
type Policy struct {
	Resolution time.Duration
	Retention  time.Duration
}

// Parse parses M3's "resolution:retention" form, e.g. "10s:2d".
func Parse(s string) (Policy, error) {
	res, ret, ok := strings.Cut(s, ":")
	if !ok {
		return Policy{}, fmt.Errorf("storage policy %q: want resolution:retention, e.g. 10s:2d", s)
	}
	var p Policy
	var err error
	if p.Resolution, err = ParseDuration(res); err != nil {
		return Policy{}, fmt.Errorf("storage policy %q: resolution: %w", s, err)
	}
	if p.Retention, err = ParseDuration(ret); err != nil {
		return Policy{}, fmt.Errorf("storage policy %q: retention: %w", s, err)
	}
	return p, p.Validate()
}

// Validate checks that p can be aggregated and stored: a resolution of at
// least one millisecond, in whole milliseconds, and a retention no shorter
// than the resolution.
func (p Policy) Validate() error {
	switch {
	case p.Resolution < time.Millisecond:
		return fmt.Errorf("resolution %s is below the 1ms minimum", p.Resolution)
	case p.Resolution%time.Millisecond != 0:
		return fmt.Errorf("resolution %s is not a whole number of milliseconds", p.Resolution)
	case p.Retention < p.Resolution:
		return fmt.Errorf("retention %s is shorter than the resolution %s", FormatDuration(p.Retention), FormatDuration(p.Resolution))
	}
	return nil
}

// String returns p in M3's form, with the largest whole unit: "10s:2d".
func (p Policy) String() string {
	return FormatDuration(p.Resolution) + ":" + FormatDuration(p.Retention)
}

// ResolutionMs returns the resolution in milliseconds.
func (p Policy) ResolutionMs() int64 { return p.Resolution.Milliseconds() }

var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond},
}

// ParseDuration parses a duration as M3 writes them: Go's units plus d (24h),
// w (7d) and y (365d), e.g. "10s", "2d", "720h", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("duration %q: want a number and a unit (ms, s, m, h, d, w, y) in every term", s)
		}
		var d time.Duration
		switch unit {
		case "d", "w", "y":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: bad number %q", s, num)
			}
			for _, u := range durationUnits {
				if u.suffix == unit {
					d = time.Duration(n * float64(u.d))
				}
			}
		default:
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, fmt.Errorf("duration %q: unknown unit %q (want ms, s, m, h, d, w or y)", s, unit)
			}
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q is not positive", s)
	}
	return total, nil
}

// FormatDuration writes d with the largest unit that divides it: 48h is "2d".
func FormatDuration(d time.Duration) string {
	for _, u := range durationUnits[2:] { // d, h, m, s, ms: y and w would surprise
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.suffix
		}
	}
	return d.String()
}
