package windowlog

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/flush/selection"
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
		s := NewSummary(2, 4)
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
	s := NewSummary(2, 4)
	s.Add("10s:2d", 0, 10_000, 15_000, PointHash(pts[0].ls, 1, [16]byte{}, 0))
	a := s.Windows(nil)[0].Digest
	s.Add("10s:2d", 0, 10_000, 15_000, PointHash(pts[0].ls, 2, [16]byte{}, 0))
	if b := s.Windows(nil)[0].Digest; a == b {
		t.Errorf("values 1 and 2 have the same digest %s", a)
	}
}

// testSelection is a final selection of the window [0, 10s) of 10s:2d of
// shard 1.
func testSelection(trace string, v float64) selection.Selection {
	return selection.Selection{TraceID: trace, Reason: selection.Final, Name: "lat_by_route", Labels: map[string]string{"route": "/pay"},
		Aggregation: "P99", Policy: "10s:2d", StartMs: 0, EndMs: 10_000, Value: v, SampleValue: v, SampleMs: 5_000, Rule: "r", Shard: 1}
}

func TestDecode(t *testing.T) {
	good := Window{Shard: 1, Policy: "10s:2d", StartMs: 0, EndMs: 10_000, CloseMs: 20_000, Points: 3, Digest: "ab12", Leader: "n1", Term: 7,
		Selected: 1, Selections: []selection.Selection{testSelection("4bf92f3577b34da6a3ce929d0e0e4736", 0.8)}}
	got, err := Decode(good.Encode())
	if err != nil || !reflect.DeepEqual(got, good) {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, good)
	}
	logged, err := Decode(good.LogRecord())
	if err != nil || logged.Selected != 1 || logged.Selections != nil {
		t.Fatalf("log record: got %+v, %v; want the window with 1 selected and no selections", logged, err)
	}
	sel := testSelection("4bf92f3577b34da6a3ce929d0e0e4736", 0.8)
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
		{"more selections than selected", `{"shard":1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10000,"close_ms":10000,"digest":"1",` +
			`"selections":[` + string(sel.Encode()) + `]}`},
		{"selection of another window", `{"shard":1,"policy":"10s:2d","window_start_ms":10000,"window_end_ms":20000,"close_ms":20000,"digest":"1",` +
			`"selected":1,"selections":[` + string(sel.Encode()) + `]}`},
		{"invalid selection", `{"shard":1,"policy":"10s:2d","window_start_ms":0,"window_end_ms":10000,"close_ms":10000,"digest":"1",` +
			`"selected":1,"selections":[{"trace_id":"00"}]}`},
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
	w.Selected, w.Selections = 1, []selection.Selection{testSelection("4bf92f3577b34da6a3ce929d0e0e4736", 0.8)}
	w.Shard = 1
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
		if err != nil || !reflect.DeepEqual(again, w) {
			t.Fatalf("%q: decoded %+v, re-encoded and decoded %+v, %v", b, w, again, err)
		}
	})
}

func TestSummarySelections(t *testing.T) {
	// Four offers in one window under a cap of 0.4/s across 2 shards: 2
	// a window of 10s; the two highest values win, in whatever order the
	// offers came.
	offers := []selection.Pending{
		{Selection: testSelection("00000000000000000000000000000001", 0.1), PerSecond: 0.4},
		{Selection: testSelection("00000000000000000000000000000002", 0.9), PerSecond: 0.4},
		{Selection: testSelection("00000000000000000000000000000003", 0.5), PerSecond: 0.4},
		{Selection: testSelection("00000000000000000000000000000004", 0.7), PerSecond: 0.4},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var want []Window
	for i := range 6 {
		s := NewSummary(1, 2)
		for _, j := range rng.Perm(len(offers)) {
			o := offers[j]
			o.Labels = map[string]string{"route": "/r" + string(rune('0'+j))}
			s.Add("10s:2d", 0, 10_000, 15_000, uint64(j))
			s.Select("10s:2d", 0, 10_000, 15_000, o)
		}
		got := s.Windows(nil)
		if i == 0 {
			want = got
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("another order gave\n%+v\nwant\n%+v", got, want)
		}
	}
	if len(want) != 1 || want[0].Selected != 2 || len(want[0].Selections) != 2 {
		t.Fatalf("got %+v, want one window with 2 selections", want)
	}
	for i, trace := range []string{"00000000000000000000000000000002", "00000000000000000000000000000004"} {
		if s := want[0].Selections[i]; s.TraceID != trace || s.Shard != 1 || s.Reason != selection.Final {
			t.Errorf("selection %d: %+v, want trace %s of shard 1, final", i, s, trace)
		}
	}
}
