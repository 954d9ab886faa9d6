package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/policy"
	"github.com/tumblemetrics/tumble/sample"
)

var (
	mappingFields   = []string{"name", "filter", "aggregations", "storagePolicies", "drop", "tags", "traceSelection"}
	rollupFields    = []string{"name", "filter", "transforms", "storagePolicies", "tags", "traceSelection"}
	transformFields = []string{"transform", "rollup", "aggregate"}
	rollupOpFields  = []string{"metricName", "groupBy", "excludeBy", "aggregations"}
	typeFields      = []string{"type"}
	policyFields    = []string{"resolution", "retention"}
	tagFields       = []string{"name", "value"}
)

// item remembers where a list element was written, for later errors.
type item struct {
	path string
	node *yaml.Node
}

// aggItem is one element of an aggregations list.
type aggItem struct {
	item
	t aggregator.Type
}

// ruleFields are the fields both kinds of rule share.
type ruleFields struct {
	filterNode *yaml.Node
	filterOK   bool // a filter was given, valid or not
	policyNode *yaml.Node
	tagsNode   *yaml.Node
	tagItems   []item // tags[i].name
}

// common parses a field both kinds of rule have; it reports false for
// other fields.
func (p *parser) common(rc *ruleCtx, r *Rule, f *ruleFields, key string, v *yaml.Node) bool {
	switch key {
	case "name":
		if s, ok := p.str(rc, v, "name"); ok && s == "" {
			p.fail(rc, v, "name", "empty name")
		}
	case "filter":
		f.filterNode, f.filterOK = v, true
		r.Filter = p.filter(rc, v)
	case "storagePolicies":
		f.policyNode = v
		r.Policies = p.policies(rc, v, "storagePolicies")
	case "tags":
		f.tagsNode = v
		r.Tags, f.tagItems = p.tags(rc, v, "tags")
	case "traceSelection":
		p.ruleTraceSelection(rc, r, v)
	default:
		return false
	}
	return true
}

// checkCommon checks the fields every rule needs.
func (p *parser) checkCommon(rc *ruleCtx, n *yaml.Node, f *ruleFields) {
	if isNull(valueOf(n, "name")) {
		p.fail(rc, n, "name", "missing name: every rule needs one, unique in its list, for errors and per-rule counters")
	}
	if !f.filterOK {
		p.fail(rc, n, "filter", "missing filter: say which series the rule applies to, e.g. __name__:http_* (__name__:* for all)")
	}
}

func (p *parser) mappingRule(rc *ruleCtx, n *yaml.Node) *Rule {
	before := len(p.errs)
	r := &Rule{List: MappingRules, Index: rc.index, Name: rc.name, Line: n.Line, Op: Map}
	var f ruleFields
	var aggs []aggItem
	var aggsNode *yaml.Node
	drop, dropBad := false, false
	p.fields(rc, n, "", mappingFields, func(key string, _, v *yaml.Node) {
		if p.common(rc, r, &f, key, v) {
			return
		}
		switch key {
		case "aggregations":
			aggsNode = v
			r.Aggregations, aggs = p.aggregations(rc, v, "aggregations")
		case "drop":
			var ok bool
			drop, ok = p.boolean(rc, v, "drop")
			dropBad = !ok
		}
	})
	p.checkCommon(rc, n, &f)
	if drop {
		r.Op = Drop
		for _, x := range []struct {
			node  *yaml.Node
			field string
		}{{aggsNode, "aggregations"}, {f.policyNode, "storagePolicies"}, {f.tagsNode, "tags"}} {
			if x.node != nil {
				p.fail(rc, x.node, x.field, "a drop rule keeps nothing, so "+x.field+" would have no effect: remove it, or drop: true")
			}
		}
		r.Aggregations, r.Policies, r.Tags = 0, nil, nil
	} else {
		if f.policyNode == nil && !dropBad {
			p.fail(rc, n, "storagePolicies", "missing storagePolicies: say at which resolution and for how long to keep the series (or set drop: true)")
		}
		p.checkSupported(rc, r, aggs)
		p.checkQuantileLabel(rc, r, &f, nil)
	}
	p.checkTraceSelection(rc, r, n)
	if len(p.errs) > before {
		return nil
	}
	return r
}

