package fanout

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tumblemetrics/tumble/query/fanout/fanoutpb"
)

// Shard is what the fan-out reads of a replica of a shard held by this
// node: its series and its exemplars. *storage.DB is one.
type Shard interface {
	promstorage.Queryable
	promstorage.ExemplarQueryable
}

// ShardFunc returns the replica of shard that this node holds, and false
// if it holds none. It is called for every request, from any goroutine.
type ShardFunc func(shard int32) (Shard, bool)

const (
	defaultBatchBytes = 1 << 20
	// maxBatchBytes keeps a message, with its framing and the size
	// estimate's slack, under gRPC's default limit of 4 MiB.
	maxBatchBytes = 3 << 20
)

// ServerOptions configures a Server. The zero value is the production
// setting.
type ServerOptions struct {
	// BatchBytes is about the most bytes of labels and points one Select
	// message carries: series are sent a batch at a time, and a series
	// longer than that is split across messages. 0 means 1 MiB; at most
	// 3 MiB.
	BatchBytes int
}

func (o *ServerOptions) validate() error {
	if o.BatchBytes < 0 || o.BatchBytes > maxBatchBytes {
		return fmt.Errorf("fanout server options: BatchBytes %d: want 0 (the default) to %d", o.BatchBytes, maxBatchBytes)
	}
	return nil
}

// Server answers the Query service for the shard replicas this node holds.
// It keeps no state between calls: it serves any number of them at once.
type Server struct {
	fanoutpb.UnimplementedQueryServer
	shards     ShardFunc
	batchBytes int
}

var _ fanoutpb.QueryServer = (*Server)(nil)

// NewServer returns a Server reading the replicas that shards returns.
func NewServer(shards ShardFunc, opts ServerOptions) (*Server, error) {
	if shards == nil {
		return nil, fmt.Errorf("fanout server: no ShardFunc")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.BatchBytes == 0 {
		opts.BatchBytes = defaultBatchBytes
	}
	return &Server{shards: shards, batchBytes: opts.BatchBytes}, nil
}

// Register registers the Query service on g.
func (s *Server) Register(g *grpc.Server) { fanoutpb.RegisterQueryServer(g, s) }

// shard returns the replica of shard held here, or a NotFound status.
func (s *Server) shard(shard int32) (Shard, error) {
	sh, ok := s.shards(shard)
	if !ok || sh == nil {
		return nil, status.Errorf(codes.NotFound, "shard %d is not held on this node", shard)
	}
	return sh, nil
}

// storageStatus turns an error of the local storage into a status: the
// call's own end if it was canceled, else Internal.
func storageStatus(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	return status.Errorf(codes.Internal, "%s: %v", what, err)
}

// Select streams the series of the shard that match, sorted by labels,
// starting after req.After.
func (s *Server) Select(req *fanoutpb.SelectRequest, stream fanoutpb.Query_SelectServer) error {
	ctx := stream.Context()
	what := fmt.Sprintf("select on shard %d", req.GetShard())
	sh, err := s.shard(req.GetShard())
	if err != nil {
		return err
	}
	ms, err := matchersFromPB(req.GetMatchers())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	q, err := sh.Querier(req.GetMint(), req.GetMaxt())
	if err != nil {
		return storageStatus(ctx, err, what)
	}
	defer q.Close()
	var b labels.ScratchBuilder
	after := labelsFromPB(&b, req.GetAfter())

	set := q.Select(ctx, true, hintsFromPB(req.GetHints()), ms...)
	w := batchWriter{send: stream.Send, limit: s.batchBytes}
	var it chunkenc.Iterator
	for set.Next() {
		series := set.At()
		ls := series.Labels()
		if !after.IsEmpty() && labels.Compare(ls, after) <= 0 {
			continue
		}
		if err := w.startSeries(ls); err != nil {
			return err
		}
		if req.GetNoPoints() {
			continue
		}
		it = series.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				return status.Errorf(codes.Unimplemented, "%s: series %s: %s samples cannot be sent, only floats", what, ls, vt)
			}
			if err := w.addPoint(it.At()); err != nil {
				return err
			}
		}
		if err := it.Err(); err != nil {
			return storageStatus(ctx, err, fmt.Sprintf("%s: read series %s", what, ls))
		}
	}
	if err := set.Err(); err != nil {
		return storageStatus(ctx, err, what)
	}
	warnings, infos := annotationsToPB(set.Warnings())
	return w.finish(warnings, infos)
}

