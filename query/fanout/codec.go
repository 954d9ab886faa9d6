package fanout

import (
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// The conversions between Prometheus' types and the messages of
// fanoutpb, used by both sides.

var matchTypes = [...]struct {
	prom labels.MatchType
	pb   fanoutpb.MatchType
}{
	{labels.MatchEqual, fanoutpb.MatchType_MATCH_TYPE_EQUAL},
	{labels.MatchNotEqual, fanoutpb.MatchType_MATCH_TYPE_NOT_EQUAL},
	{labels.MatchRegexp, fanoutpb.MatchType_MATCH_TYPE_REGEXP},
	{labels.MatchNotRegexp, fanoutpb.MatchType_MATCH_TYPE_NOT_REGEXP},
}

func matchersToPB(ms []*labels.Matcher) ([]*fanoutpb.Matcher, error) {
	out := make([]*fanoutpb.Matcher, 0, len(ms))
	for _, m := range ms {
		typ := fanoutpb.MatchType_MATCH_TYPE_UNSPECIFIED
		for _, t := range matchTypes {
			if t.prom == m.Type {
				typ = t.pb
			}
		}
		if typ == fanoutpb.MatchType_MATCH_TYPE_UNSPECIFIED {
			return nil, fmt.Errorf("matcher %s: unknown match type %d", m, m.Type)
		}
		out = append(out, &fanoutpb.Matcher{Type: typ, Name: m.Name, Value: m.Value})
	}
	return out, nil
}

func matchersFromPB(ms []*fanoutpb.Matcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(ms))
	for i, m := range ms {
		typ, ok := labels.MatchType(0), false
		for _, t := range matchTypes {
			if t.pb == m.GetType() {
				typ, ok = t.prom, true
			}
		}
		if !ok {
			return nil, fmt.Errorf("matcher %d (%s): unknown match type %v", i, m.GetName(), m.GetType())
		}
		lm, err := labels.NewMatcher(typ, m.GetName(), m.GetValue())
		if err != nil {
			return nil, fmt.Errorf("matcher %d: %w", i, err)
		}
		out = append(out, lm)
	}
	return out, nil
}

func labelsToPB(ls labels.Labels) []*fanoutpb.Label {
	out := make([]*fanoutpb.Label, 0, ls.Len())
	ls.Range(func(l labels.Label) {
		out = append(out, &fanoutpb.Label{Name: l.Name, Value: l.Value})
	})
	return out
}

// labelsFromPB builds a label set with b, sorted whatever the order sent.
func labelsFromPB(b *labels.ScratchBuilder, ls []*fanoutpb.Label) labels.Labels {
	b.Reset()
	for _, l := range ls {
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	return b.Labels()
}

func hintsToPB(h *promstorage.SelectHints) *fanoutpb.SelectHints {
	if h == nil {
		return nil
	}
	return &fanoutpb.SelectHints{
		Start:    h.Start,
		End:      h.End,
		Step:     h.Step,
		Func:     h.Func,
		Grouping: h.Grouping,
		By:       h.By,
		Range:    h.Range,
		Limit:    int64(h.Limit),
	}
}

func hintsFromPB(h *fanoutpb.SelectHints) *promstorage.SelectHints {
	if h == nil {
		return nil
	}
	return &promstorage.SelectHints{
		Start:    h.GetStart(),
		End:      h.GetEnd(),
		Step:     h.GetStep(),
		Func:     h.GetFunc(),
		Grouping: h.GetGrouping(),
		By:       h.GetBy(),
		Range:    h.GetRange(),
		Limit:    int(h.GetLimit()),
	}
}

// annotationsToPB splits annotations into the warnings and infos of a
// response, as their messages.
func annotationsToPB(a annotations.Annotations) (warnings, infos []string) {
	for _, err := range a {
		if errors.Is(err, annotations.PromQLInfo) {
			infos = append(infos, err.Error())
		} else {
			warnings = append(warnings, err.Error())
		}
	}
	return warnings, infos
}

// remoteAnnotation is an annotation a replica sent: its message as it was,
// a warning or an info as it was.
type remoteAnnotation struct {
	msg  string
	info bool
}

func (a *remoteAnnotation) Error() string { return a.msg }

func (a *remoteAnnotation) Is(target error) bool {
	if a.info {
		return target == annotations.PromQLInfo
	}
	return target == annotations.PromQLWarning
}

// addRemoteAnnotations adds the warnings and infos of a response to a.
func addRemoteAnnotations(a *annotations.Annotations, warnings, infos []string) {
	for _, w := range warnings {
		a.Add(&remoteAnnotation{msg: w})
	}
	for _, i := range infos {
		a.Add(&remoteAnnotation{msg: i, info: true})
	}
}