// pipeOp is one item of a rollup rule's transforms.
type pipeOp struct {
	kind string // "transform", "rollup", "aggregate"; "" when unreadable
	node *yaml.Node
	path string // transforms[i]
	// The operation's own node and path, e.g. transforms[i].rollup.
	opNode *yaml.Node
	opPath string

	transform aggregator.Transform

	aggs     aggregator.Set
	aggItems []aggItem

	metricName      string
	metricNameGiven bool
	groupBy         []string
	groupByItems    []*yaml.Node
	groupByGiven    bool
	excludeBy       []string
	excludeByGiven  bool
}

func (p *parser) rollupRule(rc *ruleCtx, n *yaml.Node) *Rule {
	before := len(p.errs)
	r := &Rule{List: RollupRules, Index: rc.index, Name: rc.name, Line: n.Line}
	var f ruleFields
	var ops []*pipeOp
	var opsNode *yaml.Node
	p.fields(rc, n, "", rollupFields, func(key string, _, v *yaml.Node) {
		if p.common(rc, r, &f, key, v) {
			return
		}
		opsNode = v
		ops = p.transforms(rc, v)
	})
	p.checkCommon(rc, n, &f)
	if f.policyNode == nil {
		p.fail(rc, n, "storagePolicies", "missing storagePolicies: say at which resolution and for how long to keep the output")
	}
	if opsNode == nil {
		p.fail(rc, n, "transforms", "missing transforms: want a rollup or an aggregate, with at most one transform before and one after")
	}
	main := p.pipelineShape(rc, opsNode, ops)
	if main < 0 {
		return nil
	}
	if main == 1 {
		r.Pre = ops[0].transform
	}
	if main+1 < len(ops) {
		r.Post = ops[main+1].transform
	}
	op := ops[main]
	r.Aggregations = op.aggs
	if op.kind == "aggregate" {
		r.Op = Aggregate
		if f.tagsNode != nil {
			p.fail(rc, f.tagsNode, "tags", "an aggregate keeps the input series as it is: tags apply to a rollup's output only")
		}
	} else {
		r.Op = Rollup
		p.rollupOutput(rc, r, op)
	}
	p.checkSupported(rc, r, op.aggItems)
	p.checkQuantileLabel(rc, r, &f, op)
	p.checkTraceSelection(rc, r, n)
	if len(p.errs) > before {
		return nil
	}
	return r
}

// rollupOutput sets and checks the name and labels of a rollup's output.
func (p *parser) rollupOutput(rc *ruleCtx, r *Rule, op *pipeOp) {
	switch {
	case !op.metricNameGiven:
		p.fail(rc, op.opNode, op.opPath+".metricName", "missing metricName: the name of the rolled-up series")
	case strings.Count(op.metricName, metricNameVar) > 1:
		p.fail(rc, op.opNode, op.opPath+".metricName", fmt.Sprintf("%s may appear once", metricNameVar))
	case strings.Contains(strings.Replace(op.metricName, metricNameVar, "", 1), "{{") ||
		strings.Contains(strings.Replace(op.metricName, metricNameVar, "", 1), "}}"):
		p.fail(rc, op.opNode, op.opPath+".metricName", fmt.Sprintf("unknown template in %q: only %s is supported", op.metricName, metricNameVar))
	}
	r.MetricName = op.metricName
	if op.groupByGiven && op.excludeByGiven {
		p.fail(rc, op.opNode, op.opPath, "groupBy and excludeBy exclude each other: give one")
	}
	r.GroupLabels = op.groupBy
	if op.excludeByGiven {
		r.Exclude, r.GroupLabels = true, op.excludeBy
	}
}

