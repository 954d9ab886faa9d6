package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseFile reads and parses the rule file at path; see Parse.
func ParseFile(path string) (*RuleSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rule file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a rule file in M3's downsample-rule format, either the
// coordinator's section
//
//	downsample:
//	  rules:
//	    mappingRules: [...]
//	    rollupRules: [...]
//
// or its content alone ({mappingRules: [...], rollupRules: [...]}).
// filename only names the file in errors.
//
// Parsing is strict and reports every fault of the file at once: the error
// joins one *Error per fault (see ErrorList), in line order, each naming
// the rule, the field, the line and the reason.
func Parse(filename string, data []byte) (*RuleSet, error) {
	p := &parser{file: filename}
	root := p.decode(data)
	if root == nil {
		return nil, errors.Join(p.errs...)
	}
	mappingNode, rollupNode, tenants := p.document(root)
	mapping := p.ruleList(MappingRules, mappingNode)
	rollup := p.ruleList(RollupRules, rollupNode)
	if len(p.errs) > 0 {
		// In file order; faults of one line in the order they were found.
		slices.SortStableFunc(p.errs, func(a, b error) int {
			return cmp.Compare(a.(*Error).Line, b.(*Error).Line)
		})
		return nil, errors.Join(p.errs...)
	}
	return newRuleSet(filename, mapping, rollup, tenants), nil
}

// parser collects the faults of one file.
type parser struct {
	file string
	errs []error
}

// ruleCtx locates a rule for its errors; nil stands for the document.
type ruleCtx struct {
	list  List
	index int
	name  string
}

func (p *parser) fail(rc *ruleCtx, n *yaml.Node, field, reason string) {
	p.failErr(rc, n, field, reason, nil)
}

func (p *parser) failErr(rc *ruleCtx, n *yaml.Node, field, reason string, err error) {
	e := &Error{File: p.file, Field: field, Reason: reason, Err: err}
	if n != nil {
		e.Line = n.Line
	}
	if rc != nil {
		e.List, e.Index, e.Rule = rc.list, rc.index, rc.name
	}
	p.errs = append(p.errs, e)
}

// decode parses the YAML text into a node tree; it returns nil after
// recording the fault when the text is not one well-formed YAML document.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML parser is third-party code facing untrusted input: a
		// panic in it must not take the server down with it.
		if r := recover(); r != nil {
			root = nil
			p.fail(nil, nil, "", fmt.Sprintf("malformed YAML: %v", r))
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(nil, nil, "", emptyFile)
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.yamlError(err)
		return nil
	default:
		p.fail(nil, &extra, "", "a second YAML document: a rule file holds one")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.fail(nil, nil, "", emptyFile)
		return nil
	}
	if expandedSize(doc.Content[0], map[*yaml.Node]int{}) > maxNodes {
		p.fail(nil, doc.Content[0], "", fmt.Sprintf("the YAML holds more than %d values once its aliases are expanded", maxNodes))
		return nil
	}
	return doc.Content[0]
}

// maxNodes bounds the size of a document with its aliases expanded, so
// that a few aliases cannot make the parser walk billions of values. Real
// rule files stay far below: a rule is some thirty values.
const maxNodes = 1 << 20

// expandedSize returns the number of values under n, aliases expanded, or
// more than maxNodes.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n == nil {
		return 0
	}
	if size, ok := memo[n]; ok {
		return size
	}
	memo[n] = maxNodes + 1 // an alias inside its own anchor never ends
	size := 1
	if n.Kind == yaml.AliasNode {
		size += expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		if size += expandedSize(c, memo); size > maxNodes {
			break
		}
	}
	memo[n] = size
	return size
}

const emptyFile = "empty rule file: want mappingRules and rollupRules, alone or under downsample.rules"

// yamlError records a YAML syntax error, taking its line out of the message.
func (p *parser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: p.file, Reason: "malformed YAML: " + msg, Err: err}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, reason, ok := strings.Cut(rest, ": "); ok {
			if n, convErr := strconv.Atoi(num); convErr == nil {
				e.Line, e.Reason = n, "malformed YAML: "+reason
			}
		}
	}
	p.errs = append(p.errs, e)
}

// document finds the two rule lists of the file and parses its
// traceSelection.
func (p *parser) document(root *yaml.Node) (mapping, rollup *yaml.Node, tenants SelectionTenants) {
	root = resolve(root)
	if isNull(root) {
		p.fail(nil, root, "", emptyFile)
		return nil, nil, tenants
	}
	rules, path := root, ""
	if root.Kind == yaml.MappingNode && hasKey(root, "downsample") {
		rules = nil
		p.fields(nil, root, "", []string{"downsample"}, func(_ string, _, v *yaml.Node) {
			p.fields(nil, v, "downsample", []string{"rules"}, func(_ string, _, v *yaml.Node) {
				rules, path = v, "downsample.rules"
			})
		})
		if rules == nil {
			if len(p.errs) == 0 {
				p.fail(nil, root, "downsample", "missing rules: want downsample.rules.mappingRules or rollupRules")
			}
			return nil, nil, tenants
		}
	}
	found := false
	p.fields(nil, rules, path, []string{"mappingRules", "rollupRules", "traceSelection"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "mappingRules":
			found, mapping = true, v
		case "rollupRules":
			found, rollup = true, v
		default:
			tenants = p.fileTraceSelection(v, path)
		}
	})
	if !found && len(p.errs) == 0 {
		p.fail(nil, rules, path, emptyFile)
	}
	return mapping, rollup, tenants
}

