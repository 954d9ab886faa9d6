package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// A rule's points may name traces for a tail-based trace sampler (package
// selection): those of the aggregations its traceSelection lists, at its
// finest storage policy. Without the field, a rule whose aggregations hold
// P99 (or that lists none, so that a timer's defaults with P99 apply)
// selects the trace of each P99 point, at most DefaultTracesPerSecond a
// second across the cluster:
//
//	traceSelection:
//	  aggregations: [P99, Max]   # [] selects none
//	  maxPerSecond: 20           # 0: no cap
//
// The file may name a tenant label, whose value on an output series names
// the series' tenant, and cap each tenant's selections:
//
//	traceSelection:
//	  tenantLabel: team
//	  tenantMaxPerSecond: 50
//	mappingRules: [...]

// DefaultTracesPerSecond caps a rule's selections when its traceSelection
// says nothing of it.
const DefaultTracesPerSecond = 100

var (
	ruleTraceSelectionFields = []string{"aggregations", "maxPerSecond"}
	fileTraceSelectionFields = []string{"tenantLabel", "tenantMaxPerSecond"}
)

// SelectionTenants is the file-wide part of a rule file's traceSelection:
// which tenant each output series belongs to, and how many selections
// each tenant may have.
type SelectionTenants struct {
	// TenantLabel names the label whose value on an output series is the
	// series' tenant; "" means every series has the tenant "".
	TenantLabel string
	// TenantPerSecond caps each tenant's selections across the cluster,
	// per second of event time; 0 means no cap.
	TenantPerSecond float64
}

// ruleTraceSelection parses a rule's traceSelection field.
func (p *parser) ruleTraceSelection(rc *ruleCtx, r *Rule, n *yaml.Node) {
	r.selectGiven = true
	r.TracesPerSecond = DefaultTracesPerSecond
	const path = "traceSelection"
	p.fields(rc, n, path, ruleTraceSelectionFields, func(key string, _, v *yaml.Node) {
		field := path + "." + key
		switch key {
		case "aggregations":
			r.selectAggsGiven = true
			var items []aggItem
			r.TraceAggregations, items = p.aggregations(rc, v, field)
			for _, it := range items {
				if !it.t.CarriesExemplar() {
					p.fail(rc, it.node, it.path, fmt.Sprintf("%s names no sample, so no trace: only Min, Max, Last and percentiles select traces", it.t))
				}
			}
			r.selectItems = items
		case "maxPerSecond":
			r.TracesPerSecond = p.rate(rc, v, field)
		}
	})
}

// rate parses a non-negative number of selections per second.
func (p *parser) rate(rc *ruleCtx, n *yaml.Node, path string) float64 {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.fail(rc, n, path, "want a number of traces per second, got "+kindName(n))
		return 0
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		p.fail(rc, n, path, fmt.Sprintf("want a finite number of traces per second, 0 or more (0: no cap), got %s", n.Value))
		return 0
	}
	return f
}

// checkTraceSelection settles a rule's trace selection once its
// aggregations are known.
func (p *parser) checkTraceSelection(rc *ruleCtx, r *Rule, n *yaml.Node) {
	if !r.selectGiven {
		r.TracesPerSecond = DefaultTracesPerSecond
	}
	if !r.selectAggsGiven && r.Op != Drop && (r.Aggregations == 0 || r.Aggregations.Has(aggregator.P99)) {
		r.TraceAggregations = aggregator.SetOf(aggregator.P99)
	}
	if !r.selectGiven {
		return
	}
	if r.Op == Drop {
		p.fail(rc, valueOf(n, "traceSelection"), "traceSelection", "a drop rule keeps nothing, so it selects no trace: remove traceSelection, or drop: true")
		return
	}
	if r.Aggregations == 0 {
		return // the defaults of the sample type decide; the others select nothing
	}
	for _, it := range r.selectItems {
		if it.t.CarriesExemplar() && !r.Aggregations.Has(it.t) {
			p.fail(rc, it.node, it.path, fmt.Sprintf("%s is not among the rule's aggregations %s, so it has no point to select a trace from", it.t, r.Aggregations))
		}
	}
}

// fileTraceSelection parses the file's traceSelection field.
func (p *parser) fileTraceSelection(n *yaml.Node, path string) SelectionTenants {
	var st SelectionTenants
	path = join(path, "traceSelection")
	p.fields(nil, n, path, fileTraceSelectionFields, func(key string, _, v *yaml.Node) {
		field := path + "." + key
		switch key {
		case "tenantLabel":
			s, ok := p.str(nil, v, field)
			switch {
			case !ok:
			case s == "":
				p.fail(nil, v, field, "empty label name")
			case strings.HasPrefix(s, "__"):
				p.fail(nil, v, field, fmt.Sprintf("label %q is internal: series carry no labels starting with __", s))
			default:
				st.TenantLabel = s
			}
		case "tenantMaxPerSecond":
			st.TenantPerSecond = p.rate(nil, v, field)
		}
	})
	return st
}

// selectionSpec returns the selection spec of the rule's output series
// with labels out, or nil when the rule selects no trace.
func (r *Rule) selectionSpec(out sample.Labels, st *SelectionTenants) *aggregator.SelectionSpec {
	if r.TraceAggregations == 0 {
		return nil
	}
	s := &aggregator.SelectionSpec{Rule: r.label(), Aggregations: r.TraceAggregations, PerSecond: r.TracesPerSecond}
	if st != nil {
		s.TenantPerSecond = st.TenantPerSecond
		if st.TenantLabel != "" {
			s.Tenant, _ = out.Get(st.TenantLabel)
		}
	}
	return s
}