// transforms parses the items of a rollup rule's pipeline.
func (p *parser) transforms(rc *ruleCtx, n *yaml.Node) []*pipeOp {
	items, ok := p.list(rc, n, "transforms")
	if !ok {
		return nil
	}
	ops := make([]*pipeOp, 0, len(items))
	for i, it := range items {
		op := &pipeOp{node: it, path: index("transforms", i)}
		ops = append(ops, op)
		count := 0
		p.fields(rc, it, op.path, transformFields, func(key string, _, v *yaml.Node) {
			count++
			if count > 1 {
				p.fail(rc, v, op.path, fmt.Sprintf("holds both %s and %s: give one operation per item", op.kind, key))
				op.kind = ""
				return
			}
			op.kind = key
			path := op.path + "." + key
			op.opNode, op.opPath = v, path
			switch key {
			case "transform":
				if t, _, ok := opType(p, rc, v, path, "Increase, PerSecond or Add", aggregator.ParseTransform); ok {
					op.transform = t
				}
			case "aggregate":
				if t, tn, ok := opType(p, rc, v, path, "the aggregation to apply, e.g. Sum", aggregator.ParseType); ok {
					op.aggs = aggregator.SetOf(t)
					op.aggItems = []aggItem{{item{path + ".type", tn}, t}}
				}
			case "rollup":
				p.rollupOp(rc, v, path, op)
			}
		})
		if count == 0 && it.Kind == yaml.MappingNode {
			p.fail(rc, it, op.path, "empty item: want one of transform, rollup or aggregate")
		}
	}
	return ops
}

func (p *parser) rollupOp(rc *ruleCtx, n *yaml.Node, path string, op *pipeOp) {
	p.fields(rc, n, path, rollupOpFields, func(key string, _, v *yaml.Node) {
		field := path + "." + key
		switch key {
		case "metricName":
			if s, ok := p.str(rc, v, field); ok {
				op.metricName, op.metricNameGiven = s, s != ""
			}
		case "groupBy":
			op.groupByGiven = true
			op.groupBy, op.groupByItems = p.labelNames(rc, v, field)
		case "excludeBy":
			op.excludeByGiven = true
			op.excludeBy, _ = p.labelNames(rc, v, field)
		case "aggregations":
			op.aggs, op.aggItems = p.aggregations(rc, v, field)
		}
	})
}

