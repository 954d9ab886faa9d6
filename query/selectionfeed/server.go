package selectionfeed

import (
	"context"
	"log/slog"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tumblemetrics/tumble/flush/selection"
	"github.com/tumblemetrics/tumble/flush/selection/selectionpb"
)

// maxBatch bounds the selections of one message.
const maxBatch = 1000

// Server is the Selections service over one selections topic.
type Server struct {
	selectionpb.UnimplementedSelectionsServer
	topic string
	opts  []kgo.Opt
	log   *slog.Logger
}

// NewServer returns the service of topic; clientOpts configure its Kafka
// clients (seed brokers, TLS…).
func NewServer(topic string, log *slog.Logger, clientOpts ...kgo.Opt) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{topic: topic, opts: clientOpts, log: log}
}

// Register registers the service on gs.
func (s *Server) Register(gs *grpc.Server) { selectionpb.RegisterSelectionsServer(gs, s) }

// Watch streams the topic's selections from the request's position: first
// a message with no selection and the token of where the watch starts,
// then each batch read.
func (s *Server) Watch(req *selectionpb.WatchRequest, stream grpc.ServerStreamingServer[selectionpb.WatchResponse]) error {
	ctx := stream.Context()
	pos, err := s.start(ctx, req)
	if err != nil {
		return err
	}
	if err := stream.Send(&selectionpb.WatchResponse{ResumeToken: pos.token()}); err != nil {
		return err
	}
	parts := make(map[int32]kgo.Offset, len(pos.next))
	for p, o := range pos.next {
		parts[int32(p)] = kgo.NewOffset().At(o)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, s.opts...)...)
	if err != nil {
		return status.Errorf(codes.Internal, "kafka client: %v", err)
	}
	defer cl.Close()
	var batch []*selectionpb.Selection
	send := func() error {
		err := stream.Send(&selectionpb.WatchResponse{Selections: batch, ResumeToken: pos.token()})
		batch = batch[:0]
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fs.Err0(); err != nil {
			return status.Errorf(codes.Unavailable, "read %s: %v", s.topic, err)
		}
		var serr error
		fs.EachRecord(func(r *kgo.Record) {
			if serr != nil || int(r.Partition) >= len(pos.next) {
				return
			}
			pos.next[r.Partition] = r.Offset + 1
			sel, err := selection.Decode(r.Value)
			if err != nil {
				s.log.Warn("a record of the selections topic is not a selection", "topic", s.topic, "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			if sel.Reason == selection.Candidate && !req.Candidates {
				return
			}
			batch = append(batch, ToProto(&sel))
			if len(batch) == maxBatch {
				serr = send()
			}
		})
		if serr == nil && len(batch) > 0 {
			serr = send()
		}
		if serr != nil {
			return serr
		}
	}
}

// start returns where a watch begins.
func (s *Server) start(ctx context.Context, req *selectionpb.WatchRequest) (position, error) {
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return position{}, status.Errorf(codes.Internal, "kafka client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var offs kadm.ListedOffsets
	if req.FromStart {
		offs, err = adm.ListStartOffsets(ctx, s.topic)
	} else {
		// The last stable offsets: what is committed after them is new.
		offs, err = adm.ListCommittedOffsets(ctx, s.topic)
	}
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return position{}, status.Errorf(codes.Unavailable, "list the offsets of %s: %v", s.topic, err)
	}
	n := 0
	offs.Each(func(o kadm.ListedOffset) { n = max(n, int(o.Partition)+1) })
	if n == 0 {
		return position{}, status.Errorf(codes.Unavailable, "topic %s has no partition", s.topic)
	}
	if req.ResumeToken != "" {
		pos, err := parseToken(req.ResumeToken, s.topic)
		if err != nil {
			return position{}, status.Error(codes.InvalidArgument, err.Error())
		}
		if len(pos.next) != n {
			return position{}, status.Errorf(codes.InvalidArgument, "resume token of %d partitions, topic %s has %d", len(pos.next), s.topic, n)
		}
		return pos, nil
	}
	pos := position{topic: xxhash.Sum64String(s.topic), next: make([]int64, n)}
	offs.Each(func(o kadm.ListedOffset) { pos.next[o.Partition] = o.Offset })
	return pos, nil
}

// ToProto returns s as a message.
func ToProto(s *selection.Selection) *selectionpb.Selection {
	return &selectionpb.Selection{
		TraceId: s.TraceID, Reason: s.Reason, Name: s.Name, Labels: s.Labels,
		Aggregation: s.Aggregation, Policy: s.Policy, WindowStartMs: s.StartMs, WindowEndMs: s.EndMs,
		Value: s.Value, SampleValue: s.SampleValue, SampleTimestampMs: s.SampleMs,
		Rule: s.Rule, Tenant: s.Tenant, Shard: s.Shard, Leader: s.Leader, Term: s.Term,
	}
}

// FromProto returns the selection of m, checked.
func FromProto(m *selectionpb.Selection) (selection.Selection, error) {
	s := selection.Selection{
		TraceID: m.GetTraceId(), Reason: m.GetReason(), Name: m.GetName(), Labels: m.GetLabels(),
		Aggregation: m.GetAggregation(), Policy: m.GetPolicy(), StartMs: m.GetWindowStartMs(), EndMs: m.GetWindowEndMs(),
		Value: m.GetValue(), SampleValue: m.GetSampleValue(), SampleMs: m.GetSampleTimestampMs(),
		Rule: m.GetRule(), Tenant: m.GetTenant(), Shard: m.GetShard(), Leader: m.GetLeader(), Term: m.GetTerm(),
	}
	if err := s.Valid(); err != nil {
		return selection.Selection{}, err
	}
	return s, nil
}
