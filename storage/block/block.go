package block

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/storage/index"
)

// File names inside a block directory.
const (
	MetaFile   = "meta.json"
	IndexFile  = "index"
	ChunksFile = "chunks"
)

// Meta describes a block. It is written last: a directory without it is not
// a block.
type Meta struct {
	Version    int    `json:"version"`
	MinTime    int64  `json:"min_time_ms"` // the block covers [MinTime, MaxTime)
	MaxTime    int64  `json:"max_time_ms"`
	Policy     string `json:"policy"` // the storage policy of its series, e.g. "10s:2d"
	NumSeries  int    `json:"num_series"`
	NumChunks  int    `json:"num_chunks"`
	NumPoints  int    `json:"num_points"`
	IndexBytes int64  `json:"index_bytes"`
	ChunkBytes int64  `json:"chunk_bytes"`
}

// ChunkMeta locates one chunk of a series.
type ChunkMeta struct {
	MinTime, MaxTime int64 // of its points, inclusive
	NumPoints        int
	Ref              uint64 // in the chunk file
}

// Series is one series to write: its labels and its encoded chunks in time
// order, with their time ranges.
type Series struct {
	Labels labels.Labels
	Chunks []Chunk
}

// Chunk is an encoded chunk (storage/chunkenc) with its time range.
type Chunk struct {
	MinTime, MaxTime int64
	NumPoints        int
	Bytes            []byte
}

// Write writes a block of series into dir/name atomically: the files go to a
// temporary directory, are synced, and the directory is renamed into place
// and its parent synced. Series are sorted by labels; the block's series
// refs follow that order.
func Write(dir, name string, meta Meta, series []Series) error {
	final := filepath.Join(dir, name)
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	ss := slices.Clone(series)
	slices.SortFunc(ss, func(a, b Series) int { return labels.Compare(a.Labels, b.Labels) })

	cf, err := os.Create(filepath.Join(tmp, ChunksFile))
	if err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	defer cf.Close()
	cw := NewChunkWriter(cf)
	entries := make([]index.Series, len(ss))
	meta.Version, meta.NumSeries, meta.NumChunks, meta.NumPoints = 1, len(ss), 0, 0
	for i, s := range ss {
		var m []byte
		m = binary.AppendUvarint(m, uint64(len(s.Chunks)))
		for _, c := range s.Chunks {
			ref, err := cw.Write(c.Bytes)
			if err != nil {
				return fmt.Errorf("write block %s: %w", name, err)
			}
			m = binary.AppendVarint(m, c.MinTime)
			m = binary.AppendUvarint(m, uint64(c.MaxTime-c.MinTime))
			m = binary.AppendUvarint(m, uint64(c.NumPoints))
			m = binary.AppendUvarint(m, ref)
			meta.NumChunks++
			meta.NumPoints += c.NumPoints
		}
		entries[i] = index.Series{Labels: s.Labels, Meta: m}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	meta.ChunkBytes = int64(cw.Size())
	idx := index.Encode(entries)
	meta.IndexBytes = int64(len(idx))
	mj, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{IndexFile, idx}, {MetaFile, mj}} {
		if err := os.WriteFile(filepath.Join(tmp, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("write block %s: %w", name, err)
		}
	}
	for _, f := range []string{ChunksFile, IndexFile, MetaFile, "."} {
		if err := syncPath(filepath.Join(tmp, f)); err != nil {
			return fmt.Errorf("write block %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	if err := syncPath(dir); err != nil {
		return fmt.Errorf("write block %s: %w", name, err)
	}
	return nil
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Block is an open block: its meta, index and chunks, read into memory. It
// is immutable and safe for concurrent use.
type Block struct {
	Dir    string
	Meta   Meta
	Index  *index.DiskReader
	chunks *ChunkReader
}

// Open reads and checks the block in dir: its meta, the index's checksums
// and the chunk file's header (each chunk is checked as it is read).
func Open(dir string) (*Block, error) {
	mb, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", dir, err)
	}
	b := &Block{Dir: dir}
	if err := json.Unmarshal(mb, &b.Meta); err != nil {
		return nil, fmt.Errorf("open block %s: decode %s: %w", dir, MetaFile, err)
	}
	if b.Meta.Version != 1 {
		return nil, fmt.Errorf("open block %s: unknown version %d", dir, b.Meta.Version)
	}
	ib, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", dir, err)
	}
	if b.Index, err = index.Decode(filepath.Join(dir, IndexFile), ib); err != nil {
		return nil, fmt.Errorf("open block %s: %w", dir, err)
	}
	cb, err := os.ReadFile(filepath.Join(dir, ChunksFile))
	if err != nil {
		return nil, fmt.Errorf("open block %s: %w", dir, err)
	}
	if b.chunks, err = OpenChunks(filepath.Join(dir, ChunksFile), cb); err != nil {
		return nil, fmt.Errorf("open block %s: %w", dir, err)
	}
	if b.Index.NumSeries() != b.Meta.NumSeries {
		return nil, fmt.Errorf("open block %s: index holds %d series, meta says %d", dir, b.Index.NumSeries(), b.Meta.NumSeries)
	}
	return b, nil
}

// Series returns the labels and chunk metas of series ref.
func (b *Block) Series(ref uint64) (labels.Labels, []ChunkMeta, error) {
	ls, m, err := b.Index.Series(ref)
	if err != nil {
		return ls, nil, err
	}
	cms, err := decodeChunkMetas(m)
	if err != nil {
		return ls, nil, fmt.Errorf("read series %d of block %s: %w", ref, b.Dir, err)
	}
	return ls, cms, nil
}

// Chunk returns the bytes of the chunk at ref, checked against its CRC.
func (b *Block) Chunk(ref uint64) ([]byte, error) { return b.chunks.Chunk(ref) }

// Verify reads every chunk of the block and checks it, returning how many
// there are.
func (b *Block) Verify() (int, error) { return b.chunks.Verify() }

var errChunkMeta = errors.New("malformed chunk metas")

func decodeChunkMetas(m []byte) ([]ChunkMeta, error) {
	n, k := binary.Uvarint(m)
	if k <= 0 || n > uint64(len(m)) {
		return nil, errChunkMeta
	}
	m = m[k:]
	out := make([]ChunkMeta, 0, n)
	for range n {
		var c ChunkMeta
		var k1, k2, k3, k4 int
		var span, np uint64
		c.MinTime, k1 = binary.Varint(m)
		if k1 <= 0 {
			return nil, errChunkMeta
		}
		span, k2 = binary.Uvarint(m[k1:])
		if k2 <= 0 {
			return nil, errChunkMeta
		}
		np, k3 = binary.Uvarint(m[k1+k2:])
		if k3 <= 0 {
			return nil, errChunkMeta
		}
		c.Ref, k4 = binary.Uvarint(m[k1+k2+k3:])
		if k4 <= 0 {
			return nil, errChunkMeta
		}
		c.MaxTime, c.NumPoints = c.MinTime+int64(span), int(np)
		out = append(out, c)
		m = m[k1+k2+k3+k4:]
	}
	return out, nil
}
