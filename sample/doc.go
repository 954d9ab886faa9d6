// Package sample defines the raw metric sample that producers send to tumble,
// the record formats that carry samples on the raw Kafka topic, and the limits
// a sample must keep: the contract between producers and tumble, described
// below.
//
// A Sample is a value of one input series at one event time, with an optional
// trace ID. Its Labels are kept sorted by name so that two samples of the same
// series hash and compare alike:
//
//	s, err := sample.DecodeJSON([]byte(`{"name":"http_request_duration_seconds",
//	    "labels":{"service":"checkout"},"type":"timer","value":0.182,
//	    "timestamp_ms":1763800000123,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`))
//	if err != nil {
//	    var de *sample.DecodeError // names the field and the reason
//	    ...
//	}
//	id := s.SeriesID() // xxhash of the name and labels
//
// # Records
//
// The value of a Kafka record on the raw topic is one of:
//
//   - JSON: one sample object of the contract, a JSON array of them, or
//     sample objects separated by newlines (JSON lines). Its content-type
//     header is ContentTypeJSON.
//   - Protobuf: a tumble.sample.v1.Batch of samples, defined with every
//     field's rules in samplepb/sample.proto; package samplepb holds the
//     generated Go code. Its content-type header is ContentTypeProto. A
//     Batch carries a sample in one of two forms, which may be mixed: a
//     Sample message carries its series (name, labels, type) itself, and a
//     Series message carries them once for its Points, each Point a sample.
//     AppendProto writes the Series form, one Series per run of samples of
//     one series (SameSeries); the decoder reads the series of a Series
//     once, and its Points share the name and Labels it gives them.
//
// ParseFormat reads the content-type header; without one, DecodeRecordSamples
// tells the formats apart by the first byte. Both formats carry the same
// fields under the same names and are decoded as strictly as each other,
// with the same errors: an unknown field, a missing one, a malformed trace
// ID, a repeated label name are errors, and names follow Prometheus' rules
// (a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*, a label name
// [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__", which is kept for
// internal labels; names and label values are valid UTF-8). AppendProto and
// AppendJSON write the two formats for producers.
//
// A record is split into its samples, and each sample is valid or invalid on
// its own: DecodeRecordSamples returns the valid samples and, for each
// invalid one, a BadSample with its position in the record, its
// *DecodeError and its bytes, a record of that one sample in the same
// format. A router decodes, holds the samples to its Limits with
// Limits.Filter, which sets apart those that break one in the same way,
// routes the rest, and dead-letters each BadSample alone:
//
//	format := sample.ParseFormat(contentType)
//	good, bad, err := sample.DecodeRecordSamples(rec.Value, format, good[:0], bad[:0])
//	var de *sample.DecodeError
//	if errors.As(err, &de) {
//	    // the record does not split into samples: dead-letter rec whole,
//	    // with the header reason=de.Code(), and count it under that label
//	}
//	good, bad = limits.Filter(rec.Value, format, nowMs, good, bad)
//	for _, b := range bad {
//	    // dead-letter b.Raw, with rec's headers and reason=b.Err.Code();
//	    // b.Index is the sample's position in rec
//	}
//
// A Decoder decodes as DecodeRecordSamples does and remembers the series of
// recent records: the samples of a series it remembers share its name and
// Labels and carry its Key (Labels.Hashes under the Decoder's seed), so that
// a rules.Matcher given the same seed finds their series without hashing
// their labels again. Code that changes a sample's name or labels zeroes
// its Key.
//
// Only a record that does not split into samples is refused whole: one that
// is not JSON or a Batch, JSON that breaks off between samples, a Batch
// field other than a sample, no sample at all. DecodeRecord and
// Limits.CheckAll keep to a record valid or invalid as a whole, for callers
// that want it so: they return the first error, whose Index is the faulty
// sample, or -1.
//
// # Errors
//
// Every error of DecodeJSON, DecodeRecord, DecodeRecordSamples, Limits.Check
// and Limits.CheckAll, and the Err of every BadSample, is a *DecodeError. Its
// Code is one of a small, stable set, fit for a metric label or a
// dead-letter header (Codes lists them): empty_record, unsupported_format,
// malformed_json, malformed_protobuf, bad_field, value_not_finite, and the
// limits' too_many_labels, name_too_long, label_too_long,
// timestamp_in_future and timestamp_too_old. Its Reason is for people. A
// fault is reported alike in both formats: with the same Code and Field, and
// the same Reason wherever the two forms spell the faulty field alike.
//
// # Limits
//
// Limits bound the labels a sample may carry (how many, how long their names
// and values), the length of its name, and how far its timestamp may be from
// now; DefaultLimits gives 64 labels, names of 256 bytes, label values of
// 1024 bytes, 5 seconds into the future and no bound into the past. The
// decoders apply no limit of their own beyond the contract's rules.
//
// The package is a leaf: it imports nothing of tumble but its own samplepb,
// and that only in tests. All its functions are safe for concurrent use.
//
// ARCHITECTURE.md, at the repository's root, places this package in
// the data flow.
package sample
