package windowlog

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestSummaryOrderFree(t *testing.T) {
	type pt struct {
		policy     string
		start, end int64
		ls         labels.Labels
		v          float64
	}
	var pts []pt
	for i := range 50 {
		p := "10s:2d"
		if i%3 == 0 {
			p = "1m:40d"
		}
		end := int64(10_000 * (1 + i%4))
		pts = append(pts, pt{p, end - 10_000, end, labels.FromStrings("__name__", "x", "i", string(rune('a'+i%7))), float64(i)})
	}
	sum := func(order []int) []Window {
		s := NewSummary(2)
		for _, i := range order {
			p := pts[i]
			s.Add(p.policy, p.start, p.end, p.end+5000, PointHash(p.ls, p.v, [16]byte{byte(i % 2)}, 0))
		}
		return s.Windows(nil)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := sum(rng.Perm(len(pts)))
	if len(want) != 8 {
		t.Fatalf("got %d windows, want 8", len(want))
	}
	for i := 1; i < len(want); i++ {
		if want[i].CloseMs < want[i-1].CloseMs {
			t.Fatalf("windows out of close order: %+v", want)
		}
	}
	for range 5 {
		if got := sum(rng.Perm(len(pts))); !reflect.DeepEqual(got, want) {
			t.Fatalf("another order gave\n%+v\nwant\n%+v", got, want)
		}
	}
	// A different value is a different digest.
	s := NewSummary(2)
	s.Add("10s:2d", 0, 10_000, 15_000, PointHash(pts[0].ls, 1, [16]byte{}, 0))
	a := s.Windows(nil)[0].Digest
	s.Add("10s:2d", 0, 10_000, 15_000, PointHash(pts[0].ls, 2, [16]byte{}, 0))
	if b := s.Windows(nil)[0].Digest; a == b {
		t.Errorf("values 1 and 2 have the same digest %s", a)
	}
}

func TestDecode(t *testing.T) {
	good := Window{Shard: 1, Policy: "10s:2d", StartMs: 0, EndMs: 10_000, CloseMs: 20_000, Points: 3, Digest: "ab12", Leader: "n1", Term: 7}
	got, err := Decode(good.Encode())
	if err != nil || got != good {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, good)
	}
	for _, tc := range []struct {
		name, value string
	}{
		{"not json", `{"shard":`},
		{"no policy", `{"shard":1,"window_start_ms":0,"window_end_ms":10,"close_ms":10,"digest":"1"}`},
		{"empty window", `{"shard":1,"policy":"10s:2d","window_start_ms":10,"window_end_ms":10,"close_ms":10,"digest":"1"}`},
		{"closes before its end", `{"shard":1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10,"close_ms":5,"digest":"1"}`},
		{"negative points", `{"shard":1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10,"close_ms":10,"points":-1,"digest":"1"}`},
		{"negative shard", `{"shard":-1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10,"close_ms":10,"digest":"1"}`},
		{"bad digest", `{"shard":1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10,"close_ms":10,"digest":"xyz"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, err := Decode([]byte(tc.value)); err == nil {
				t.Errorf("got %+v, want an error", w)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	w := Window{Shard: 1, Policy: "10s:2d", StartMs: 0, EndMs: 10_000, CloseMs: 20_000, Points: 3, Digest: "ab12"}
	f.Add(w.Encode())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"shard":1e99}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes to what decodes the same.
		again, err := Decode(w.Encode())
		if err != nil || again != w {
			t.Fatalf("%q: decoded %+v, re-encoded and decoded %+v, %v", b, w, again, err)
		}
	})
}
