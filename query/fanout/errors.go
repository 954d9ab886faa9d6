package fanout

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/status"
)

// ErrShardUnavailable is what an *UnavailableError is (errors.Is).
var ErrShardUnavailable = errors.New("fanout: shard unavailable")

// UnavailableError says that no replica of a shard answered: the series of
// that shard are missing from a result (some of them if Partial, all of
// them otherwise). Select and the label queries report it as a warning
// annotation, exemplar queries as their error.
type UnavailableError struct {
	Shard int32
	// Partial is set when a replica had sent some of the shard's series
	// before it failed and no other replica could send the rest.
	Partial bool
	// Replicas are the replicas asked, in the order they were, each with
	// the reason it gave no answer; empty if placement lists none.
	Replicas []ReplicaError
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "shard %d unavailable: ", e.Shard)
	if e.Partial {
		b.WriteString("some of its series are missing: ")
	} else {
		b.WriteString("its series are missing: ")
	}
	if len(e.Replicas) == 0 {
		b.WriteString("no replica is placed")
		return b.String()
	}
	for i, r := range e.Replicas {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Error())
	}
	return b.String()
}

// Is reports whether target is ErrShardUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrShardUnavailable }

// ReplicaError is why one replica of a shard gave no answer.
type ReplicaError struct {
	Endpoint Endpoint
	// Local is set when the replica was read in-process, not over gRPC.
	Local bool
	// Err is the gRPC status error of the call, the local storage's error,
	// or an error saying that no answer came in time.
	Err error
}

func (e ReplicaError) Error() string {
	where := e.Endpoint.String()
	if e.Local {
		where += " (local)"
	}
	if st, ok := status.FromError(e.Err); ok {
		return fmt.Sprintf("%s: %s: %s", where, st.Code(), st.Message())
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e ReplicaError) Unwrap() error { return e.Err }

// errProtocol is a response that breaks the protocol: a replica's fault,
// the next replica is asked.
type errProtocol struct{ msg string }

func (e *errProtocol) Error() string { return "invalid response: " + e.msg }
