package aggregator

import "math"

// SelectionSpec says which points of a target name a trace for a tail-based
// trace sampler, and how many its rule and its tenant may name: a point of
// one of Aggregations, of the target's finest storage policy, whose
// exemplar has a trace ID, is a selection (package selection).
type SelectionSpec struct {
	// Rule names the rule the target comes from.
	Rule string
	// Aggregations are those whose points select their exemplar's trace;
	// each carries an exemplar (Type.CarriesExemplar).
	Aggregations Set
	// PerSecond caps the selections of the rule across the cluster, per
	// second of event time; 0 means no cap.
	PerSecond float64
	// Tenant is the output series' tenant, "" when the rule file names no
	// tenant label or the series lacks it; TenantPerSecond caps the
	// tenant's selections like PerSecond (0: no cap).
	Tenant          string
	TenantPerSecond float64
}

// Valid reports whether s is a spec a target may carry.
func (s *SelectionSpec) Valid() bool {
	if s.Aggregations == 0 || !s.Aggregations.Valid() {
		return false
	}
	for _, t := range s.Aggregations.Types() {
		if !t.CarriesExemplar() {
			return false
		}
	}
	return validRate(s.PerSecond) && validRate(s.TenantPerSecond)
}

func validRate(r float64) bool { return r >= 0 && !math.IsInf(r, 0) && !math.IsNaN(r) }

// Equal reports whether s and o select alike; nil selects nothing.
func (s *SelectionSpec) Equal(o *SelectionSpec) bool {
	if s == nil || o == nil {
		return s == o
	}
	return *s == *o
}
