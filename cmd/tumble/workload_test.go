package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tumblemetrics/tumble/internal/loadgen"
	"github.com/tumblemetrics/tumble/replay"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
)

// fleetWorkload returns ticks seconds of the generated fleet from start, as
// raw records of topic keyed by pod, as a producer keying by series keys
// them (protobuf batches and JSON lines in turn, a few malformed records
// among them, 2 per 40 ticks); and the valid samples they hold, in order.
// Its windows close once the raw partitions are quiet, by
// closedAt(start, ticks).
func fleetWorkload(topic string, start int64, ticks int) (all []sample.Sample, recs []*kgo.Record) {
	g := loadgen.New(loadgen.Config{Seed: 7, StartMs: start, TickMs: 1000})
	for tick := range ticks {
		batch := g.Tick(nil)
		all = append(all, batch...)
		loadgen.PodRuns(batch, 0, func(pod string, run []sample.Sample) {
			rec := fleetRecord([]byte(pod), run, tick%2 == 0)
			rec.Topic = topic
			recs = append(recs, rec)
		})
		if tick%40 == 0 {
			key := []byte("bad")
			recs = append(recs,
				&kgo.Record{Topic: topic, Key: key, Value: []byte(`{"name":"x","value":1}`)},
				&kgo.Record{Topic: topic, Key: key, Value: []byte("\x0a\x05garbage")})
		}
	}
	return all, recs
}

// closedAt is the event time by which every window of a workload of ticks
// seconds from start has closed: the end of its last minute's window plus
// that window's lateness (a minute).
func closedAt(start int64, ticks int) int64 {
	last := start + int64(ticks)*1000
	return last - last%60_000 + 2*60_000
}

// fleetRecord returns a raw record of samples, keyed by key: a protobuf
// batch, or JSON lines.
func fleetRecord(key []byte, samples []sample.Sample, proto bool) *kgo.Record {
	rec := &kgo.Record{Key: key}
	if proto {
		rec.Value = sample.AppendProto(nil, samples)
		return rec
	}
	for i := range samples {
		rec.Value = append(sample.AppendJSON(rec.Value, &samples[i]), '\n')
	}
	return rec
}

// replayPoints returns the points that the offline replay computes from
// samples under the rule file, by pointKey.
func replayPoints(t *testing.T, rulesPath string, samples []sample.Sample) map[string]replay.Point {
	t.Helper()
	return replayPointsWith(t, rulesPath, samples, replay.Options{})
}

// replayPointsWith is replayPoints with the replay's options.
func replayPointsWith(t *testing.T, rulesPath string, samples []sample.Sample, opts replay.Options) map[string]replay.Point {
	t.Helper()
	var in bytes.Buffer
	for i := range samples {
		in.Write(sample.AppendJSON(nil, &samples[i]))
		in.WriteByte('\n')
	}
	rs, err := rules.ParseFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := replay.Run(rs, &in, &out, opts); err != nil {
		t.Fatal(err)
	}
	want := map[string]replay.Point{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p replay.Point
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		want[pointKey(p.Name, p.Labels, p.Policy, p.WindowEndMs)] = p
	}
	if len(want) == 0 {
		t.Fatal("replay made no point")
	}
	return want
}

// servedPoints returns every point the query API at base serves for the
// hour before atSec, under both policies of the example rules, by
// pointKey.
func servedPoints(t *testing.T, base string, atSec int64) map[string]float64 {
	t.Helper()
	return servedPolicyPoints(t, base, atSec, "10s:2d", "1m:40d")
}

// servedPolicyPoints is servedPoints under the storage policies given.
func servedPolicyPoints(t *testing.T, base string, atSec int64, policies ...string) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, pol := range policies {
		q := fmt.Sprintf(`{__name__=~".+", __policy__=%q}[1h]`, pol)
		var res struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Values [][2]any
				}
			}
		}
		getJSON(t, base+"/api/v1/query?"+url.Values{"query": {q}, "time": {strconv.FormatInt(atSec, 10)}}.Encode(), &res)
		for _, s := range res.Data.Result {
			name := s.Metric["__name__"]
			delete(s.Metric, "__name__")
			for _, v := range s.Values {
				ts := int64(v[0].(float64)*1000 + 0.5)
				f, _ := strconv.ParseFloat(v[1].(string), 64)
				got[pointKey(name, s.Metric, pol, ts)] = f
			}
		}
	}
	return got
}

// comparePoints requires got to hold exactly the points of want, bit for
// bit.
func comparePoints(t *testing.T, want map[string]replay.Point, got map[string]float64) {
	t.Helper()
	bad := 0
	for k, p := range want {
		g, ok := got[k]
		if !ok || math.Float64bits(g) != math.Float64bits(float64(p.Value)) && !(math.IsNaN(g) && math.IsNaN(float64(p.Value))) {
			if bad++; bad <= 10 {
				t.Errorf("%s: got %v (served: %v), want %v", k, g, ok, float64(p.Value))
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("%s: served, not in the replay", k)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d points differ (replay %d, served %d)", bad, len(want), len(got))
	}
}
