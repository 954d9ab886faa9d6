package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tumblemetrics/tumble/sample/samplepb"
)

// jsonBad is a sample object that breaks the contract (its value is a
// string), and pbBad the same in the protobuf form.
const jsonBad = `{"name":"x","type":"gauge","value":"1","timestamp_ms":5}`

var pbBad = pbSample(func(s *samplepb.Sample) { s.Value = nil })

// pbField returns the Batch field of the Sample message of p, as Raw has it.
func pbField(p *samplepb.Sample) []byte {
	msg, err := proto.Marshal(p)
	if err != nil {
		panic(err)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, fieldBatchSamples, protowire.BytesType), msg)
}

func TestDecodeRecordSamples(t *testing.T) {
	type wantBad struct {
		index       int
		code, field string
		raw         string
	}
	valueMissing := wantBad{1, CodeBadField, "value", string(pbField(pbBad))}
	for _, tc := range []struct {
		name     string
		format   Format
		in       []byte
		wantGood []string // names of the valid samples
		wantBad  []wantBad
	}{
		{"JSON lines, the middle one bad", FormatJSON, []byte(jsonA + "\n" + jsonBad + "\n" + jsonB),
			[]string{"a", "b"}, []wantBad{{1, CodeBadField, "value", jsonBad}}},
		{"array, pretty, first and last bad", FormatAuto, []byte("[\n  " + jsonBad + " ,\n  " + jsonA + ",\t1 ]"),
			[]string{"a"}, []wantBad{{0, CodeBadField, "value", jsonBad}, {2, CodeMalformedJSON, "", "1"}}},
		{"JSON lines, unknown field, not an object, null", FormatJSON, []byte(`{"name":"x","unit":"s"}` + "\n[]\n" + jsonA + "\nnull"),
			[]string{"a"}, []wantBad{{0, CodeBadField, "unit", `{"name":"x","unit":"s"}`}, {1, CodeMalformedJSON, "", "[]"}, {3, CodeBadField, "name", "null"}}},
		{"JSON, a bad label", FormatJSON, []byte(jsonA + "\n" + `{"name":"m","labels":{"a-b":"1"},"type":"gauge","value":1,"timestamp_ms":5}`),
			[]string{"a"}, []wantBad{{1, CodeBadField, "labels", `{"name":"m","labels":{"a-b":"1"},"type":"gauge","value":1,"timestamp_ms":5}`}}},
		{"JSON, one sample, bad", FormatAuto, []byte(" " + jsonBad + "\n"),
			nil, []wantBad{{0, CodeBadField, "value", jsonBad}}},
		{"protobuf, the middle one bad", FormatProto, pbBatch(pbSample(nil), pbBad, pbSample(nil)),
			[]string{"m", "m"}, []wantBad{valueMissing}},
		{"protobuf, a Sample message broken", FormatAuto, append(pbBatch(pbSample(nil)), pbRaw(pbSampleBytes()[:4])...),
			[]string{"m"}, []wantBad{{1, CodeMalformedProtobuf, "", string(pbRaw(pbSampleBytes()[:4]))}}},
		{"protobuf, a repeated series then broken", FormatProto, pbBatch(pbSample(nil), pbSample(nil), pbBad, pbSample(nil)),
			[]string{"m", "m", "m"}, []wantBad{{2, CodeBadField, "value", string(pbField(pbBad))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, bad, err := DecodeRecordSamples(tc.in, tc.format, []Sample{{Name: "kept"}}, []BadSample{{Index: -7}})
			if err != nil {
				t.Fatal(err)
			}
			if good[0].Name != "kept" || bad[0].Index != -7 {
				t.Fatalf("got %q and %d first, want the sample and the BadSample given", good[0].Name, bad[0].Index)
			}
			var names []string
			for _, s := range good[1:] {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tc.wantGood) {
				t.Errorf("valid samples: got %q, want %q", names, tc.wantGood)
			}
			bad = bad[1:]
			if len(bad) != len(tc.wantBad) {
				t.Fatalf("got %d bad samples %v, want %d", len(bad), bad, len(tc.wantBad))
			}
			for i, w := range tc.wantBad {
				b := bad[i]
				if b.Index != w.index || b.Err.Index != w.index || b.Err.Code() != w.code || b.Err.Field != w.field || string(b.Raw) != w.raw {
					t.Errorf("bad sample %d: got index %d (error's %d) code %s field %q raw %q, want index %d code %s field %q raw %q",
						i, b.Index, b.Err.Index, b.Err.Code(), b.Err.Field, b.Raw, w.index, w.code, w.field, w.raw)
				}
				var de *DecodeError
				if !errors.As(b, &de) || de != b.Err || !strings.HasPrefix(b.Error(), fmt.Sprintf("decode sample %d: ", w.index)) {
					t.Errorf("bad sample %d: got error %q unwrapping to %v, want its Err", i, b.Error(), de)
				}
			}
		})
	}
}

// TestOneBadSampleOfMany: one invalid sample in a record of 500 is refused
// alone, with its position and bytes, and costs the others nothing.
func TestOneBadSampleOfMany(t *testing.T) {
	const n, at = 500, 317
	batch := benchBatch(n)
	var lines []byte
	var want []byte
	for i := range batch {
		start := len(lines)
		if i == at {
			lines = append(lines, jsonBad...)
			want = lines[start:]
		} else {
			lines = AppendJSON(lines, &batch[i])
		}
		lines = append(lines, '\n')
	}
	pb := batch[:at:at]
	rec := AppendProto(nil, pb)
	rec = append(rec, pbField(pbBad)...)
	rec = AppendProto(rec, batch[at+1:])
	for _, tc := range []struct {
		name    string
		format  Format
		in, raw []byte
	}{
		{"JSON lines", FormatJSON, lines, want},
		{"protobuf", FormatProto, rec, pbField(pbBad)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, bad, err := DecodeRecordSamples(tc.in, tc.format, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(good) != n-1 || len(bad) != 1 || bad[0].Index != at || !bytes.Equal(bad[0].Raw, tc.raw) {
				t.Fatalf("got %d valid samples and %v, want %d and sample %d refused", len(good), bad, n-1, at)
			}
			for i := range good {
				j := i
				if i >= at {
					j++
				}
				if !sameSample(&good[i], &batch[j]) {
					t.Fatalf("valid sample %d: got %+v, want %+v", i, good[i], batch[j])
				}
			}
			// Raw is a slice of the record.
			if &bad[0].Raw[0] != &tc.in[bytes.Index(tc.in, tc.raw)] {
				t.Error("Raw is a copy, want a slice of the record")
			}
		})
	}
}

// wholeRecordErrors names the decodeErrorCases whose record does not split
// into samples: DecodeRecordSamples refuses it whole. In the others, one
// sample is invalid alone.
var wholeRecordErrors = map[string]bool{
	"empty": true, "empty protobuf": true, "white space": true, "empty array": true,
	"unsupported": true, "unknown format": true, "not JSON": true, "JSON string": true,
	"two objects on a line": true, "syntax error in line 2": true, "truncated": true,
	"array not closed": true, "array missing comma": true, "array trailing data": true,
	"protobuf truncated": true, "protobuf bad varint": true, "protobuf field 0": true,
	"protobuf unknown batch field": true, "protobuf samples wire type": true, "protobuf series wire type": true,
}

func TestDecodeRecordSamplesErrors(t *testing.T) {
	for _, tc := range decodeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			good, bad, err := DecodeRecordSamples(tc.in, tc.format, []Sample{{Name: "kept"}}, []BadSample{{Index: -7}})
			if wholeRecordErrors[tc.name] {
				if len(good) != 1 || len(bad) != 1 {
					t.Errorf("got %d samples and %d bad ones back, want only those given", len(good), len(bad))
				}
				checkError(t, err, tc)
				return
			}
			if err != nil {
				t.Fatalf("got %v, want sample %d refused alone", err, tc.index)
			}
			i := slices.IndexFunc(bad, func(b BadSample) bool { return b.Index == tc.index })
			if i < 0 {
				t.Fatalf("got bad samples %v, want sample %d", bad[1:], tc.index)
			}
			checkError(t, bad[i], tc)
		})
	}
}

