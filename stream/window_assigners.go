package stream

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TimeWindow is the time interval [Start, End) in milliseconds, as Flink's TimeWindow.
// Windows are the namespace of window state and timers (see AppendNamespace).
type TimeWindow struct {
	Start, End int64
}

// MaxTimestamp is the largest timestamp in the window, End-1: the timestamp of its results.
func (w TimeWindow) MaxTimestamp() int64 { return w.End - 1 }

// Intersects reports whether w and o overlap or are adjacent (Flink's definition, so that
// session windows that touch merge).
func (w TimeWindow) Intersects(o TimeWindow) bool { return w.Start <= o.End && w.End >= o.Start }

// Cover returns the smallest window containing w and o.
func (w TimeWindow) Cover(o TimeWindow) TimeWindow {
	return TimeWindow{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

func (w TimeWindow) String() string {
	return fmt.Sprintf("TimeWindow{start=%d, end=%d}", w.Start, w.End)
}

// timeWindowNamespaceSize is the size of a window's namespace encoding.
const timeWindowNamespaceSize = 16

// AppendNamespace appends w's namespace encoding to dst: Start then End, each 8 bytes big
// endian with the sign bit flipped, so that byte order is (Start, End) order. It is part of
// the snapshot format of window state and timers.
func (w TimeWindow) AppendNamespace(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63))
}

// ErrBadWindowNamespace is returned for a namespace that is not a TimeWindow's encoding:
// state or timers that were not written by a window operator, or corrupt.
var ErrBadWindowNamespace = errors.New("stream: not a time window namespace")

// DecodeTimeWindow decodes a namespace written by AppendNamespace.
func DecodeTimeWindow(ns []byte) (TimeWindow, error) {
	if len(ns) != timeWindowNamespaceSize {
		return TimeWindow{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadWindowNamespace, len(ns), timeWindowNamespaceSize)
	}
	return TimeWindow{
		Start: int64(binary.BigEndian.Uint64(ns) ^ (1 << 63)),
		End:   int64(binary.BigEndian.Uint64(ns[8:]) ^ (1 << 63)),
	}, nil
}

// WindowStartWithOffset returns the start of the window of size size (offset by offset) that
// contains ts, as Flink's TimeWindow.getWindowStartWithOffset; it is correct for negative
// timestamps too.
func WindowStartWithOffset(ts, offset, size int64) int64 {
	r := (ts - offset) % size
	if r < 0 {
		r += size
	}
	return ts - r
}

// WindowAssigner assigns records to windows, as Flink's WindowAssigner. The built-in
// assigners are stateless values safe for use by many subtasks.
type WindowAssigner interface {
	// AssignWindows appends to dst the windows of a record with event timestamp ts arriving
	// at processing time now, and returns the extended slice.
	AssignWindows(dst []TimeWindow, ts, now int64) ([]TimeWindow, error)
	// IsEventTime reports whether windows are in event time (fired by watermarks, subject to
	// lateness) or in processing time.
	IsEventTime() bool
}

// MergingWindowAssigner is an assigner whose windows merge (session windows), as Flink's
// MergingWindowAssigner.
type MergingWindowAssigner interface {
	WindowAssigner
	// MergeWindows calls merge for every group of two or more windows that become one.
	// windows may be reordered; merged is only valid during the call.
	MergeWindows(windows []TimeWindow, merge func(merged []TimeWindow, result TimeWindow))
}

// MergeTimeWindows merges overlapping (or adjacent) windows, as Flink's
// TimeWindow.mergeWindows: it sorts windows by start and calls merge for every run of two or
// more windows that intersect, with their cover.
func MergeTimeWindows(windows []TimeWindow, merge func(merged []TimeWindow, result TimeWindow)) {
	if len(windows) < 2 {
		return
	}
	slices.SortFunc(windows, func(a, b TimeWindow) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(a.End, b.End)
	})
	from := 0
	cover := windows[0]
	for i := 1; i <= len(windows); i++ {
		if i < len(windows) && cover.Intersects(windows[i]) {
			cover = cover.Cover(windows[i])
			continue
		}
		if i-from > 1 {
			merge(windows[from:i], cover)
		}
		if i < len(windows) {
			from, cover = i, windows[i]
		}
	}
}

func millis(what string, d time.Duration) int64 {
	ms := d.Milliseconds()
	if time.Duration(ms)*time.Millisecond != d {
		panic(fmt.Sprintf("stream: %s %v is not a whole number of milliseconds", what, d))
	}
	return ms
}

// tumbling is the tumbling window assigner of both time domains.
type tumbling struct {
	size, offset int64
	eventTime    bool
}

