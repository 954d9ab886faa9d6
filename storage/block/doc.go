// Package block writes and reads immutable on-disk blocks: the points of a
// time range of one storage policy's series. A block is a directory of three
// files (FORMAT.md): the chunk file (encoded chunks, each with a CRC), the
// label index (storage/index, whose per-series payload lists the series'
// chunks) and meta.json, written last and atomically with the directory.
//
//	err := block.Write(dir, "01-0000000000", block.Meta{MinTime: t0, MaxTime: t1, Policy: "10s:2d"}, series)
//	b, err := block.Open(filepath.Join(dir, "01-0000000000"))
//	refs, err := index.Select(b.Index, matchers...)
//	ls, chunks, err := b.Series(refs[0])
//	bytes, err := b.Chunk(chunks[0].Ref) // checked against its CRC
//
// A corrupt or truncated file is reported with its path and, for the index
// and the chunks, the byte offset: Open checks the meta, the index's
// checksums and the chunk file's header; each chunk is checked as it is
// read, and Verify reads them all. A Block is immutable and safe for
// concurrent use.
package block
