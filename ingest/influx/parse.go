package influx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Point is one parsed line of line protocol.
type Point struct {
	Measurement string
	Tags        []KV // in the order written
	Fields      []Field
	// Timestamp in the request's precision; HasTime is false when the
	// line gave none (the server's clock then).
	Timestamp int64
	HasTime   bool
}

// KV is a tag.
type KV struct{ Key, Value string }

// Field is a field and its value: a number (float, integer, unsigned),
// a boolean (1 or 0), or a string (IsString), which no sample can hold.
type Field struct {
	Key      string
	Value    float64
	IsString bool
}

// ParseLine parses one line of InfluxDB's line protocol:
//
//	measurement[,tag=value…] field=value[,field=value…] [timestamp]
//
// with backslash escapes for commas, spaces and equals signs (and quotes
// and backslashes in string fields). The error says what is wrong and
// where.
func ParseLine(line string) (Point, error) {
	var p Point
	rest := line
	var err error
	// The measurement and the tags: up to the first unescaped space.
	var key string
	if key, rest, err = scanKey(rest); err != nil {
		return p, fmt.Errorf("measurement: %w", err)
	}
	parts := splitEscaped(key, ',')
	if p.Measurement = unescape(parts[0]); p.Measurement == "" {
		return p, errors.New("measurement: empty")
	}
	for _, t := range parts[1:] {
		k, v, ok := cutEscaped(t, '=')
		if !ok || k == "" || v == "" {
			return p, fmt.Errorf("tag %q: want key=value, neither empty", t)
		}
		p.Tags = append(p.Tags, KV{unescape(k), unescape(v)})
	}
	// The fields: up to the next unescaped space outside quotes.
	var fields string
	if fields, rest, err = scanFields(rest); err != nil {
		return p, err
	}
	if fields == "" {
		return p, errors.New("no field")
	}
	for len(fields) > 0 {
		var f Field
		if f, fields, err = parseField(fields); err != nil {
			return p, err
		}
		p.Fields = append(p.Fields, f)
	}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		ts, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return p, fmt.Errorf("timestamp %q: not an integer", rest)
		}
		p.Timestamp, p.HasTime = ts, true
	}
	return p, nil
}

// scanKey returns s up to its first unescaped space (the measurement and
// tags), and the rest after it.
func scanKey(s string) (string, string, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ' ':
			return s[:i], s[i+1:], nil
		}
	}
	return "", "", errors.New("no field set after it")
}

// scanFields returns the field set at the start of s (it ends at an
// unescaped space outside a quoted string) and what follows.
func scanFields(s string) (string, string, error) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			return s[:i], s[i+1:], nil
		}
	}
	if quoted {
		return "", "", errors.New("a string field is not closed")
	}
	return s, "", nil
}

// parseField parses the first field of s and returns the rest after its
// comma.
func parseField(s string) (Field, string, error) {
	var f Field
	i := 0
	for ; i < len(s) && s[i] != '='; i++ {
		if s[i] == '\\' {
			i++
		}
	}
	if i >= len(s) || i == 0 {
		return f, "", fmt.Errorf("field %q: want key=value", s)
	}
	f.Key = unescape(s[:i])
	v := s[i+1:]
	if strings.HasPrefix(v, `"`) {
		j := 1
		for ; j < len(v) && v[j] != '"'; j++ {
			if v[j] == '\\' {
				j++
			}
		}
		if j >= len(v) {
			return f, "", fmt.Errorf("field %s: the string is not closed", f.Key)
		}
		f.IsString = true
		rest := v[j+1:]
		if rest != "" && rest[0] != ',' {
			return f, "", fmt.Errorf("field %s: text after the string", f.Key)
		}
		return f, strings.TrimPrefix(rest, ","), nil
	}
	end := strings.IndexByte(v, ',')
	raw, rest := v, ""
	if end >= 0 {
		raw, rest = v[:end], v[end+1:]
		if rest == "" {
			return f, "", fmt.Errorf("field %s: a comma ends the field set", f.Key)
		}
	}
	val, err := parseValue(raw)
	if err != nil {
		return f, "", fmt.Errorf("field %s: %w", f.Key, err)
	}
	f.Value = val
	return f, rest, nil
}

// parseValue parses a number (1.5, 3i, 4u) or a boolean.
func parseValue(raw string) (float64, error) {
	switch raw {
	case "t", "T", "true", "True", "TRUE":
		return 1, nil
	case "f", "F", "false", "False", "FALSE":
		return 0, nil
	case "":
		return 0, errors.New("no value")
	}
	switch raw[len(raw)-1] {
	case 'i':
		n, err := strconv.ParseInt(raw[:len(raw)-1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", raw)
		}
		return float64(n), nil
	case 'u':
		n, err := strconv.ParseUint(raw[:len(raw)-1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an unsigned integer", raw)
		}
		return float64(n), nil
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", raw)
	}
	return v, nil
}

// splitEscaped splits s at unescaped seps.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cutEscaped cuts s at its first unescaped sep.
func cutEscaped(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unescape removes the backslashes before commas, spaces, equals signs
// and backslashes.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`, ="\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