// TumblingEventTimeWindows assigns every record to the one window of length size that holds
// its timestamp; windows start at offset + k*size (offset shifts them, for time zones). It
// panics unless size > 0 and |offset| < size.
func TumblingEventTimeWindows(size, offset time.Duration) WindowAssigner {
	return newTumbling(size, offset, true)
}

// TumblingProcessingTimeWindows is TumblingEventTimeWindows in processing time: a record
// goes to the window holding the job clock's time when it arrives.
func TumblingProcessingTimeWindows(size, offset time.Duration) WindowAssigner {
	return newTumbling(size, offset, false)
}

func newTumbling(size, offset time.Duration, eventTime bool) *tumbling {
	s, o := millis("window size", size), millis("window offset", offset)
	if s <= 0 || o <= -s || o >= s {
		panic(fmt.Sprintf("stream: tumbling windows need size > 0 and |offset| < size, got size %v, offset %v", size, offset))
	}
	return &tumbling{size: s, offset: o, eventTime: eventTime}
}

func (a *tumbling) AssignWindows(dst []TimeWindow, ts, now int64) ([]TimeWindow, error) {
	if !a.eventTime {
		ts = now
	} else if ts == NoTimestamp {
		return dst, errNoTimestamp
	}
	start := WindowStartWithOffset(ts, a.offset, a.size)
	return append(dst, TimeWindow{Start: start, End: start + a.size}), nil
}

func (a *tumbling) IsEventTime() bool { return a.eventTime }

var errNoTimestamp = errors.New("stream: a record without a timestamp reached an event-time window; give its source timestamps")

// sliding is the sliding window assigner of both time domains.
type sliding struct {
	size, slide, offset int64
	eventTime           bool
}

// SlidingEventTimeWindows assigns every record to the size/slide windows of length size that
// hold its timestamp; a window starts every slide, at offset + k*slide. It panics unless
// size > 0, slide > 0 and |offset| < slide.
func SlidingEventTimeWindows(size, slide, offset time.Duration) WindowAssigner {
	return newSliding(size, slide, offset, true)
}

// SlidingProcessingTimeWindows is SlidingEventTimeWindows in processing time.
func SlidingProcessingTimeWindows(size, slide, offset time.Duration) WindowAssigner {
	return newSliding(size, slide, offset, false)
}

func newSliding(size, slide, offset time.Duration, eventTime bool) *sliding {
	s, sl, o := millis("window size", size), millis("window slide", slide), millis("window offset", offset)
	if s <= 0 || sl <= 0 || o <= -sl || o >= sl {
		panic(fmt.Sprintf("stream: sliding windows need size > 0, slide > 0 and |offset| < slide, got size %v, slide %v, offset %v", size, slide, offset))
	}
	return &sliding{size: s, slide: sl, offset: o, eventTime: eventTime}
}

func (a *sliding) AssignWindows(dst []TimeWindow, ts, now int64) ([]TimeWindow, error) {
	if !a.eventTime {
		ts = now
	} else if ts == NoTimestamp {
		return dst, errNoTimestamp
	}
	for start := WindowStartWithOffset(ts, a.offset, a.slide); start > ts-a.size; start -= a.slide {
		dst = append(dst, TimeWindow{Start: start, End: start + a.size})
	}
	return dst, nil
}

func (a *sliding) IsEventTime() bool { return a.eventTime }

// sessions is the session window assigner of both time domains.
type sessions struct {
	gap       int64
	eventTime bool
}

// EventTimeSessionWindows assigns every record to the window [ts, ts+gap); windows of a key
// that overlap or touch merge, so a session ends after gap without records. It panics
// unless gap > 0.
func EventTimeSessionWindows(gap time.Duration) MergingWindowAssigner {
	return newSessions(gap, true)
}

// ProcessingTimeSessionWindows is EventTimeSessionWindows in processing time.
func ProcessingTimeSessionWindows(gap time.Duration) MergingWindowAssigner {
	return newSessions(gap, false)
}

func newSessions(gap time.Duration, eventTime bool) *sessions {
	g := millis("session gap", gap)
	if g <= 0 {
		panic(fmt.Sprintf("stream: session windows need a gap > 0, got %v", gap))
	}
	return &sessions{gap: g, eventTime: eventTime}
}

func (a *sessions) AssignWindows(dst []TimeWindow, ts, now int64) ([]TimeWindow, error) {
	if !a.eventTime {
		ts = now
	} else if ts == NoTimestamp {
		return dst, errNoTimestamp
	}
	return append(dst, TimeWindow{Start: ts, End: ts + a.gap}), nil
}

func (a *sessions) IsEventTime() bool { return a.eventTime }

func (a *sessions) MergeWindows(windows []TimeWindow, merge func(merged []TimeWindow, result TimeWindow)) {
	MergeTimeWindows(windows, merge)
}
