package promapi

import (
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// maxAnnotations is how many warnings, and how many infos, a response
// carries at most; the rest are counted in a last line.
const maxAnnotations = 10

// queryData is the data of a query or query_range answer.
type queryData struct {
	ResultType parser.ValueType
	Result     parser.Value
	Stats      stats.QueryStats // nil unless the request asked for stats
}

// appendData appends the data of a success response.
func appendData(b []byte, data any) ([]byte, error) {
	switch d := data.(type) {
	case *queryData:
		b = append(b, `{"resultType":`...)
		b = appendString(b, string(d.ResultType))
		b = append(b, `,"result":`...)
		b, err := appendValue(b, d.Result)
		if err != nil {
			return b, err
		}
		if d.Stats != nil {
			j, err := json.Marshal(d.Stats)
			if err != nil {
				return b, fmt.Errorf("encode stats: %w", err)
			}
			b = append(b, `,"stats":`...)
			b = append(b, j...)
		}
		return append(b, '}'), nil
	case []string:
		b = append(b, '[')
		for i, s := range d {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []labels.Labels:
		b = append(b, '[')
		for i, ls := range d {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabels(b, ls)
		}
		return append(b, ']'), nil
	case []exemplar.QueryResult:
		return appendExemplars(b, d), nil
	}
	j, err := json.Marshal(data)
	if err != nil {
		return b, fmt.Errorf("encode %T: %w", data, err)
	}
	return append(b, j...), nil
}

// appendSuccess appends the envelope of a success response.
func appendSuccess(b []byte, data any, warnings, infos []string) ([]byte, error) {
	b = append(b, `{"status":"success"`...)
	if data != nil {
		b = append(b, `,"data":`...)
		var err error
		if b, err = appendData(b, data); err != nil {
			return b, err
		}
	}
	for _, a := range []struct {
		key  string
		list []string
	}{{"warnings", warnings}, {"infos", infos}} {
		if len(a.list) == 0 {
			continue
		}
		b = append(b, `,"`...)
		b = append(b, a.key...)
		b = append(b, `":`...)
		b, _ = appendData(b, a.list)
	}
	return append(b, '}'), nil
}

// appendError appends the envelope of an error response.
func appendError(b []byte, e *apiError) []byte {
	b = append(b, `{"status":"error","errorType":`...)
	b = appendString(b, string(e.typ))
	b = append(b, `,"error":`...)
	b = appendString(b, e.err.Error())
	return append(b, '}')
}

// annotationStrings splits annotations into warnings and infos, each sorted
// and cut at maxAnnotations, with the position of each in query filled in.
func annotationStrings(a annotations.Annotations, query string) (warnings, infos []string) {
	if len(a) == 0 {
		return nil, nil
	}
	warnings, infos = a.AsStrings(query, 0, 0)
	return capStrings(warnings, "warning"), capStrings(infos, "info")
}

func capStrings(ss []string, kind string) []string {
	slices.Sort(ss)
	if len(ss) <= maxAnnotations {
		return ss
	}
	n := len(ss) - maxAnnotations
	return append(ss[:maxAnnotations], fmt.Sprintf("%d more %s annotations omitted", n, kind))
}

// bufPool holds response buffers; buffers grown past maxPooledBuf by a
// large answer are left to the garbage collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

var (
	gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	zlibPool = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}
)

// writeBody writes a JSON answer with its status, compressed with gzip or
// deflate when the request accepts one of them (the first it names), as
// Prometheus does.
func writeBody(w http.ResponseWriter, r *http.Request, code int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Add("Vary", "Accept-Encoding")
	var (
		zw   io.WriteCloser
		done func()
	)
	for enc := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		switch strings.TrimSpace(enc) {
		case "gzip":
			g := gzipPool.Get().(*gzip.Writer)
			g.Reset(w)
			zw, done = g, func() { gzipPool.Put(g) }
			h.Set("Content-Encoding", "gzip")
		case "deflate":
			z := zlibPool.Get().(*zlib.Writer)
			z.Reset(w)
			zw, done = z, func() { zlibPool.Put(z) }
			h.Set("Content-Encoding", "deflate")
		default:
			continue
		}
		break
	}
	w.WriteHeader(code)
	if zw == nil {
		_, err := w.Write(body)
		return err
	}
	defer done()
	if _, err := zw.Write(body); err != nil {
		return err
	}
	return zw.Close()
}