// batchWriter cuts the series of a Select into messages of about limit
// bytes. The points of a message go into blocks of pointBlock points or
// more, whose slices its series share: few allocations, and little room
// left unused.
type batchWriter struct {
	send  func(*fanoutpb.SelectResponse) error
	limit int

	msg   *fanoutpb.SelectResponse // being filled; nil before the first series
	size  int                      // estimated encoded size of msg
	cur   *fanoutpb.Series         // the last series of msg
	ts    []int64                  // the current block: timestamps as sent
	vs    []float64                // and values
	start int                      // where cur's points start in ts and vs
	prevT int64                    // the last timestamp of cur
}

// pointBlock is the least number of points a block holds.
const pointBlock = 4096

// closeSeries gives cur its points.
func (w *batchWriter) closeSeries() {
	if w.cur != nil && len(w.ts) > w.start {
		n := len(w.ts)
		w.cur.Timestamps, w.cur.Values = w.ts[w.start:n:n], w.vs[w.start:n:n]
	}
	w.cur, w.start = nil, len(w.ts)
}

func (w *batchWriter) flush() error {
	if w.msg == nil {
		return nil
	}
	w.closeSeries()
	msg := w.msg
	w.msg, w.size, w.ts, w.vs, w.start = nil, 0, nil, nil, 0
	// The message and its arrays are not touched after Send: gRPC may
	// still hold them.
	return w.send(msg)
}

func (w *batchWriter) add(series *fanoutpb.Series, size int) {
	if w.msg == nil {
		w.msg = &fanoutpb.SelectResponse{}
	}
	w.closeSeries()
	w.msg.Series = append(w.msg.Series, series)
	w.cur = series
	w.size += size
}

// startSeries begins a series, in the message being filled unless that one
// is full.
func (w *batchWriter) startSeries(ls labels.Labels) error {
	if w.size >= w.limit {
		if err := w.flush(); err != nil {
			return err
		}
	}
	series := &fanoutpb.Series{Labels: labelsToPB(ls)}
	size := 8
	ls.Range(func(l labels.Label) { size += len(l.Name) + len(l.Value) + 8 })
	w.add(series, size)
	return nil
}

// addPoint appends a point to the current series; a full message is sent
// first, and the series goes on in the next.
func (w *batchWriter) addPoint(t int64, v float64) error {
	d := t
	if len(w.ts) > w.start {
		d = t - w.prevT
	}
	size := 8 + protowire.SizeVarint(protowire.EncodeZigZag(d))
	if w.size+size > w.limit && len(w.ts) > w.start {
		w.cur.Continues = true
		if err := w.flush(); err != nil {
			return err
		}
		w.add(&fanoutpb.Series{}, 8)
		d = t
		size = 8 + protowire.SizeVarint(protowire.EncodeZigZag(d))
	}
	if len(w.ts) == cap(w.ts) {
		// A new block, to which the points of cur so far move.
		n := len(w.ts) - w.start
		ts, vs := make([]int64, n, max(pointBlock, 2*n)), make([]float64, n, max(pointBlock, 2*n))
		copy(ts, w.ts[w.start:])
		copy(vs, w.vs[w.start:])
		w.ts, w.vs, w.start = ts, vs, 0
	}
	w.ts = append(w.ts, d)
	w.vs = append(w.vs, v)
	w.prevT = t
	w.size += size
	return nil
}

// finish sends the last message, with the annotations.
func (w *batchWriter) finish(warnings, infos []string) error {
	if w.msg == nil {
		if len(warnings) == 0 && len(infos) == 0 {
			return nil
		}
		w.msg = &fanoutpb.SelectResponse{}
	}
	w.msg.Warnings, w.msg.Infos = warnings, infos
	return w.flush()
}

func labelHints(limit int64) *promstorage.LabelHints {
	if limit <= 0 {
		return nil
	}
	return &promstorage.LabelHints{Limit: int(limit)}
}

