package replay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/tumblemetrics/tumble/aggregator"
	"github.com/tumblemetrics/tumble/flush"
	"github.com/tumblemetrics/tumble/rules"
	"github.com/tumblemetrics/tumble/sample"
	"github.com/tumblemetrics/tumble/shard"
)

// Options configures a replay. The zero value applies the server's defaults.
type Options struct {
	Aggregator aggregator.Options
	Matcher    rules.MatcherOptions
	// Skip, if set, is told of every input line that was skipped.
	Skip func(LineError)
	// Shards, if positive, adds to each point the shard that holds its
	// series in a cluster of that many shards (see package shard).
	Shards int
}

// LineError is an input line that could not be used.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Summary counts what a replay read and wrote.
type Summary struct {
	Lines     int    // lines read, blank ones included
	Samples   int    // samples decoded
	Skipped   int    // lines that did not decode
	Unmatched int    // samples that no rule matched: they are not kept
	Dropped   int    // samples a drop rule matched
	Points    uint64 // points written
	Stats     aggregator.Stats
}

// MaxLine bounds one input line; a longer one is reported and skipped.
const MaxLine = 1 << 20

// Run aggregates the JSON samples of in, one per line, under rs and writes
// the points to out as JSON lines. It returns an error only when it cannot
// go on (reading in, writing out, bad options); bad lines are skipped and
// counted.
func Run(rs *rules.RuleSet, in io.Reader, out io.Writer, opts Options) (Summary, error) {
	agg, err := aggregator.New(opts.Aggregator)
	if err != nil {
		return Summary{}, fmt.Errorf("replay: %w", err)
	}
	if opts.Shards != 0 {
		if err := shard.Validate(opts.Shards); err != nil {
			return Summary{}, fmt.Errorf("replay: shards %d: %w", opts.Shards, err)
		}
	}
	r := &run{shards: opts.Shards,
		agg: agg, m: rules.NewMatcher(rs, opts.Matcher), w: bufio.NewWriterSize(out, 1<<16), wm: -1,
		batch: make([]sample.Sample, 0, matchBatch), results: make([]rules.Result, matchBatch),
	}
	r.f = flush.New(agg, r.write)
	skip := func(le LineError) {
		r.sum.Skipped++
		if opts.Skip != nil {
			opts.Skip(le)
		}
	}
	err = EachSample(in, skip, &r.sum.Lines, r.add)
	if err == nil {
		err = r.flushBatch()
	}
	if err == nil {
		err = r.f.Close()
	}
	if err == nil {
		if err = r.w.Flush(); err != nil {
			err = fmt.Errorf("replay: write points: %w", err)
		}
	}
	r.sum.Stats = agg.Stats()
	return r.sum, err
}

// run is the state of one replay.
type run struct {
	agg     *aggregator.Aggregator
	f       *flush.Flusher
	m       *rules.Matcher
	w       *bufio.Writer
	wm      int64 // the watermark: the largest timestamp read so far
	line    []byte
	sum     Summary
	batch   []sample.Sample
	results []rules.Result
	shards  int // 0: no shard in the points
}

// matchBatch is how many samples replay matches at a time.
const matchBatch = 64

// add queues one sample; samples are matched a batch at a time, which lets
// the matcher's cache lookups overlap.
func (r *run) add(s *sample.Sample) error {
	r.batch = append(r.batch, *s)
	if len(r.batch) == cap(r.batch) {
		return r.flushBatch()
	}
	return nil
}

// flushBatch feeds the queued samples, in order, to the targets they match,
// closing the windows that each new watermark passes.
func (r *run) flushBatch() error {
	r.results = r.results[:len(r.batch)]
	r.m.MatchBatch(r.batch, r.results)
	for i := range r.batch {
		s, res := &r.batch[i], &r.results[i]
		r.sum.Samples++
		if res.Dropped {
			r.sum.Dropped++
		}
		if len(res.Rules) == 0 {
			r.sum.Unmatched++
		}
		for _, t := range res.Targets {
			r.agg.Add(t, res.SeriesID, s)
		}
		if s.TimestampMs > r.wm {
			r.wm = s.TimestampMs
			if err := r.f.Advance(r.wm); err != nil {
				return err
			}
		}
	}
	r.batch = r.batch[:0]
	return nil
}

// write writes points as JSON lines; it is the run's flush sink.
func (r *run) write(points []aggregator.Point) error {
	for i := range points {
		r.line = AppendPoint(r.line[:0], &points[i])
		if r.shards > 0 {
			// The shard goes in before the closing brace.
			r.line = append(r.line[:len(r.line)-1], `,"shard":`...)
			r.line = append(strconv.AppendInt(r.line, int64(shard.Of(points[i].Target.ID, r.shards)), 10), '}')
		}
		r.line = append(r.line, '\n')
		if _, err := r.w.Write(r.line); err != nil {
			return fmt.Errorf("replay: write points: %w", err)
		}
	}
	r.sum.Points += uint64(len(points))
	return nil
}

// EachSample decodes the JSON samples of in, one per line, and calls fn with
// each. Blank lines are passed over; a line that does not decode, or is longer
// than MaxLine, is reported to skip (if set) and passed over. lines, if set,
// counts the lines read. EachSample stops at the first error of reading in or
// of fn.
func EachSample(in io.Reader, skip func(LineError), lines *int, fn func(*sample.Sample) error) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var buf []byte
	n := 0
	defer func() {
		if lines != nil {
			*lines = n
		}
	}()
	for {
		var tooLong bool
		var err error
		buf, tooLong, err = readLine(br, buf[:0])
		eof := err == io.EOF
		if err != nil && !eof {
			return fmt.Errorf("read samples: %w", err)
		}
		if eof && len(buf) == 0 && !tooLong {
			return nil
		}
		n++
		text := bytes.TrimSpace(buf)
		switch {
		case tooLong:
			if skip != nil {
				skip(LineError{Line: n, Err: fmt.Errorf("line longer than %d bytes", MaxLine)})
			}
		case len(text) > 0:
			s, err := sample.DecodeJSON(text)
			if err != nil {
				if skip != nil {
					skip(LineError{Line: n, Err: err})
				}
				break
			}
			if err := fn(&s); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
	}
}

// readLine appends the next line of br to buf, without its newline. A line
// longer than MaxLine is read to its end and discarded: tooLong is set and
// the line returned is empty.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLine+1 {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(buf, []byte{'\n'}), tooLong, err
	}
}
