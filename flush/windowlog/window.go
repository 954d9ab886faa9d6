package windowlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/tumblemetrics/tumble/flush/selection"
)

// Window is the record of one closed window of one shard and storage
// policy.
type Window struct {
	Shard   int32  `json:"shard"`
	Policy  string `json:"policy"`
	StartMs int64  `json:"window_start_ms"`
	EndMs   int64  `json:"window_end_ms"`
	// CloseMs is the watermark at which the window closes: its end plus
	// the policy's allowed lateness. Windows are emitted in this order.
	CloseMs int64 `json:"close_ms"`
	Points  int   `json:"points"`
	// Digest is the sum of PointHash over the window's points, in hex.
	Digest string `json:"digest"`
	// Leader and Term name the replica that emitted the window: its node
	// and the revision of its election key.
	Leader string `json:"leader,omitempty"`
	Term   int64  `json:"term,omitempty"`
	// Selected counts the window's selections (package selection);
	// Selections are they, held by a replica until the leader writes them
	// to the selections topic (its window log record leaves them out).
	Selected   int                   `json:"selected,omitempty"`
	Selections []selection.Selection `json:"selections,omitempty"`
}

// Key is the record key of w.
func (w *Window) Key() string {
	return strconv.Itoa(int(w.Shard)) + "/" + w.Policy + "/" + strconv.FormatInt(w.EndMs, 10)
}

// Decode parses a record value.
func Decode(b []byte) (Window, error) {
	var w Window
	if err := json.Unmarshal(b, &w); err != nil {
		return Window{}, fmt.Errorf("window record: %w", err)
	}
	switch {
	case w.Policy == "":
		return Window{}, errors.New("window record: no policy")
	case w.StartMs >= w.EndMs:
		return Window{}, fmt.Errorf("window record: window [%d, %d) is empty", w.StartMs, w.EndMs)
	case w.CloseMs < w.EndMs:
		return Window{}, fmt.Errorf("window record: closes at %d, before its end %d", w.CloseMs, w.EndMs)
	case w.Points < 0:
		return Window{}, fmt.Errorf("window record: %d points", w.Points)
	case w.Shard < 0:
		return Window{}, fmt.Errorf("window record: shard %d", w.Shard)
	case w.Selected < len(w.Selections):
		return Window{}, fmt.Errorf("window record: %d selected, %d selections", w.Selected, len(w.Selections))
	}
	for i := range w.Selections {
		sel := &w.Selections[i]
		if err := sel.Valid(); err != nil {
			return Window{}, fmt.Errorf("window record: selection %d: %w", i, err)
		}
		if sel.Reason != selection.Final || sel.Shard != w.Shard || sel.Policy != w.Policy || sel.StartMs != w.StartMs || sel.EndMs != w.EndMs {
			return Window{}, fmt.Errorf("window record: selection %d (%s, shard %d, %s [%d, %d)) is not of the window", i, sel.Reason, sel.Shard, sel.Policy, sel.StartMs, sel.EndMs)
		}
	}
	if _, err := strconv.ParseUint(w.Digest, 16, 64); err != nil {
		return Window{}, fmt.Errorf("window record: digest %q: %w", w.Digest, err)
	}
	return w, nil
}

// Encode returns w as a record value, its selections included.
func (w *Window) Encode() []byte {
	b, _ := json.Marshal(w) // a struct of strings and finite numbers
	return b
}

// LogRecord returns w's record in the window log: without its selections,
// which go to the selections topic.
func (w *Window) LogRecord() []byte {
	c := *w
	c.Selections = nil
	return c.Encode()
}

// PointHash is the hash of one point for a window's digest: its series
// labels (the name included), value and exemplar.
func PointHash(ls labels.Labels, v float64, traceID [16]byte, exemplarValue float64) uint64 {
	d := xxhash.New()
	ls.Range(func(l labels.Label) {
		d.WriteString(l.Name)
		d.Write([]byte{0xff})
		d.WriteString(l.Value)
		d.Write([]byte{0xff})
	})
	var b [8 + 16 + 8]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
	copy(b[8:], traceID[:])
	binary.LittleEndian.PutUint64(b[24:], math.Float64bits(exemplarValue))
	d.Write(b[:])
	return d.Sum64()
}

// Summary gathers the windows of a flush from their points.
type Summary struct {
	shard, shards int32
	windows       map[summaryKey]*summed
}

type summaryKey struct {
	policy string
	end    int64
}

type summed struct {
	w       Window
	digest  uint64
	pending []selection.Pending
}

// NewSummary returns an empty summary of the windows of shard, one of
// shards (which share the caps of trace selection).
func NewSummary(shard, shards int32) *Summary {
	return &Summary{shard: shard, shards: max(shards, 1), windows: map[summaryKey]*summed{}}
}

// Add counts a point of the window [start, end) of policy, closing at
// closeMs, with hash h (see PointHash).
func (s *Summary) Add(policy string, start, end, closeMs int64, h uint64) {
	sw := s.window(policy, start, end, closeMs)
	sw.w.Points++
	sw.digest += h
}

// Select offers a point of the window [start, end) of policy, counted by
// Add, for selection; the caps choose among the window's offers (see
// selection.Choose). p's shard, reason and window are set here.
func (s *Summary) Select(policy string, start, end, closeMs int64, p selection.Pending) {
	sw := s.window(policy, start, end, closeMs)
	p.Shard, p.Reason, p.Policy, p.StartMs, p.EndMs = s.shard, selection.Final, policy, start, end
	sw.pending = append(sw.pending, p)
}

func (s *Summary) window(policy string, start, end, closeMs int64) *summed {
	k := summaryKey{policy, end}
	sw := s.windows[k]
	if sw == nil {
		sw = &summed{w: Window{Shard: s.shard, Policy: policy, StartMs: start, EndMs: end, CloseMs: closeMs}}
		s.windows[k] = sw
	}
	return sw
}

// Len returns the number of windows gathered.
func (s *Summary) Len() int { return len(s.windows) }

// Windows appends the windows gathered to dst, in close order (then
// policy, then end), and empties the summary.
func (s *Summary) Windows(dst []Window) []Window {
	n := len(dst)
	for k, sw := range s.windows {
		sw.w.Digest = strconv.FormatUint(sw.digest, 16)
		if len(sw.pending) > 0 {
			sw.w.Selections = selection.Choose(nil, sw.pending, int(s.shards))
			sw.w.Selected = len(sw.w.Selections)
		}
		dst = append(dst, sw.w)
		delete(s.windows, k)
	}
	Sort(dst[n:])
	return dst
}

// Sort orders windows by close time, then policy, then end.
func Sort(ws []Window) {
	sort.Slice(ws, func(i, j int) bool {
		a, b := &ws[i], &ws[j]
		if a.CloseMs != b.CloseMs {
			return a.CloseMs < b.CloseMs
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		return a.EndMs < b.EndMs
	})
}
