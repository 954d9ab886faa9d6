package selectionfeed

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

const tokenTopic = "tumble-selections"

// rawToken returns the token of the bytes parts, concatenated.
func rawToken(parts ...[]byte) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Join(parts, nil))
}

// tokenHeader is the version byte and the hash of topic.
func tokenHeader(topic string) []byte {
	return binary.LittleEndian.AppendUint64([]byte{tokenVersion}, xxhash.Sum64String(topic))
}

func uvarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func TestTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		next []int64
	}{
		{"no partition", nil},
		{"one partition at the start", []int64{0}},
		{"three partitions", []int64{0, 17, 4}},
		{"varint boundaries", []int64{127, 128, 16383, 16384, 1<<32 - 1, 1 << 32}},
		{"largest offset", []int64{1 << 62, 0}},
		{"many partitions", func() []int64 {
			next := make([]int64, 300)
			for i := range next {
				next[i] = int64(i) * 1_000_003
			}
			return next
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := position{topic: xxhash.Sum64String(tokenTopic), next: tc.next}
			tok := p.token()
			got, err := parseToken(tok, tokenTopic)
			if err != nil {
				t.Fatalf("parseToken(%q): %v", tok, err)
			}
			if got.topic != p.topic || !slices.Equal(got.next, p.next) {
				t.Errorf("parseToken(%q) = %x %v, want %x %v", tok, got.topic, got.next, p.topic, p.next)
			}
			if again := got.token(); again != tok {
				t.Errorf("the parsed position encodes to %q, want %q", again, tok)
			}
			if strings.ContainsAny(tok, "+/=") {
				t.Errorf("token %q is not URL-safe base64 without padding", tok)
			}
		})
	}
}

func TestParseTokenRefuses(t *testing.T) {
	valid := rawToken(tokenHeader(tokenTopic), uvarints(2, 5, 9))
	if _, err := parseToken(valid, tokenTopic); err != nil {
		t.Fatalf("the base of the malformed tokens %q is refused: %v", valid, err)
	}
	for _, tc := range []struct {
		name, token string
		want        string // in the error
	}{
		{"empty", "", "not a token of this version"},
		{"not base64", "not a token!", "illegal base64"},
		{"standard base64 alphabet", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 12)), "illegal base64"},
		{"padded", valid + "=", "illegal base64"},
		{"wrong version", rawToken([]byte{2}, tokenHeader(tokenTopic)[1:], uvarints(1, 0)), "not a token of this version"},
		{"version 0", rawToken([]byte{0}, tokenHeader(tokenTopic)[1:], uvarints(1, 0)), "not a token of this version"},
		{"shorter than the header", rawToken(tokenHeader(tokenTopic)[:8]), "cut short"},
		{"other topic", rawToken(tokenHeader("other-topic"), uvarints(2, 5, 9)), "not a token of topic " + tokenTopic},
		{"no partition count", rawToken(tokenHeader(tokenTopic)), "bad partition count"},
		{"truncated partition count", rawToken(tokenHeader(tokenTopic), []byte{0x80}), "bad partition count"},
		{"partition count overflows", rawToken(tokenHeader(tokenTopic), bytes.Repeat([]byte{0xff}, 10), []byte{1}), "bad partition count"},
		{"partition count larger than the bytes", rawToken(tokenHeader(tokenTopic), uvarints(1000, 1, 2)), "bad partition count"},
		{"fewer offsets than partitions", rawToken(tokenHeader(tokenTopic), uvarints(3, 1, 2)), "bad offset of partition 2"},
		{"truncated offset", rawToken(tokenHeader(tokenTopic), uvarints(2, 5), []byte{0x80}), "bad offset of partition 1"},
		{"offset overflows", rawToken(tokenHeader(tokenTopic), uvarints(1), bytes.Repeat([]byte{0xff}, 10), []byte{1}), "bad offset of partition 0"},
		{"offset above 2^62", rawToken(tokenHeader(tokenTopic), uvarints(2, 0, 1<<62+1)), "bad offset of partition 1"},
		{"negative offset", (&position{topic: xxhash.Sum64String(tokenTopic), next: []int64{-1}}).token(), "bad offset of partition 0"},
		{"largest offset", rawToken(tokenHeader(tokenTopic), uvarints(1, math.MaxUint64)), "bad offset of partition 0"},
		{"trailing bytes", rawToken(tokenHeader(tokenTopic), uvarints(2, 5, 9), []byte{0}), "trailing bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseToken(tc.token, tokenTopic)
			if err == nil {
				t.Fatalf("parseToken(%q) = %x %v, want an error with %q", tc.token, p.topic, p.next, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "resume token: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("parseToken(%q): error %q, want \"resume token: …%s…\"", tc.token, msg, tc.want)
			}
		})
	}
}

// canonicalToken reports whether s is a token as position.token writes
// them: strict base64 of its bytes and minimal uvarints.
func canonicalToken(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s || len(b) < 9 {
		return false
	}
	for b = b[9:]; len(b) > 0; {
		v, k := binary.Uvarint(b)
		if k <= 0 || k != len(binary.AppendUvarint(nil, v)) {
			return false
		}
		b = b[k:]
	}
	return true
}

func FuzzParseToken(f *testing.F) {
	topic := xxhash.Sum64String(tokenTopic)
	for _, next := range [][]int64{nil, {0}, {0, 17, 4}, {127, 128, 1 << 62}} {
		f.Add((&position{topic: topic, next: next}).token())
	}
	for _, s := range []string{
		"", "AQ", "not a token!",
		rawToken(tokenHeader(tokenTopic), uvarints(2, 5, 9), []byte{0}),
		rawToken(tokenHeader(tokenTopic), uvarints(1000, 1, 2)),
		rawToken(tokenHeader(tokenTopic), []byte{1, 0x80, 0x00}), // a non-minimal offset
		rawToken(tokenHeader("other-topic"), uvarints(1, 0)),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseToken(s, tokenTopic)
		if err != nil {
			return
		}
		if p.topic != topic {
			t.Fatalf("parseToken(%q) accepted the hash %x, want %x", s, p.topic, topic)
		}
		for i, o := range p.next {
			if o < 0 || o > 1<<62 {
				t.Fatalf("parseToken(%q): partition %d at offset %d, out of [0, 2^62]", s, i, o)
			}
		}
		tok := p.token()
		again, err := parseToken(tok, tokenTopic)
		if err != nil {
			t.Fatalf("the token %q of a parsed position (from %q) is refused: %v", tok, s, err)
		}
		if again.topic != p.topic || !slices.Equal(again.next, p.next) {
			t.Fatalf("parseToken(%q) = %v, want %v (parsed from %q)", tok, again.next, p.next, s)
		}
		if again.token() != tok {
			t.Fatalf("a canonical token re-encodes to %q, want %q", again.token(), tok)
		}
		if canonicalToken(s) && tok != s {
			t.Fatalf("the canonical token %q re-encodes to %q", s, tok)
		}
	})
}
