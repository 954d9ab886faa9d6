package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"

	"github.com/tumblemetrics/tumble/sample"
)

// TestRecords: a series' samples go to one record, keyed by its group, in
// the order given; the records decode to the samples, and are the same when
// the series' heads are given.
func TestRecords(t *testing.T) {
	var in []sample.Sample
	for i := range 300 {
		in = append(in, sample.Sample{Name: "x", Labels: sample.Labels{{Name: "pod", Value: fmt.Sprint(i % 100)}},
			Type: sample.Gauge, Value: float64(i), TimestampMs: int64(i)})
	}
	recs := Records("raw", in, nil)
	if len(recs) > Groups || len(recs) < 2 {
		t.Fatalf("got %d records, want between 2 and %d", len(recs), Groups)
	}
	// The heads of some series given: the same records.
	heads := make([][]byte, len(in))
	for i := range in {
		if i%3 != 0 {
			heads[i] = sample.AppendSeriesHead(nil, in[i].Name, in[i].Labels)
		}
	}
	withHeads := Records("raw", in, heads)
	if len(withHeads) != len(recs) {
		t.Fatalf("with heads: %d records, want %d", len(withHeads), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(withHeads[i].Value, recs[i].Value) || !bytes.Equal(withHeads[i].Key, recs[i].Key) {
			t.Fatalf("with heads, record %d: %q %x, want %q %x", i, withHeads[i].Key, withHeads[i].Value, recs[i].Key, recs[i].Value)
		}
	}
	keyOf := map[uint64]string{}
	n := 0
	for _, r := range recs {
		ss, err := sample.DecodeRecord(r.Value, sample.FormatProto, nil)
		if err != nil {
			t.Fatal(err)
		}
		last := map[uint64]float64{}
		for _, s := range ss {
			n++
			id := s.SeriesID()
			if k, ok := keyOf[id]; ok && k != string(r.Key) {
				t.Errorf("series %v in records keyed %s and %s", s.Labels, k, r.Key)
			}
			keyOf[id] = string(r.Key)
			if v, ok := last[id]; ok && s.Value <= v {
				t.Errorf("series %v: %v after %v", s.Labels, s.Value, v)
			}
			last[id] = s.Value
		}
	}
	if n != len(in) {
		t.Errorf("got %d samples back, want %d", n, len(in))
	}
}

func TestDecodeSnappy(t *testing.T) {
	l := Limits{MaxDecodedBytes: 1000}
	if b, err := DecodeSnappy(nil, snappy.Encode(nil, []byte("hello")), l); err != nil || string(b) != "hello" {
		t.Errorf("got %q %v, want hello", b, err)
	}
	var tl *TooLargeError
	if _, err := DecodeSnappy(nil, snappy.Encode(nil, make([]byte, 1001)), l); !errors.As(err, &tl) || tl.Limit != 1000 {
		t.Errorf("over the limit: got %v, want a *TooLargeError of limit 1000", err)
	}
	if _, err := DecodeSnappy(nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, l); !errors.Is(err, ErrBadSnappy) {
		t.Errorf("not snappy: got %v, want ErrBadSnappy", err)
	}
}

func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err   error
		code  int
		retry bool
	}{
		{fmt.Errorf("x: %w", ErrUnavailable), 503, true},
		{&TooLargeError{What: "body", Size: 2, Limit: 1}, 413, false},
		{fmt.Errorf("v2: %w", ErrUnsupported), 415, false},
		{errors.New("bad"), 400, false},
	} {
		w := httptest.NewRecorder()
		if got := Fail(w, tc.err); got != tc.code || w.Code != tc.code || (w.Header().Get("Retry-After") != "") != tc.retry {
			t.Errorf("%v: got %d (recorded %d, Retry-After %q), want %d, retry %v", tc.err, got, w.Code, w.Header().Get("Retry-After"), tc.code, tc.retry)
		}
	}
	var refused []Refused
	for i := range 25 {
		refused = append(refused, Refused{Series: fmt.Sprintf("s%d", i), Reason: "bad_field", Err: errors.New("bad")})
	}
	msg := RefusedError(refused, 3).Error()
	if !strings.HasPrefix(msg, "25 samples refused (3 written):\ns0: bad_field: bad") || !strings.HasSuffix(msg, "… and 5 more") {
		t.Errorf("got %q", msg)
	}
}