// splitRecord splits the record data, in format fm (not FormatAuto), into
// the bytes of its samples as BadSample.Raw has them, with encoding/json
// and protowire rather than the package's own code; ok is false if the
// record does not split so.
func splitRecord(data []byte, fm Format) (raws [][]byte, ok bool) {
	if fm == FormatProto {
		for off := 0; off < len(data); {
			num, typ, n := protowire.ConsumeTag(data[off:])
			if n < 0 || num != fieldBatchSamples && num != fieldBatchSeries || typ != protowire.BytesType {
				return nil, false
			}
			v, m := protowire.ConsumeBytes(data[off+n:])
			if m < 0 {
				return nil, false
			}
			field := data[off : off+n+m]
			off += n + m
			if num == fieldBatchSamples {
				raws = append(raws, field)
				continue
			}
			raws = append(raws, splitSeries(v, field)...)
		}
		return raws, true
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, true
	}
	switch trimmed[0] {
	case '[':
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			return nil, false
		}
		for _, e := range elems {
			raws = append(raws, e)
		}
		return raws, true
	case '{':
		dec := json.NewDecoder(bytes.NewReader(data))
		for end := 0; ; {
			next := len(data) - len(bytes.TrimLeft(data[end:], " \t\r\n"))
			if next == len(data) {
				return raws, true
			}
			if end > 0 && bytes.IndexByte(data[end:next], '\n') < 0 {
				return nil, false
			}
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return nil, false
			}
			raws = append(raws, raw)
			end = int(dec.InputOffset())
		}
	}
	return nil, false
}