// ruleList parses the rules of one list; it returns nil when any is wrong.
func (p *parser) ruleList(list List, n *yaml.Node) []*Rule {
	items, ok := p.list(nil, n, list.String())
	if !ok {
		return nil
	}
	var rules []*Rule
	names := map[string]int{} // name → line
	for i, item := range items {
		rc := &ruleCtx{list: list, index: i, name: ruleName(item)}
		if item.Kind != yaml.MappingNode {
			p.fail(rc, item, "", "want a mapping (a rule), got "+kindName(item))
			continue
		}
		if line, dup := names[rc.name]; dup && rc.name != "" {
			p.fail(rc, valueOf(item, "name"), "name", fmt.Sprintf("duplicate name: the rule at line %d has it too", line))
		} else if rc.name != "" {
			names[rc.name] = item.Line
		}
		var r *Rule
		if list == MappingRules {
			r = p.mappingRule(rc, item)
		} else {
			r = p.rollupRule(rc, item)
		}
		if r != nil {
			rules = append(rules, r)
		}
	}
	return rules
}

// ruleName returns the rule's name when it is a plain string, for errors.
func ruleName(n *yaml.Node) string {
	if v := valueOf(n, "name"); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
		return v.Value
	}
	return ""
}

// Node helpers.

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func hasKey(n *yaml.Node, key string) bool { return valueOf(n, key) != nil }

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for _, kv := range pairs(n) {
		if kv.k.Kind == yaml.ScalarNode && kv.k.Value == key && !kv.isMerge() {
			return kv.v
		}
	}
	return nil
}

// pair is one key and value of a mapping.
type pair struct {
	k, v   *yaml.Node
	merged bool // comes from a YAML merge key (<<)
}

func (kv pair) isMerge() bool { return kv.k.Kind == yaml.ScalarNode && kv.k.Tag == "!!merge" }

// pairs returns the keys and values of mapping n, aliases resolved, then
// those its merge keys (<<: *defaults) bring that n does not set itself.
func pairs(n *yaml.Node) []pair {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := mergePairs(nil, n, false, 0)
	return out
}

func mergePairs(out []pair, n *yaml.Node, merged bool, depth int) []pair {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kv := pair{resolve(n.Content[i]), resolve(n.Content[i+1]), merged}
		if kv.k == nil || kv.v == nil {
			continue
		}
		if kv.isMerge() {
			merges = append(merges, kv.v)
			if !merged {
				out = append(out, kv) // kept so that fields can check it
			}
			continue
		}
		if merged && hasPair(out, kv.k) {
			continue
		}
		out = append(out, kv)
	}
	if depth >= 8 {
		return out
	}
	for _, m := range merges {
		switch m.Kind {
		case yaml.MappingNode:
			out = mergePairs(out, m, true, depth+1)
		case yaml.SequenceNode:
			for _, c := range m.Content {
				if c = resolve(c); c != nil && c.Kind == yaml.MappingNode {
					out = mergePairs(out, c, true, depth+1)
				}
			}
		}
	}
	return out
}

func hasPair(ps []pair, k *yaml.Node) bool {
	for _, p := range ps {
		if !p.isMerge() && p.k.Kind == yaml.ScalarNode && p.k.Value == k.Value {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an unknown node"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// fields checks that n is a mapping whose keys are distinct and among known,
// and calls fn for each key with a non-null value, in file order. It reports
// false when n is not a mapping.
func (p *parser) fields(rc *ruleCtx, n *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node)) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		p.fail(rc, n, path, "want a mapping with "+strings.Join(known, ", ")+", got "+kindName(n))
		return false
	}
	seen := map[string]int{}
	for _, kv := range pairs(n) {
		k, v := kv.k, kv.v
		if kv.isMerge() {
			if m := v; m.Kind != yaml.MappingNode && m.Kind != yaml.SequenceNode {
				p.fail(rc, k, path, "a merge key (<<) wants a mapping, got "+kindName(m))
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.fail(rc, k, path, "want a field name, got "+kindName(k))
			continue
		}
		key := k.Value
		field := join(path, key)
		if !contains(known, key) {
			p.fail(rc, k, field, "unknown field (want one of "+strings.Join(known, ", ")+")")
			continue
		}
		if line, dup := seen[key]; dup && !kv.merged {
			p.fail(rc, k, field, fmt.Sprintf("given twice (first at line %d)", line))
			continue
		}
		seen[key] = k.Line
		if !isNull(v) {
			fn(key, k, v)
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// list returns the items of sequence n; null is an empty list.
func (p *parser) list(rc *ruleCtx, n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(rc, n, path, "want a list, got "+kindName(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolve(c)
		if items[i] == nil {
			items[i] = c
		}
	}
	return items, true
}

// str returns the text of scalar n.
func (p *parser) str(rc *ruleCtx, n *yaml.Node, path string) (string, bool) {
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(rc, n, path, "want a string, got "+kindName(n))
		return "", false
	}
	return n.Value, true
}

// strings returns the texts of a list of scalars.
func (p *parser) strs(rc *ruleCtx, n *yaml.Node, path string) ([]string, []*yaml.Node, bool) {
	items, ok := p.list(rc, n, path)
	if !ok {
		return nil, nil, false
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, ok2 := p.str(rc, item, index(path, i))
		if !ok2 {
			ok = false
		}
		out = append(out, s)
	}
	return out, items, ok
}

func (p *parser) boolean(rc *ruleCtx, n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			return b, true
		}
	}
	p.fail(rc, n, path, "want true or false, got "+kindName(n))
	return false, false
}