// labelNames parses a groupBy or excludeBy list into sorted names.
func (p *parser) labelNames(rc *ruleCtx, n *yaml.Node, path string) ([]string, []*yaml.Node) {
	names, nodes, _ := p.strs(rc, n, path)
	seen := map[string]int{}
	for i, name := range names {
		field := index(path, i)
		switch {
		case name == "" && nodes[i].Kind == yaml.ScalarNode:
			p.fail(rc, nodes[i], field, "empty label name")
		case strings.HasPrefix(name, "__") && !sample.IsGraphiteLabel(name):
			p.fail(rc, nodes[i], field, fmt.Sprintf("label %q is internal: series carry no labels starting with __ but Graphite's __g0__, __g1__, …", name))
		}
		if j, dup := seen[name]; dup && name != "" {
			p.fail(rc, nodes[i], field, fmt.Sprintf("label %q listed twice (first at %s)", name, index(path, j)))
		}
		seen[name] = i
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	return slices.Compact(sorted), nodes
}

// pipelineShape checks that the pipeline is [transform] (rollup |
// aggregate) [transform] and returns the position of the rollup or
// aggregate, or -1.
func (p *parser) pipelineShape(rc *ruleCtx, n *yaml.Node, ops []*pipeOp) int {
	if n == nil {
		return -1
	}
	kinds := make([]string, len(ops))
	main, mains := -1, 0
	for i, op := range ops {
		if op.kind == "" {
			return -1 // reported already
		}
		kinds[i] = op.kind
		if op.kind != "transform" {
			main = i
			mains++
		}
	}
	if mains != 1 || main > 1 || len(ops)-main > 2 {
		p.fail(rc, n, "transforms", fmt.Sprintf("unsupported pipeline [%s]: want at most one transform, then one rollup or aggregate, then at most one transform", strings.Join(kinds, ", ")))
		return -1
	}
	return main
}

// filter compiles the filter at n.
func (p *parser) filter(rc *ruleCtx, n *yaml.Node) *Filter {
	s, ok := p.str(rc, n, "filter")
	if !ok {
		return nil
	}
	f, err := ParseFilter(s)
	if err != nil {
		p.failErr(rc, n, "filter", err.Error(), err)
		return nil
	}
	return f
}

// aggregations parses a list of aggregation names.
func (p *parser) aggregations(rc *ruleCtx, n *yaml.Node, path string) (aggregator.Set, []aggItem) {
	names, nodes, _ := p.strs(rc, n, path)
	var set aggregator.Set
	var items []aggItem
	first := map[aggregator.Type]string{}
	for i, name := range names {
		field := index(path, i)
		if nodes[i].Kind != yaml.ScalarNode || isNull(nodes[i]) {
			if isNull(nodes[i]) {
				p.fail(rc, nodes[i], field, "empty aggregation")
			}
			continue
		}
		t, err := aggregator.ParseType(name)
		if err != nil {
			p.failErr(rc, nodes[i], field, err.Error(), err)
			continue
		}
		if at, dup := first[t]; dup {
			p.fail(rc, nodes[i], field, fmt.Sprintf("%s listed twice (first at %s)", t, at))
			continue
		}
		other := aggregator.Median
		if t == aggregator.Median {
			other = aggregator.P50
		}
		if at, both := first[other]; both && (t == aggregator.Median || t == aggregator.P50) {
			p.fail(rc, nodes[i], field, fmt.Sprintf("%s and %s (at %s) are the same quantile and would write the same series: keep one", t, other, at))
			continue
		}
		first[t] = field
		set = set.With(t)
		items = append(items, aggItem{item{field, nodes[i]}, t})
	}
	return set, items
}

// policies parses storagePolicies into a sorted list.
func (p *parser) policies(rc *ruleCtx, n *yaml.Node, path string) []aggregator.Policy {
	items, ok := p.list(rc, n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.fail(rc, n, path, "empty list: want at least one {resolution, retention}")
	}
	var out []aggregator.Policy
	first := map[aggregator.Policy]string{}
	for i, it := range items {
		field := index(path, i)
		var pol aggregator.Policy
		var res, ret bool
		valid := p.fields(rc, it, field, policyFields, func(key string, _, v *yaml.Node) {
			s, ok := p.str(rc, v, field+"."+key)
			if !ok {
				return
			}
			d, err := policy.ParseDuration(s)
			if err != nil {
				p.failErr(rc, v, field+"."+key, err.Error(), err)
				return
			}
			if key == "resolution" {
				pol.Resolution, res = d, true
			} else {
				pol.Retention, ret = d, true
			}
		})
		if !valid {
			continue
		}
		for _, key := range policyFields {
			switch v := valueOf(it, key); {
			case v == nil:
				p.fail(rc, it, field, "missing "+key)
			case isNull(v):
				p.fail(rc, v, field+"."+key, "empty: want a duration such as 10s or 2d")
			}
		}
		if !res || !ret {
			continue
		}
		if err := pol.Validate(); err != nil {
			p.failErr(rc, it, field, err.Error(), err)
			continue
		}
		if at, dup := first[pol]; dup {
			p.fail(rc, it, field, fmt.Sprintf("policy %s listed twice (first at %s)", pol, at))
			continue
		}
		first[pol] = field
		out = append(out, pol)
	}
	slices.SortFunc(out, func(a, b aggregator.Policy) int {
		if c := cmp.Compare(a.Resolution, b.Resolution); c != 0 {
			return c
		}
		return cmp.Compare(a.Retention, b.Retention)
	})
	return out
}

// tags parses a list of {name, value} into sorted labels, and where each
// name was written.
func (p *parser) tags(rc *ruleCtx, n *yaml.Node, path string) (sample.Labels, []item) {
	items, ok := p.list(rc, n, path)
	if !ok {
		return nil, nil
	}
	var ls sample.Labels
	var where []item
	first := map[string]string{}
	for i, it := range items {
		field := index(path, i)
		var name, value string
		var nameNode *yaml.Node
		if !p.fields(rc, it, field, tagFields, func(key string, _, v *yaml.Node) {
			s, _ := p.str(rc, v, field+"."+key)
			if key == "name" {
				name, nameNode = s, v
			} else {
				value = s
			}
		}) {
			continue
		}
		switch {
		case name == "":
			p.fail(rc, it, field+".name", "missing tag name")
			continue
		case value == "":
			p.fail(rc, it, field+".value", "missing tag value")
			continue
		case strings.HasPrefix(name, "__"):
			p.fail(rc, nameNode, field+".name", fmt.Sprintf("tag %q: names starting with __ are reserved (M3's special tags, such as __m3_graphite_prefix__, are not supported)", name))
			continue
		}
		if at, dup := first[name]; dup {
			p.fail(rc, nameNode, field+".name", fmt.Sprintf("tag %q given twice (first at %s)", name, at))
			continue
		}
		first[name] = field
		ls = append(ls, sample.Label{Name: name, Value: value})
		where = append(where, item{field + ".name", nameNode})
	}
	slices.SortFunc(ls, func(a, b sample.Label) int { return strings.Compare(a.Name, b.Name) })
	return ls, where
}

// checkSupported reports the aggregations that are not defined on the
// values the rule feeds them, when the rule pins their type.
func (p *parser) checkSupported(rc *ruleCtx, r *Rule, items []aggItem) {
	mask, why := r.valueTypes()
	if mask == allTypes {
		return
	}
	for _, it := range items {
		for _, st := range mask.list() {
			if !it.t.Supports(st) {
				p.fail(rc, it.node, it.path, fmt.Sprintf("%s is not defined on %s values, %s", it.t, st, why))
				break
			}
		}
	}
}

// checkQuantileLabel reports a label called quantile on the output of a rule
// whose aggregations add one: the quantiles of a rule with several
// aggregations are told apart by quantile="0.99" (aggregator.OutputLabels),
// which would overwrite it.
func (p *parser) checkQuantileLabel(rc *ruleCtx, r *Rule, f *ruleFields, op *pipeOp) {
	aggs := r.Aggregations
	if aggs.Len() < 2 || !aggs.HasQuantile() {
		return
	}
	const q = aggregator.QuantileLabel
	reason := fmt.Sprintf("label %q clashes with the %q label that tells the quantiles of %s apart", q, q, aggs)
	for _, t := range f.tagItems {
		if strings.HasSuffix(t.path, ".name") && t.node != nil && t.node.Value == q {
			p.fail(rc, t.node, t.path, reason)
		}
	}
	keepsInput := r.Op == Map || r.Op == Rollup && r.Exclude && !slices.Contains(r.GroupLabels, q)
	if op != nil && r.Op == Rollup && !r.Exclude {
		for j, node := range op.groupByItems {
			if node.Kind == yaml.ScalarNode && node.Value == q {
				p.fail(rc, node, index(op.opPath+".groupBy", j), reason)
				break
			}
		}
	}
	if keepsInput && r.Filter != nil && r.Filter.requires(q) {
		p.fail(rc, f.filterNode, "filter", reason+": the filter passes only series that carry it")
	}
}

// opType parses the {type: X} of a transform or aggregate operation at path
// with parse; want says what a missing type should have been. It returns
// the type and its node, and whether it is valid.
func opType[T any](p *parser, rc *ruleCtx, n *yaml.Node, path, want string, parse func(string) (T, error)) (T, *yaml.Node, bool) {
	var t T
	var tn *yaml.Node
	ok, given := false, false
	p.fields(rc, n, path, typeFields, func(_ string, _, v *yaml.Node) {
		given = true
		s, sok := p.str(rc, v, path+".type")
		if !sok {
			return
		}
		var err error
		if t, err = parse(s); err != nil {
			p.failErr(rc, v, path+".type", err.Error(), err)
			return
		}
		tn, ok = v, true
	})
	if !given && n.Kind == yaml.MappingNode {
		p.fail(rc, n, path, "missing type: want "+want)
	}
	return t, tn, ok
}