// LabelNames lists the label names of the shard's matching series.
func (s *Server) LabelNames(ctx context.Context, req *fanoutpb.LabelNamesRequest) (*fanoutpb.LabelNamesResponse, error) {
	what := fmt.Sprintf("label names of shard %d", req.GetShard())
	names, warnings, infos, err := s.labels(ctx, what, req.GetShard(), req.GetMatchers(), req.GetMint(), req.GetMaxt(),
		func(q promstorage.Querier, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
			return q.LabelNames(ctx, labelHints(req.GetLimit()), ms...)
		})
	if err != nil {
		return nil, err
	}
	return &fanoutpb.LabelNamesResponse{Names: names, Warnings: warnings, Infos: infos}, nil
}

// LabelValues lists the values of a label on the shard's matching series.
func (s *Server) LabelValues(ctx context.Context, req *fanoutpb.LabelValuesRequest) (*fanoutpb.LabelValuesResponse, error) {
	what := fmt.Sprintf("values of label %q on shard %d", req.GetName(), req.GetShard())
	values, warnings, infos, err := s.labels(ctx, what, req.GetShard(), req.GetMatchers(), req.GetMint(), req.GetMaxt(),
		func(q promstorage.Querier, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
			return q.LabelValues(ctx, req.GetName(), labelHints(req.GetLimit()), ms...)
		})
	if err != nil {
		return nil, err
	}
	return &fanoutpb.LabelValuesResponse{Values: values, Warnings: warnings, Infos: infos}, nil
}

// labels runs call on a querier of [mint, maxt] of the shard, with the
// decoded matchers; what names the call in errors.
func (s *Server) labels(ctx context.Context, what string, shard int32, pbms []*fanoutpb.Matcher, mint, maxt int64,
	call func(promstorage.Querier, []*labels.Matcher) ([]string, annotations.Annotations, error)) (out, warnings, infos []string, err error) {
	sh, err := s.shard(shard)
	if err != nil {
		return nil, nil, nil, err
	}
	ms, err := matchersFromPB(pbms)
	if err != nil {
		return nil, nil, nil, status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	q, err := sh.Querier(mint, maxt)
	if err != nil {
		return nil, nil, nil, storageStatus(ctx, err, what)
	}
	defer q.Close()
	out, ann, err := call(q, ms)
	if err != nil {
		return nil, nil, nil, storageStatus(ctx, err, what)
	}
	warnings, infos = annotationsToPB(ann)
	return out, warnings, infos, nil
}

// Exemplars returns the exemplars of the shard's series matching any of the
// matcher sets.
func (s *Server) Exemplars(ctx context.Context, req *fanoutpb.ExemplarsRequest) (*fanoutpb.ExemplarsResponse, error) {
	what := fmt.Sprintf("exemplars of shard %d", req.GetShard())
	sh, err := s.shard(req.GetShard())
	if err != nil {
		return nil, err
	}
	sets := make([][]*labels.Matcher, 0, len(req.GetMatcherSets()))
	for i, set := range req.GetMatcherSets() {
		ms, err := matchersFromPB(set.GetMatchers())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%s: matcher set %d: %v", what, i, err)
		}
		sets = append(sets, ms)
	}
	eq, err := sh.ExemplarQuerier(ctx)
	if err != nil {
		return nil, storageStatus(ctx, err, what)
	}
	res, err := eq.Select(req.GetStart(), req.GetEnd(), sets...)
	if err != nil {
		return nil, storageStatus(ctx, err, what)
	}
	out := &fanoutpb.ExemplarsResponse{Series: make([]*fanoutpb.ExemplarSeries, 0, len(res))}
	for _, r := range res {
		es := &fanoutpb.ExemplarSeries{Labels: labelsToPB(r.SeriesLabels), Exemplars: make([]*fanoutpb.Exemplar, 0, len(r.Exemplars))}
		for _, e := range r.Exemplars {
			es.Exemplars = append(es.Exemplars, &fanoutpb.Exemplar{
				Labels:       labelsToPB(e.Labels),
				Value:        e.Value,
				Timestamp:    e.Ts,
				HasTimestamp: e.HasTs,
			})
		}
		out.Series = append(out.Series, es)
	}
	return out, nil
}
