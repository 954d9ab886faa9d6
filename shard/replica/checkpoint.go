package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A checkpoint is the state a replica restarts from: the aggregator's state
// that spans windows, with the partition offset to read from again. See
// FORMAT.md for its bytes.
type checkpoint struct {
	seq    uint64
	offset int64                  // the offset the input state is as of
	wms    map[string]int64       // router watermarks as of offset (records of earlier versions)
	parts  map[rawPartition]int64 // raw partition watermarks as of offset
	input  []byte                 // aggregator.AppendInputState at offset
	output []byte                 // aggregator.AppendOutputState when written
}

const checkpointMagic = "TCKP"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkpointName(seq uint64) string { return fmt.Sprintf("checkpoint-%016d", seq) }

func (c *checkpoint) marshal() []byte {
	b := append([]byte(checkpointMagic), 2)
	b = binary.AppendUvarint(b, c.seq)
	b = binary.AppendVarint(b, c.offset)
	b = binary.AppendUvarint(b, uint64(len(c.wms)))
	for _, id := range slices.Sorted(maps.Keys(c.wms)) {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendVarint(b, c.wms[id])
	}
	b = binary.AppendUvarint(b, uint64(len(c.parts)))
	for _, p := range slices.SortedFunc(maps.Keys(c.parts), rawPartition.compare) {
		b = binary.AppendUvarint(b, uint64(len(p.topic)))
		b = append(b, p.topic...)
		b = binary.AppendUvarint(b, uint64(p.partition))
		b = binary.AppendVarint(b, c.parts[p])
	}
	b = binary.AppendUvarint(b, uint64(len(c.input)))
	b = append(b, c.input...)
	b = binary.AppendUvarint(b, uint64(len(c.output)))
	b = append(b, c.output...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseCheckpoint decodes a checkpoint file's bytes.
func parseCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < len(checkpointMagic)+1+4 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return nil, errors.New("not a checkpoint")
	}
	body := b[:len(b)-4]
	if sum := binary.LittleEndian.Uint32(b[len(b)-4:]); sum != crc32.Checksum(body, castagnoli) {
		return nil, fmt.Errorf("checksum %08x does not match the contents", sum)
	}
	version := body[len(checkpointMagic)]
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("unknown version %d", version)
	}
	d := body[len(checkpointMagic)+1:]
	var bad error
	uvarint := func() uint64 {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			bad, d = errors.New("malformed varint"), nil
			return 0
		}
		d = d[n:]
		return v
	}
	bytes := func() []byte {
		n := uvarint()
		if n > uint64(len(d)) {
			bad, d = fmt.Errorf("length %d past the end", n), nil
			return nil
		}
		v := d[:n]
		d = d[n:]
		return v
	}
	c := &checkpoint{seq: uvarint(), wms: map[string]int64{}, parts: map[rawPartition]int64{}}
	off, n := binary.Varint(d)
	if n <= 0 {
		return nil, errors.New("malformed offset")
	}
	c.offset, d = off, d[n:]
	for k := uvarint(); k > 0 && bad == nil; k-- {
		id := string(bytes())
		wm, n := binary.Varint(d)
		if n <= 0 {
			return nil, errors.New("malformed router watermark")
		}
		c.wms[id], d = wm, d[n:]
	}
	if version >= 2 {
		for k := uvarint(); k > 0 && bad == nil; k-- {
			topic := string(bytes())
			p := uvarint()
			if p > math.MaxInt32 {
				return nil, fmt.Errorf("partition %d of %q out of range", p, topic)
			}
			wm, n := binary.Varint(d)
			if n <= 0 {
				return nil, errors.New("malformed partition watermark")
			}
			c.parts[rawPartition{topic, int32(p)}], d = wm, d[n:]
		}
	}
	c.input, c.output = bytes(), bytes()
	if bad == nil && len(d) > 0 {
		bad = fmt.Errorf("%d bytes after the end", len(d))
	}
	return c, bad
}

// writeCheckpoint writes c durably into dir: a temporary file, synced,
// renamed, and the directory synced.
func writeCheckpoint(dir string, c *checkpoint) error {
	name := filepath.Join(dir, checkpointName(c.seq))
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = f.Write(c.marshal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoint %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// readCheckpoint reads checkpoint seq from dir.
func readCheckpoint(dir string, seq uint64) (*checkpoint, error) {
	name := filepath.Join(dir, checkpointName(seq))
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	c, err := parseCheckpoint(b)
	if err == nil && c.seq != seq {
		err = fmt.Errorf("holds sequence number %d", c.seq)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", name, err)
	}
	return c, nil
}

// removeCheckpoints removes from dir every checkpoint file but keep's, and
// unfinished writes.
func removeCheckpoints(dir string, keep uint64) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		seq, ok := strings.CutPrefix(name, "checkpoint-")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(seq, 10, 64); err == nil && n == keep {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
	}
	return nil
}
