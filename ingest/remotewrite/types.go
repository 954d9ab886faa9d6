package remotewrite

import (
	"strings"
	"sync"

	"github.com/prometheus/prometheus/prompb"

	"github.com/tumblemetrics/tumble/sample"
)

// maxFamilies bounds the metric families whose type a Types remembers.
const maxFamilies = 1 << 18

// Types remembers the type of each metric family from the metadata that
// remote-write clients send (Prometheus sends it apart from the samples,
// every minute): a counter's series are cumulative, a histogram's or a
// summary's _bucket, _count and _sum series too. Any goroutine may use it.
type Types struct {
	mu       sync.RWMutex
	families map[string]prompb.MetricMetadata_MetricType
}

// NewTypes returns an empty Types.
func NewTypes() *Types {
	return &Types{families: map[string]prompb.MetricMetadata_MetricType{}}
}

// Learn records the types of md's families.
func (t *Types) Learn(md []prompb.MetricMetadata) {
	if len(md) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range md {
		t.set(md[i].MetricFamilyName, md[i].Type)
	}
}

// learn is Learn of a request's metadata.
func (t *Types) learn(md []wireMetadata) {
	if len(md) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range md {
		t.set(md[i].name, md[i].typ)
	}
}

// set records that family name is of type ft. The map keeps a copy of
// name: the name given may be part of a request's body.
func (t *Types) set(name string, ft prompb.MetricMetadata_MetricType) {
	old, ok := t.families[name]
	if ok && old == ft || !ok && len(t.families) >= maxFamilies {
		return
	}
	t.families[strings.Clone(name)] = ft // a new value replaces the key too
}

// family returns the type of the family the series name belongs to, if
// known.
func (t *Types) family(name string) (prompb.MetricMetadata_MetricType, string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if ft, ok := t.families[name]; ok {
		return ft, "", true
	}
	for _, sfx := range familySuffixes {
		if base, ok := strings.CutSuffix(name, sfx); ok {
			if ft, ok := t.families[base]; ok {
				return ft, sfx, true
			}
		}
	}
	return prompb.MetricMetadata_UNKNOWN, "", false
}

var familySuffixes = []string{"_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info"}

// SampleType returns the sample type of series name: from its family's
// type if known, else from its name (Prometheus' conventions: _total,
// _bucket, _count and _sum are cumulative counters, the rest gauges).
func (t *Types) SampleType(name string) sample.Type {
	if ft, sfx, ok := t.family(name); ok {
		return typeOf(ft, sfx)
	}
	for _, sfx := range []string{"_total", "_bucket", "_count", "_sum"} {
		if strings.HasSuffix(name, sfx) {
			return sample.Cumulative
		}
	}
	return sample.Gauge
}

// typeOf is the sample type of a series of a family of type ft whose name
// is the family's plus sfx.
func typeOf(ft prompb.MetricMetadata_MetricType, sfx string) sample.Type {
	switch ft {
	case prompb.MetricMetadata_COUNTER:
		return sample.Cumulative
	case prompb.MetricMetadata_HISTOGRAM, prompb.MetricMetadata_SUMMARY:
		switch sfx {
		case "_bucket", "_count", "_sum":
			return sample.Cumulative
		}
		return sample.Gauge // a summary's quantiles, _created
	}
	return sample.Gauge // gauges, gauge histograms, info, state sets, unknown
}
