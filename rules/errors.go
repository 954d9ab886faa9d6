package rules

import (
	"errors"
	"strconv"
	"strings"
)

// Error is one fault of a rule file. Parse reports every fault it finds,
// joined with errors.Join; ErrorList takes them apart again.
//
// Its message reads
//
//	rules.yaml:14: rollupRules "http latency by route": transforms[1].rollup.aggregations[2]: unknown aggregation "P98" (want one of ...)
//
// with the rule's index, rollupRules[3], when it has no name, and without
// the rule part for faults of the document itself.
type Error struct {
	File  string // the file name given to Parse; "" when none
	Line  int    // 1-based line of the YAML node at fault; 0 when unknown
	List  List   // the rule's list; 0 for faults of the document itself
	Rule  string // the rule's name; "" when it has none
	Index int    // the rule's position in its list
	// Field is the path of the faulty field inside the rule (or, for
	// faults of the document, inside the document), e.g.
	// "transforms[1].rollup.aggregations[2]"; "" for the rule as a whole.
	Field  string
	Reason string
	Err    error // the underlying error, such as a *FilterError; may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.List != 0 {
		b.WriteString(e.List.String())
		if e.Rule != "" {
			b.WriteString(" " + strconv.Quote(e.Rule))
		} else {
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorList returns the *Error values held in err, in the order Parse
// gives them (by line): err itself, or the members of an errors.Join.
func ErrorList(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case *Error:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, m := range x.Unwrap() {
				walk(m)
			}
		default:
			var e *Error
			if errors.As(err, &e) {
				out = append(out, e)
			}
		}
	}
	walk(err)
	return out
}
