package sample

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// encoding/json turns the bytes of a string that are not UTF-8, and the \u
// escape of a lone surrogate, into U+FFFD, and so accepts what the protobuf
// form refuses. The name and the labels of a JSON sample are decoded here
// instead, to the bytes they stand for, and held to the same rules as in
// the protobuf form (see names.go).

// jsonName is the name field of a JSON sample; "" if it is missing.
type jsonName string

// UnmarshalJSON decodes b, a JSON value.
func (n *jsonName) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n': // null, as if the field were missing
		*n = ""
		return nil
	case '"':
	default:
		return jsonTypeError("name", b[0], "string")
	}
	s, _, ok := unquoteJSON(string(b), 0)
	if !ok {
		return newError(CodeMalformedJSON, "name", "malformed JSON string")
	}
	// Every occurrence must be valid, an overridden one too, as in the
	// protobuf form.
	if !utf8.ValidString(s) {
		return newError(CodeBadField, "name", "not valid UTF-8")
	}
	*n = jsonName(s)
	return nil
}

// jsonLabels is the labels field of a JSON sample: its labels in the order
// they came, unchecked. A labels field sent twice adds its labels to the
// first's, as the repeated field of the protobuf form does.
type jsonLabels struct {
	list Labels
}

// UnmarshalJSON decodes b, a JSON value: an object of strings, or null for
// no labels (which drops those of an earlier labels field, as
// encoding/json does). A null label value is the empty string.
func (ls *jsonLabels) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		ls.list = ls.list[:0]
		return nil
	case '{':
	default:
		return jsonTypeError("labels", b[0], "labels, an object of strings")
	}
	// One string holds every name and value that has no escape: they are
	// substrings of it.
	str := string(b)
	i := skipSpaceString(str, 1)
	for i < len(str) && str[i] != '}' {
		name, next, ok := unquoteJSON(str, i)
		if !ok {
			return malformedLabels()
		}
		i = skipSpaceString(str, next)
		if i == len(str) || str[i] != ':' {
			return malformedLabels()
		}
		i = skipSpaceString(str, i+1)
		if i == len(str) {
			return malformedLabels()
		}
		var value string
		switch str[i] {
		case '"':
			if value, next, ok = unquoteJSON(str, i); !ok {
				return malformedLabels()
			}
		case 'n': // null, as encoding/json reads it into a string
			next = i + len("null")
		default:
			return newError(CodeBadField, "labels", fmt.Sprintf("a JSON %s cannot be decoded into the value of label %s", jsonKind(str[i]), abbrev(name)))
		}
		ls.list = append(ls.list, Label{Name: name, Value: value})
		i = skipSpaceString(str, next)
		if i < len(str) && str[i] == ',' {
			i = skipSpaceString(str, i+1)
		}
	}
	if i == len(str) {
		return malformedLabels()
	}
	return nil
}

// malformedLabels is the error for a labels object that is not JSON, which
// encoding/json does not pass on.
func malformedLabels() *DecodeError {
	return newError(CodeMalformedJSON, "labels", "malformed JSON object")
}

// jsonTypeError is the error for a JSON value of another kind than want in
// field; c is the value's first byte.
func jsonTypeError(field string, c byte, want string) *DecodeError {
	return newError(CodeBadField, field, fmt.Sprintf("a JSON %s cannot be decoded into %s", jsonKind(c), want))
}

// jsonKind names the kind of the JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// unquoteJSON decodes the JSON string that starts at s[i], a '"', and
// returns the string it stands for and the index after its closing quote;
// ok is false if it is malformed. Unlike encoding/json, it keeps the bytes
// that are not UTF-8 as they are, and writes the \u escape of a lone
// surrogate as the three bytes that would encode it (which are not UTF-8
// either). A string without escapes is a substring of s.
func unquoteJSON(s string, i int) (str string, next int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	j := i + 1
	for j < len(s) && s[j] != '"' && s[j] != '\\' {
		j++
	}
	if j < len(s) && s[j] == '"' {
		return s[i+1 : j], j + 1, true
	}
	b := make([]byte, 0, 2*(j-i))
	b = append(b, s[i+1:j]...)
	for j < len(s) {
		switch c := s[j]; {
		case c == '"':
			return string(b), j + 1, true
		case c != '\\':
			b = append(b, c)
			j++
			continue
		case j+1 == len(s):
			return "", 0, false
		}
		switch e := s[j+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, j+2)
			if !ok {
				return "", 0, false
			}
			j += 6
			if !utf16.IsSurrogate(r) {
				b = utf8.AppendRune(b, r)
				continue
			}
			if r < 0xdc00 && j+1 < len(s) && s[j] == '\\' && s[j+1] == 'u' {
				if lo, ok := hex4(s, j+2); ok && lo >= 0xdc00 && lo <= 0xdfff {
					b = utf8.AppendRune(b, utf16.DecodeRune(r, lo))
					j += 6
					continue
				}
			}
			b = append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
			continue
		default:
			return "", 0, false
		}
		j += 2
	}
	return "", 0, false
}

// hex4 returns the value of the four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipSpaceString is skipSpace for a string.
func skipSpaceString(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}
