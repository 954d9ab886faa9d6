// Package index is the inverted label index of the storage engine: for each
// label pair, the sorted list (postings) of the series that carry it, so that
// a selector such as {service="checkout", route=~"/pay|/cart", env!="dev"}
// finds its series by intersecting and subtracting lists instead of scanning
// every series.
//
// The head keeps a MemPostings, filled as series appear; a block keeps the
// same lists on disk in the format of FORMAT.md, read back by a Reader that
// checks every section's checksum and bounds. Both answer Select:
//
//	p := index.NewMemPostings()
//	p.Add(0, labels.FromStrings("__name__", "up", "job", "api"))
//	p.Add(1, labels.FromStrings("__name__", "up", "job", "web"))
//	refs, err := index.Select(p, labels.MustNewMatcher(labels.MatchRegexp, "job", "a.*"))
//	// refs == []uint64{0}
//
// Series refs are dense, assigned in increasing order; postings are sorted.
package index
