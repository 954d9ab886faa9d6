package remotewrite

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/internal/hashtab"
	"github.com/tumblemetrics/tumble/sample"
)

// TestKnownSeries: the series a request sends as Prometheus does are
// remembered, under the limits they were checked against, and their
// samples have heads; a series remembered is not checked again (a
// remembered series that would not pass is taken); one with its labels
// after a sample is neither remembered nor given a head.
func TestKnownSeries(t *testing.T) {
	marshal := func(wr *prompb.WriteRequest) []byte {
		b, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "a", "pod", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}, {Value: 2, Timestamp: now}}},
		{Labels: lbls("pod", "2", "__name__", "a"), Samples: []prompb.Sample{{Value: 3, Timestamp: now}}}, // unsorted
	}})
	// A series with its labels after its sample.
	ts := marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Samples: []prompb.Sample{{Value: 4, Timestamp: now}}}}})
	ts = append(ts[2:], marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: lbls("__name__", "a", "pod", "3")}}})[2:]...)
	mixed := append(append(append([]byte(nil), body...), 0x0a, byte(len(ts))), ts...)
	// A series that does not pass: a reserved label name.
	reserved := marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "a", "__pod", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: now}}},
	}})

	d := NewDecoder()
	decode := func(raw []byte, limits sample.Limits) (int, [][]byte) {
		var r writeRequest
		if err := r.unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		var heads [][]byte
		samples, _ := d.decode(&r, limits, now, nil, &heads, nil)
		checkHeads(t, "decode", samples, heads)
		return len(samples), heads
	}
	remembered := func() int { return d.known.cur.Len() + d.known.prev.Len() }
	if n, heads := decode(body, sample.DefaultLimits()); n != 3 || heads[0] == nil || heads[2] == nil || remembered() != 2 {
		t.Fatalf("got %d samples, heads %x, %d series remembered; want 3, all with a head, 2", n, heads, remembered())
	}
	if n, heads := decode(mixed, sample.DefaultLimits()); n != 4 || heads[3] != nil || remembered() != 2 {
		t.Fatalf("mixed: got %d samples, heads %x, %d series remembered; want 4, the last without a head, 2", n, heads, remembered())
	}
	other := sample.DefaultLimits()
	other.MaxLabels = 5
	if n, _ := decode(body, other); n != 3 || remembered() != 2 || d.known.limits != other {
		t.Fatalf("other limits: got %d samples, %d series remembered under %+v", n, remembered(), d.known.limits)
	}
	if n, _ := decode(reserved, other); n != 0 || remembered() != 2 {
		t.Fatalf("reserved: got %d samples, %d series remembered; want none, 2", n, remembered())
	}
	var r writeRequest
	if err := r.unmarshal(reserved); err != nil {
		t.Fatal(err)
	}
	h := r.series[0].head
	d.known.remember(other, []hashtab.Key{d.known.hash(r.str[h.from:h.to])}, []known{{}})
	if got, _ := d.decode(&r, other, now, nil, new([][]byte), nil); len(got) != 1 {
		t.Fatalf("reserved, remembered: got %d samples, want 1: a series remembered is not checked again", len(got))
	}
}

// TestKnownSeriesGenerations: a series found in the previous generation is
// kept when remembered again; the others go when the current one is full.
func TestKnownSeriesGenerations(t *testing.T) {
	k := newKnownSeries(2)
	l := sample.DefaultLimits()
	hs := []hashtab.Key{{H: 1, Check: 1}, {H: 2, Check: 2}, {H: 3, Check: 3}, {H: 4, Check: 4}}
	ks := []known{{sk: 'a'}, {sk: 'b'}, {sk: 'c'}, {sk: 'd'}}
	k.remember(l, hs[:2], ks[:2])   // a, b
	k.remember(l, hs[2:3], ks[2:3]) // c: a and b become the previous generation
	if s, found, old := k.lookup(hs[0], l); !found || s.sk != 'a' || !old {
		t.Fatalf("a: got %c, %v, %v; want it in the previous generation", s.sk, found, old)
	}
	k.remember(l, hs[:1], ks[:1]) // a moves to the current one, with c
	k.remember(l, hs[3:], ks[3:]) // d: c and a become the previous generation, b goes
	for i, want := range []bool{true, false, true, true} {
		if s, found, _ := k.lookup(hs[i], l); found != want || found && s.sk != ks[i].sk {
			t.Errorf("%c: got %c, %v; want found %v", ks[i].sk, s.sk, found, want)
		}
	}
	if _, found, _ := k.lookup(hs[3], sample.Limits{}); found {
		t.Error("d: found under other limits")
	}
}
