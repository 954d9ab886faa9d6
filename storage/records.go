package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/chunkenc"
	"github.com/tumblemetrics/tumble/storage/wal"
)

// The records of a WAL batch (FORMAT.md). A batch holds at most one series
// record, defining the series its points record is the first to use, then
// at most one points record.
const (
	recSeries byte = 1
	recPoints byte = 2
)

// seriesDef is a series as the WAL defines it: the ref its points use.
type seriesDef struct {
	ref    uint64
	policy string
	lset   labels.Labels
}

// walPoint is a point as the WAL records it.
type walPoint struct {
	ref   uint64
	t     int64
	v     float64
	hasEx bool
	ex    chunkenc.Exemplar
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSeriesRecord(b []byte, defs []seriesDef) []byte {
	b = append(b, recSeries)
	b = binary.AppendUvarint(b, uint64(len(defs)))
	for _, d := range defs {
		b = binary.AppendUvarint(b, d.ref)
		b = appendString(b, d.policy)
		b = binary.AppendUvarint(b, uint64(d.lset.Len()))
		d.lset.Range(func(l labels.Label) {
			b = appendString(b, l.Name)
			b = appendString(b, l.Value)
		})
	}
	return b
}

const pointHasExemplar = 1

func appendPointsRecord(b []byte, ps []walPoint) []byte {
	b = append(b, recPoints)
	b = binary.AppendUvarint(b, uint64(len(ps)))
	var prev int64
	for _, p := range ps {
		b = binary.AppendUvarint(b, p.ref)
		b = binary.AppendVarint(b, p.t-prev)
		prev = p.t
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.v))
		if !p.hasEx {
			b = append(b, 0)
			continue
		}
		b = append(b, pointHasExemplar)
		b = append(b, p.ex.TraceID[:]...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.ex.Value))
		b = binary.AppendVarint(b, p.ex.TimestampMs-p.t)
	}
	return b
}

var errRecord = errors.New("malformed record")

// recordDecoder reads the fields of one record, remembering the first error
// and the offset it happened at.
type recordDecoder struct {
	b   []byte
	off int
	err error
}

func (d *recordDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", errRecord, what, d.off)
	}
}

func (d *recordDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *recordDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *recordDecoder) bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail(what + " past the end")
		return nil
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *recordDecoder) string(what string) string {
	return string(d.bytes(d.uvarint(what+" length"), what))
}

// count reads a count of items each at least min bytes long, refusing one
// the rest of the record cannot hold (so that a corrupt count cannot make
// the decoder allocate without bound).
func (d *recordDecoder) count(what string, min int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)-d.off)/uint64(min) {
		d.fail(what + " larger than the record")
		return 0
	}
	return int(n)
}

// decodeSeriesRecord decodes a series record, type byte included.
func decodeSeriesRecord(b []byte) ([]seriesDef, error) {
	d := recordDecoder{b: b, off: 1}
	n := d.count("series count", 3)
	defs := make([]seriesDef, 0, n)
	var lb labels.ScratchBuilder
	for range n {
		ref := d.uvarint("series ref")
		pol := d.string("policy")
		nl := d.count("label count", 2)
		lb.Reset()
		for range nl {
			name := d.string("label name")
			value := d.string("label value")
			lb.Add(name, value)
		}
		if d.err != nil {
			return nil, d.err
		}
		lb.Sort()
		defs = append(defs, seriesDef{ref: ref, policy: pol, lset: lb.Labels()})
	}
	if d.err == nil && d.off != len(b) {
		d.fail("trailing bytes")
	}
	return defs, d.err
}

// decodePointsRecord decodes a points record, type byte included, appending
// to dst.
func decodePointsRecord(dst []walPoint, b []byte) ([]walPoint, error) {
	d := recordDecoder{b: b, off: 1}
	n := d.count("point count", 11)
	var prev int64
	for range n {
		var p walPoint
		p.ref = d.uvarint("point ref")
		p.t = prev + d.varint("point timestamp")
		prev = p.t
		if v := d.bytes(8, "point value"); v != nil {
			p.v = math.Float64frombits(binary.LittleEndian.Uint64(v))
		}
		flags := d.bytes(1, "point flags")
		if flags != nil && flags[0]&^pointHasExemplar != 0 {
			d.fail("unknown point flags")
		}
		if flags != nil && flags[0]&pointHasExemplar != 0 {
			p.hasEx = true
			copy(p.ex.TraceID[:], d.bytes(16, "exemplar trace ID"))
			if v := d.bytes(8, "exemplar value"); v != nil {
				p.ex.Value = math.Float64frombits(binary.LittleEndian.Uint64(v))
			}
			p.ex.TimestampMs = p.t + d.varint("exemplar timestamp")
		}
		if d.err != nil {
			return dst, d.err
		}
		dst = append(dst, p)
	}
	if d.err == nil && d.off != len(b) {
		d.fail("trailing bytes")
	}
	return dst, d.err
}

// walBatch is a batch of one record.
func walBatch(rec, pos []byte) wal.Batch {
	return wal.Batch{Records: [][]byte{rec}, Position: pos}
}
