package rules

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/sample"
)

// Describe writes a summary of the rules for people (tumblectl rules
// check): for each rule, what it matches, what it does and the series it
// writes: their names and labels for each aggregation (as
// aggregator.OutputName and OutputLabels make them), the transforms and the
// storage policies. The text depends on the rules only.
func (rs *RuleSet) Describe(w io.Writer) error {
	bw := bufio.NewWriter(w)
	file := rs.file
	if file == "" {
		file = "rules"
	}
	fmt.Fprintf(bw, "%s: %s, %s\n", file,
		plural(rs.nMapping, "mapping rule"), plural(len(rs.rules)-rs.nMapping, "rollup rule"))
	for _, r := range rs.rules {
		bw.WriteString("\n")
		describeRule(bw, r)
	}
	return bw.Flush()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// field writes one "  name: value" line, aligned.
func field(w *bufio.Writer, name, value string) {
	fmt.Fprintf(w, "  %-13s %s\n", name+":", value)
}

// more writes a continuation line under the last field.
func more(w *bufio.Writer, value string) {
	fmt.Fprintf(w, "  %-13s %s\n", "", value)
}

func describeRule(w *bufio.Writer, r *Rule) {
	fmt.Fprintf(w, "%s (line %d)\n", r, r.Line)
	field(w, "filter", r.Filter.String())
	if r.Op == Drop {
		field(w, "does", "drop: the series itself is not kept; other mapping rules and rollup rules still apply")
		return
	}
	mask, _ := r.valueTypes()
	switch {
	case r.Pre != aggregator.NoTransform:
		field(w, "values", mask.String()+" (yielded by the "+r.Pre.String()+" transform)")
	case mask != allTypes:
		field(w, "values", mask.String()+" (admitted by the filter's "+TypeTag+")")
	}
	if r.List == RollupRules {
		field(w, "pipeline", pipeline(r))
	}
	field(w, "does", does(r))
	if r.Aggregations != 0 {
		field(w, "aggregations", strings.Trim(r.Aggregations.String(), "[]"))
		outputs(w, r, r.Aggregations)
	} else {
		field(w, "aggregations", "the defaults of the sample type")
		for _, st := range mask.list() {
			d := aggregator.Defaults(st)
			more(w, st.String()+": "+strings.Trim(d.String(), "[]"))
		}
		for i, st := range mask.list() {
			if i == 0 {
				field(w, "outputs", "for "+st.String()+":")
			} else {
				more(w, "for "+st.String()+":")
			}
			outputsIndented(w, r, aggregator.Defaults(st), "  ")
		}
	}
	pols := make([]string, len(r.Policies))
	for i, p := range r.Policies {
		pols[i] = p.String()
	}
	field(w, "policies", strings.Join(pols, ", "))
	if r.TraceAggregations != 0 && len(r.Policies) > 0 {
		limit := "no cap"
		if r.TracesPerSecond > 0 {
			limit = "at most " + strconv.FormatFloat(r.TracesPerSecond, 'g', -1, 64) + "/s across the cluster"
		}
		kept := ""
		if r.Aggregations == 0 {
			kept = " (if the defaults of the sample type keep one)"
		}
		field(w, "traces", fmt.Sprintf("the trace of each %s point%s at %s, %s", strings.Trim(r.TraceAggregations.String(), "[]"), kept, r.Policies[0], limit))
	}
}

func pipeline(r *Rule) string {
	var steps []string
	if r.Pre != aggregator.NoTransform {
		steps = append(steps, "transform "+r.Pre.String())
	}
	if r.Op == Aggregate {
		steps = append(steps, "aggregate "+strings.Trim(r.Aggregations.String(), "[]"))
	} else {
		steps = append(steps, "rollup")
	}
	if r.Post != aggregator.NoTransform {
		steps = append(steps, "transform "+r.Post.String())
	}
	return strings.Join(steps, " -> ")
}

func does(r *Rule) string {
	var b strings.Builder
	switch r.Op {
	case Map:
		b.WriteString("map: keeps the series' name and labels")
	case Aggregate:
		b.WriteString("aggregate: keeps the series' name and labels")
	case Rollup:
		b.WriteString("rollup into " + displayName(r))
		switch {
		case r.Exclude && len(r.GroupLabels) == 0:
			b.WriteString(", keeping every label")
		case r.Exclude:
			b.WriteString(", keeping every label but " + strings.Join(r.GroupLabels, ", "))
		case len(r.GroupLabels) == 0:
			b.WriteString(", keeping no label")
		default:
			b.WriteString(" by " + strings.Join(r.GroupLabels, ", ") + " (series lacking one are not rolled up)")
		}
	}
	if len(r.Tags) > 0 {
		b.WriteString("; adds " + strings.Trim(r.Tags.String(), "{}"))
	}
	return b.String()
}

// displayName is the output name of the rule, with <name> standing for the
// input name.
func displayName(r *Rule) string {
	if r.Op != Rollup {
		return "<name>"
	}
	return strings.Replace(r.MetricName, metricNameVar, "<name>", 1)
}

// placeholder marks a label whose value comes from the input series.
const placeholder = "\x00"

func outputs(w *bufio.Writer, r *Rule, set aggregator.Set) {
	w.WriteString("  outputs:\n")
	outputsIndented(w, r, set, "")
}

// outputsIndented writes one line per aggregation of set: the name and
// labels of the series it writes.
func outputsIndented(w *bufio.Writer, r *Rule, set aggregator.Set, indent string) {
	n := set.Len()
	var base sample.Labels
	inputLabels := ""
	switch {
	case r.Op == Rollup && !r.Exclude:
		for _, name := range r.GroupLabels {
			base = append(base, sample.Label{Name: name, Value: placeholder})
		}
	case r.Op == Rollup:
		inputLabels = "<labels>"
		if len(r.GroupLabels) > 0 {
			inputLabels = "<labels but " + strings.Join(r.GroupLabels, ", ") + ">"
		}
	default:
		inputLabels = "<labels>"
	}
	base = withTags(base, r.Tags)
	for _, t := range set.Types() {
		name := aggregator.OutputName(displayName(r), t, n)
		ls := aggregator.OutputLabels(base, t, n)
		parts := make([]string, 0, len(ls)+1)
		if inputLabels != "" {
			parts = append(parts, inputLabels)
		}
		for _, l := range ls {
			if l.Value == placeholder {
				parts = append(parts, l.Name)
			} else {
				parts = append(parts, l.Name+"="+strconv.Quote(l.Value))
			}
		}
		fmt.Fprintf(w, "  %-13s %s%-8s %s{%s}\n", "", indent, t, name, strings.Join(parts, ", "))
	}
}