// splitSeries returns the samples of the Series message v, whose Batch
// field is field, as BadSample.Raw has them: for each Point, a Batch of a
// Series of the fields of v but the other points; field alone when v has
// no point or does not split into fields.
func splitSeries(v, field []byte) [][]byte {
	var head, points [][]byte
	for off := 0; off < len(v); {
		num, typ, n := protowire.ConsumeTag(v[off:])
		if n < 0 {
			return [][]byte{field}
		}
		m := protowire.ConsumeFieldValue(num, typ, v[off+n:])
		if m < 0 {
			return [][]byte{field}
		}
		if num == fieldSeriesPoints && typ == protowire.BytesType {
			points = append(points, v[off:off+n+m])
		} else {
			head = append(head, v[off:off+n+m])
		}
		off += n + m
	}
	if len(points) == 0 {
		return [][]byte{field}
	}
	var raws [][]byte
	for _, p := range points {
		msg := append(bytes.Join(head, nil), p...)
		raws = append(raws, protowire.AppendBytes(protowire.AppendTag(nil, fieldBatchSeries, protowire.BytesType), msg))
	}
	return raws
}

// decodeAlone decodes raw, the bytes of one sample in format fm (not
// FormatAuto), as the sample of a record of its own.
func decodeAlone(t *testing.T, raw []byte, fm Format) (Sample, *DecodeError) {
	t.Helper()
	if fm == FormatJSON {
		s, err := DecodeJSON(raw)
		if err != nil {
			return s, err.(*DecodeError)
		}
		return s, nil
	}
	good, bad, err := DecodeRecordSamples(raw, fm, nil, nil)
	switch {
	case err != nil || len(good)+len(bad) != 1:
		t.Fatalf("sample %q alone: got %d samples, %d bad, %v; want one sample", raw, len(good), len(bad), err)
	case len(bad) == 1:
		return Sample{}, bad[0].Err
	}
	return good[0], nil
}

// sameError reports whether a and b have the same code, field and reason.
func sameError(a, b *DecodeError) bool {
	return a.Code() == b.Code() && a.Field == b.Field && a.Reason == b.Reason
}

