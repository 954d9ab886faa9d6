package sample

import (
	"fmt"
	"reflect"
	"testing"
)

// fuzzDecoder remembers series across the inputs of a fuzz run, two at a
// time per generation, so that they turn over often.
var fuzzDecoder = NewDecoder(2)

// checkDecoder holds what a Decoder that remembers the series of earlier
// records makes of the record data, twice, to what DecodeRecordSamples
// made of it: got, bad and err.
func checkDecoder(t *testing.T, data []byte, fm Format, got []Sample, bad []BadSample, err error) {
	t.Helper()
	for range 2 {
		dgot, dbad, derr := fuzzDecoder.DecodeRecordSamples(data, fm, nil, nil)
		if fmt.Sprint(derr) != fmt.Sprint(err) || len(dgot) != len(got) || len(dbad) != len(bad) {
			t.Fatalf("Decoder: got %d samples, %d bad, %v; want %d, %d, %v", len(dgot), len(dbad), derr, len(got), len(bad), err)
		}
		for i := range got {
			checkKey(t, fuzzDecoder, &dgot[i])
			dgot[i].Key = SeriesKey{}
			if !reflect.DeepEqual(dgot[i], got[i]) {
				t.Fatalf("Decoder: sample %d: got %+v, want %+v", i, dgot[i], got[i])
			}
		}
		for i := range bad {
			if !reflect.DeepEqual(dbad[i], bad[i]) {
				t.Fatalf("Decoder: bad sample %d: got %+v, want %+v", i, dbad[i], bad[i])
			}
		}
	}
}

// checkKey fails t unless s's Key is zero or its name and labels' hashes
// under d's seed.
func checkKey(t *testing.T, d *Decoder, s *Sample) {
	t.Helper()
	if s.Key == (SeriesKey{}) {
		return
	}
	var want SeriesKey
	want.ID, want.Check = s.Labels.Hashes(s.Name, d.Seed())
	if s.Key != want {
		t.Fatalf("Decoder: %+v: key %+v, want %+v", s, s.Key, want)
	}
}

// TestDecoderRemembers: a Decoder decodes a series once while it remembers
// it, in both forms, across records, and its samples then share the
// first's Labels and its Key; one that remembers too little to keep any series decodes
// them again, alike.
func TestDecoderRemembers(t *testing.T) {
	batch := benchBatch(6)
	for _, form := range []struct {
		name   string
		encode func(dst []byte, batch []Sample) []byte
	}{{"series", AppendProto}, {"sample", appendSampleForm}} {
		for _, size := range []int{8, 1} {
			t.Run(fmt.Sprintf("%s/size=%d", form.name, size), func(t *testing.T) {
				d := NewDecoder(size)
				var first []Sample
				for rec := range 3 {
					for i := range batch {
						batch[i].Value = float64(rec)
					}
					got, bad, err := d.DecodeRecordSamples(form.encode(nil, batch), FormatProto, nil, nil)
					if err != nil || len(bad) > 0 || len(got) != len(batch) {
						t.Fatalf("record %d: got %d samples, %v, %v", rec, len(got), bad, err)
					}
					for i := range got {
						if !sameSample(&got[i], &batch[i]) {
							t.Fatalf("record %d, sample %d: got %+v, want %+v", rec, i, got[i], batch[i])
						}
						if got[i].Key == (SeriesKey{}) {
							t.Errorf("record %d, sample %d: no key", rec, i)
						}
						checkKey(t, d, &got[i])
						if rec > 0 && size == 8 && &got[i].Labels[0] != &first[i].Labels[0] {
							t.Errorf("record %d, sample %d: labels decoded again, want those of record 0", rec, i)
						}
					}
					if rec == 0 {
						first = got
					}
				}
				if st, want := d.Stats(), (DecoderStats{Hits: 12, Misses: 6}); size == 8 && st != want {
					t.Errorf("got %+v, want %+v", st, want)
				}
			})
		}
	}
}
