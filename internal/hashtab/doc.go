// Package hashtab provides Table, an open-addressing hash table of values
// found by a pair of 64-bit hashes: the tables that remember series by
// hashes of their bytes (the router's record decoder, the remote-write
// gateway) are one probe of one slot for a series seen before, where a Go
// map keyed by the pair, or by one hash with the value behind a pointer,
// costs two or three cache misses.
//
//	var t hashtab.Table[entry]
//	t.Put(hashtab.Key{H: h, Check: check}, e)
//	if e, ok := t.Get(hashtab.Key{H: h, Check: check}); ok { … }
//
// Keys are the hashes themselves: a Table never compares the bytes they
// were computed from, so the second hash should be one an attacker cannot
// predict (maphash under a seed of the process).
package hashtab