// checkRecordSamples holds DecodeRecordSamples's split of the record data to
// splitRecord's and to DecodeRecord's result, and each sample, valid or
// not, to what its bytes decode to alone. It returns the samples, the bad
// ones, and the record's error.
func checkRecordSamples(t *testing.T, data []byte, fm Format) ([]Sample, []BadSample, error) {
	t.Helper()
	good, bad, err := DecodeRecordSamples(data, fm, []Sample{{Name: "kept"}}, []BadSample{{Index: -7}})
	if len(good) == 0 || good[0].Name != "kept" || len(bad) == 0 || bad[0].Index != -7 {
		t.Fatalf("got %d samples and %d bad ones, want those given first", len(good), len(bad))
	}
	good, bad = good[1:], bad[1:]
	whole, wholeErr := DecodeRecord(data, fm, nil)
	fm = fm.Of(data)
	raws, splits := splitRecord(data, fm)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !slices.Contains(Codes(), de.Code()) {
			t.Fatalf("got error %#v, want a *DecodeError with a known code", err)
		}
		if len(good)+len(bad) != 0 {
			t.Fatalf("got %d samples and %d bad ones back after an error, want only those given", len(good), len(bad))
		}
		if fm != FormatUnsupported && splits && len(raws) > 0 {
			t.Fatalf("record %q: got error %v, want its %d samples", data, err, len(raws))
		}
		if wholeErr == nil { // err, or a sample's before it
			t.Fatalf("DecodeRecord: got no error, want one like %v", err)
		}
		return nil, nil, err
	}
	if !splits || len(good)+len(bad) != len(raws) {
		t.Fatalf("record %q: got %d samples and %d bad ones, want %d in all (splits: %v)", data, len(good), len(bad), len(raws), splits)
	}
	if len(bad) > 0 {
		if wholeErr == nil || wholeErr.Error() != bad[0].Error() {
			t.Fatalf("DecodeRecord: got %v, want the first bad sample's %v", wholeErr, bad[0])
		}
	} else if wholeErr != nil || !reflect.DeepEqual(whole, good) {
		t.Fatalf("DecodeRecord: got %+v, %v; want %+v", whole, wholeErr, good)
	}
	g := 0
	for n, b := range positions(t, len(raws), bad) {
		if b == nil {
			s, err := decodeAlone(t, raws[n], fm)
			if err != nil || !sameSample(&s, &good[g]) {
				t.Fatalf("sample %d %q alone: got %+v, %v; in the record %+v", n, raws[n], s, err, good[g])
			}
			g++
			continue
		}
		if b.Err == nil || b.Err.Index != n || !bytes.Equal(b.Raw, raws[n]) {
			t.Fatalf("bad sample %d: got %+v, want its error at index %d and bytes %q", n, b, n, raws[n])
		}
		if _, err := decodeAlone(t, b.Raw, fm); err == nil || !sameError(err, b.Err) {
			t.Fatalf("bad sample %d %q alone: got %v, in the record %v", n, b.Raw, err, b.Err)
		}
	}
	return good, bad, nil
}

// positions returns, for each position of a record of n samples, its
// BadSample in bad, or nil for a valid sample; bad must be sorted by Index.
func positions(t *testing.T, n int, bad []BadSample) []*BadSample {
	t.Helper()
	at := make([]*BadSample, n)
	for i := range bad {
		if i > 0 && bad[i].Index <= bad[i-1].Index || bad[i].Index < 0 || bad[i].Index >= n {
			t.Fatalf("got bad samples %v, want them sorted by Index, from 0 to %d", bad, n-1)
		}
		at[bad[i].Index] = &bad[i]
	}
	return at
}

// fuzzLimits and fuzzNow are tight enough for many fuzzed samples to break
// a limit.
var fuzzLimits = Limits{MaxLabels: 2, MaxNameLength: 6, MaxLabelValueLength: 4, MaxFuture: time.Second, MaxPast: time.Hour}

const fuzzNow = 7200000

// checkFilter holds Limits.Filter of the record data, which decoded to good
// and bad, to Check and to what the bytes of each refused sample decode to.
func checkFilter(t *testing.T, data []byte, fm Format, good []Sample, bad []BadSample) {
	t.Helper()
	var wantKept []Sample
	var refused []int // positions in good
	for i := range good {
		if fuzzLimits.Check(&good[i], fuzzNow) == nil {
			wantKept = append(wantKept, good[i])
		} else {
			refused = append(refused, i)
		}
	}
	kept, all := fuzzLimits.Filter(data, fm, fuzzNow, slices.Clone(good), slices.Clone(bad))
	if len(kept) != len(wantKept) || len(kept) > 0 && !reflect.DeepEqual(kept, wantKept) || len(all) != len(bad)+len(refused) {
		t.Fatalf("got %d kept and %d bad, want %d and %d", len(kept), len(all), len(wantKept), len(bad)+len(refused))
	}
	at := positions(t, len(good)+len(bad), all)
	goodAt := []int{}
	for n, b := range positions(t, len(good)+len(bad), bad) {
		if b == nil {
			goodAt = append(goodAt, n)
		}
	}
	for _, i := range refused {
		n := goodAt[i]
		b := at[n]
		if b == nil || b.Err.Index != n || b.Err.Error() != atIndex(fuzzLimits.Check(&good[i], fuzzNow), n).Error() {
			t.Fatalf("sample %d refused: got %v, want its error at index %d", i, b, n)
		}
		fm := fm.Of(data)
		s, err := decodeAlone(t, b.Raw, fm)
		if err != nil || !sameSample(&s, &good[i]) {
			t.Fatalf("refused sample %d %q alone: got %+v, %v; want %+v", n, b.Raw, s, err, good[i])
		}
	}
}
