// Package block reads and writes the files of an immutable on-disk block.
// So far: the chunk file, which holds the encoded chunks of a block's
// series one after the other, each with its length and a CRC32-Castagnoli,
// so that a corrupt or truncated chunk is caught and reported with its file
// and offset instead of being decoded into wrong values (FORMAT.md).
//
//	var buf bytes.Buffer
//	w := block.NewChunkWriter(&buf)
//	ref, err := w.Write(chunkBytes) // ref: where the chunk starts
//	...
//	r, err := block.OpenChunks("000001.chunks", buf.Bytes())
//	b, err := r.Chunk(ref) // checked against its CRC
package block
