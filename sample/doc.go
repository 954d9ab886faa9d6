// Package sample defines the raw metric sample that producers send to tumble,
// the record formats that carry samples on the raw Kafka topic, and the limits
// a sample must keep (see DESIGN.md, "Outside contracts").
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
//     generated Go code. Its content-type header is ContentTypeProto.
//
// ParseFormat reads the content-type header; without one, DecodeRecord tells
// the formats apart by the first byte. Both formats carry the same fields
// under the same names and are decoded as strictly as each other: an unknown
// field, a missing one, a malformed trace ID, a reserved ("__") or repeated
// label name are errors. AppendProto and AppendJSON write the two formats
// for producers.
//
// A record is accepted or refused whole: one invalid sample makes DecodeRecord
// return an error and no samples, so the record goes to the dead-letter topic
// as it came. A router decodes, then holds every sample to its Limits:
//
//	batch, err := sample.DecodeRecord(rec.Value, sample.ParseFormat(contentType), batch[:0])
//	if err == nil {
//	    err = limits.CheckAll(batch, nowMs)
//	}
//	var de *sample.DecodeError
//	if errors.As(err, &de) {
//	    // dead-letter rec with the header reason=de.Code(); count it under
//	    // the label reason=de.Code(); de.Index is the faulty sample, or -1.
//	}
//
// # Errors
//
// Every error of DecodeJSON, DecodeRecord, Limits.Check and Limits.CheckAll is
// a *DecodeError. Its Code is one of a small, stable set, fit for a metric
// label or a dead-letter header (Codes lists them): empty_record,
// unsupported_format, malformed_json, malformed_protobuf, bad_field,
// value_not_finite, and the limits' too_many_labels, name_too_long,
// label_too_long, timestamp_in_future and timestamp_too_old. Its Reason is
// for people.
//
// # Limits
//
// Limits bound the labels a sample may carry (how many, how long their names
// and values), the length of its name, and how far its timestamp may be from
// now; DefaultLimits gives 64 labels, names of 256 bytes, label values of
// 1024 bytes, 10 minutes into the future and no bound into the past. The
// decoders apply no limit of their own beyond the contract's rules.
//
// The package is a leaf: it imports nothing of tumble but its own samplepb,
// and that only in tests. All its functions are safe for concurrent use.
package sample
