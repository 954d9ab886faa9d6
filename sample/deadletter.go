package sample

// The headers of a dead letter: a raw record, or a sample, that tumble
// refused, in the dead-letter topic. The router writes those of the raw
// records it cannot route, the ingest gateways those of the samples they
// refuse, the leading replicas those of late samples when asked.
const (
	HeaderReason = "tumble-reason" // the reason code, e.g. malformed_json (the Code… constants)
	HeaderError  = "tumble-error"  // the error, for a person
	HeaderSource = "tumble-source" // where it came from: topic/partition/offset of a raw record, or a gateway and its series
	// HeaderPosition is the position, from 0, of a refused sample in its
	// raw record; the dead letter then holds that sample alone, as a
	// record of one sample in the raw record's format. A dead letter
	// without it holds the whole raw record, which did not decode.
	HeaderPosition = "tumble-position"
	// HeaderRule, HeaderPolicy and HeaderShard name the rule, the storage
	// policy and the shard of a sample dropped as late, whose dead letter
	// (reason ReasonLate) a leading replica writes when asked.
	HeaderRule   = "tumble-rule"
	HeaderPolicy = "tumble-policy"
	HeaderShard  = "tumble-shard"
)

// ReasonLate is the reason of the dead letter of a sample dropped as late.
const ReasonLate = "late"
