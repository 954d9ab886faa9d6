// Package sample defines the raw metric sample that producers send to tumble
// and its JSON form (see DESIGN.md, "Outside contracts").
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
// The package is a leaf: it imports nothing of tumble.
package sample
