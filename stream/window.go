package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// This file is Flink's window operator (WindowOperator): a keyed operator that assigns every
// record to windows, keeps each window's contents in keyed state namespaced by the window,
// and emits a window's result when its trigger fires. Windows are TimeWindows; merging
// assigners (session windows) keep Flink's MergingWindowSet per key.

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
			return cmpInt64(a.Start, b.Start)
		}
		return cmpInt64(a.End, b.End)
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

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// TriggerResult is what a trigger decides, as Flink's TriggerResult.
type TriggerResult uint8

// The trigger results.
const (
	// Continue does nothing.
	Continue TriggerResult = iota
	// Fire emits the window's result and keeps its contents.
	Fire
	// Purge clears the window's contents without emitting.
	Purge
	// FireAndPurge emits the window's result, then clears its contents.
	FireAndPurge
)

// IsFire reports whether r emits the window.
func (r TriggerResult) IsFire() bool { return r == Fire || r == FireAndPurge }

// IsPurge reports whether r clears the window's contents.
func (r TriggerResult) IsPurge() bool { return r == Purge || r == FireAndPurge }

func (r TriggerResult) String() string {
	switch r {
	case Continue:
		return "CONTINUE"
	case Fire:
		return "FIRE"
	case Purge:
		return "PURGE"
	case FireAndPurge:
		return "FIRE_AND_PURGE"
	}
	return fmt.Sprintf("TriggerResult(%d)", uint8(r))
}

// Trigger decides when a window emits its result, as Flink's Trigger. One Trigger value
// serves every subtask and key, so it must keep no mutable fields: per-window state goes
// into TriggerState, timers into the context; both are scoped to the current key and
// window. Its methods are called on the operator's goroutine, with the key current.
type Trigger[T any] interface {
	// OnElement is called for every record added to window w.
	OnElement(v T, ts int64, w TimeWindow, ctx *TriggerContext) (TriggerResult, error)
	// OnEventTime is called when an event-time timer of w that the trigger registered fires.
	OnEventTime(ts int64, w TimeWindow, ctx *TriggerContext) (TriggerResult, error)
	// OnProcessingTime is called when a processing-time timer of w fires.
	OnProcessingTime(ts int64, w TimeWindow, ctx *TriggerContext) (TriggerResult, error)
	// OnMerge is called when windows merge into w (merging assigners only): register the
	// timers w needs and merge trigger state with MergeTriggerState. A trigger that cannot
	// merge returns an error.
	OnMerge(w TimeWindow, ctx *TriggerContext) error
	// Clear removes the timers and trigger state of w; it is called when w is purged for
	// good (at its cleanup time, or when it merges into another window).
	Clear(w TimeWindow, ctx *TriggerContext) error
}

// TriggerContext is what a Trigger gets: the clocks, and timers and state of the current key
// and window.
type TriggerContext struct {
	timers state.TimerService
	kb     state.StateCreator
	ns     []byte   // the window's namespace
	merged [][]byte // during OnMerge: the namespaces of the windows that merged
	states map[string]state.State
}

// CurrentWatermark returns the operator's event-time watermark.
func (c *TriggerContext) CurrentWatermark() int64 { return c.timers.CurrentWatermark() }

// CurrentProcessingTime returns the job clock's time in milliseconds.
func (c *TriggerContext) CurrentProcessingTime() int64 { return c.timers.CurrentProcessingTime() }

// RegisterEventTimeTimer registers a timer of the window that calls OnEventTime once the
// watermark reaches ts.
func (c *TriggerContext) RegisterEventTimeTimer(ts int64) error {
	return c.timers.RegisterEventTimeTimer(c.ns, ts)
}

// DeleteEventTimeTimer deletes the window's event-time timer at ts, if any.
func (c *TriggerContext) DeleteEventTimeTimer(ts int64) error {
	return c.timers.DeleteEventTimeTimer(c.ns, ts)
}

// RegisterProcessingTimeTimer registers a timer of the window that calls OnProcessingTime
// once the job clock reaches ts.
func (c *TriggerContext) RegisterProcessingTimeTimer(ts int64) error {
	return c.timers.RegisterProcessingTimeTimer(c.ns, ts)
}

// DeleteProcessingTimeTimer deletes the window's processing-time timer at ts, if any.
func (c *TriggerContext) DeleteProcessingTimeTimer(ts int64) error {
	return c.timers.DeleteProcessingTimeTimer(c.ns, ts)
}

// TriggerState returns the trigger's keyed state named name, scoped to the current key and
// window (Flink's TriggerContext.getPartitionedState). create makes it on the first call of
// each subtask, for example
//
//	func(c state.StateCreator) (state.ValueState[int64], error) {
//		return state.GetValueState(c, state.ValueDescriptor[int64]{Name: "fired"})
//	}
//
// and is not called again for the same name, which must not collide with another state of
// the operator ("window-contents", "merging-window-set").
func TriggerState[S state.State](ctx *TriggerContext, name string, create func(state.StateCreator) (S, error)) (S, error) {
	st, ok := ctx.states[name]
	if !ok {
		s, err := create(ctx.kb)
		if err != nil {
			return s, fmt.Errorf("trigger state %q: %w", name, err)
		}
		st = s
		ctx.states[name] = st
	}
	s, ok := st.(S)
	if !ok {
		var zero S
		return zero, fmt.Errorf("trigger state %q is a %T, asked for a %T", name, st, zero)
	}
	s.SetNamespace(ctx.ns)
	return s, nil
}

// MergeTriggerState merges s, a state from TriggerState, of the windows that merged into the
// current one; call it from OnMerge (Flink's mergePartitionedState).
func MergeTriggerState(ctx *TriggerContext, s state.MergingState) error {
	if len(ctx.merged) == 0 {
		return nil
	}
	return s.MergeNamespaces(ctx.ns, ctx.merged)
}

type eventTimeTrigger[T any] struct{}

// EventTimeTrigger is the default trigger of event-time windows, as Flink's: it fires a
// window once the watermark passes its MaxTimestamp, and fires at once for a record that
// arrives after that (a late record within the allowed lateness).
func EventTimeTrigger[T any]() Trigger[T] { return eventTimeTrigger[T]{} }

func (eventTimeTrigger[T]) OnElement(_ T, _ int64, w TimeWindow, ctx *TriggerContext) (TriggerResult, error) {
	if w.MaxTimestamp() <= ctx.CurrentWatermark() {
		return Fire, nil
	}
	return Continue, ctx.RegisterEventTimeTimer(w.MaxTimestamp())
}

func (eventTimeTrigger[T]) OnEventTime(ts int64, w TimeWindow, _ *TriggerContext) (TriggerResult, error) {
	if ts == w.MaxTimestamp() {
		return Fire, nil
	}
	return Continue, nil
}

func (eventTimeTrigger[T]) OnProcessingTime(int64, TimeWindow, *TriggerContext) (TriggerResult, error) {
	return Continue, nil
}

func (eventTimeTrigger[T]) OnMerge(w TimeWindow, ctx *TriggerContext) error {
	if w.MaxTimestamp() > ctx.CurrentWatermark() {
		return ctx.RegisterEventTimeTimer(w.MaxTimestamp())
	}
	return nil
}

func (eventTimeTrigger[T]) Clear(w TimeWindow, ctx *TriggerContext) error {
	return ctx.DeleteEventTimeTimer(w.MaxTimestamp())
}

type processingTimeTrigger[T any] struct{}

// ProcessingTimeTrigger is the default trigger of processing-time windows, as Flink's: it
// fires a window when the job clock reaches its MaxTimestamp.
func ProcessingTimeTrigger[T any]() Trigger[T] { return processingTimeTrigger[T]{} }

func (processingTimeTrigger[T]) OnElement(_ T, _ int64, w TimeWindow, ctx *TriggerContext) (TriggerResult, error) {
	return Continue, ctx.RegisterProcessingTimeTimer(w.MaxTimestamp())
}

func (processingTimeTrigger[T]) OnEventTime(int64, TimeWindow, *TriggerContext) (TriggerResult, error) {
	return Continue, nil
}

func (processingTimeTrigger[T]) OnProcessingTime(int64, TimeWindow, *TriggerContext) (TriggerResult, error) {
	return Fire, nil
}

func (processingTimeTrigger[T]) OnMerge(w TimeWindow, ctx *TriggerContext) error {
	if w.MaxTimestamp() > ctx.CurrentProcessingTime() {
		return ctx.RegisterProcessingTimeTimer(w.MaxTimestamp())
	}
	return nil
}

func (processingTimeTrigger[T]) Clear(w TimeWindow, ctx *TriggerContext) error {
	return ctx.DeleteProcessingTimeTimer(w.MaxTimestamp())
}

type countTrigger[T any] struct{ n int64 }

// CountTrigger fires a window every n records (and never on time), as Flink's CountTrigger.
// Its count is trigger state named "count-trigger". It panics unless n > 0.
func CountTrigger[T any](n int64) Trigger[T] {
	if n <= 0 {
		panic(fmt.Sprintf("stream: CountTrigger needs n > 0, got %d", n))
	}
	return countTrigger[T]{n: n}
}

var countTriggerDescriptor = state.ReducingDescriptor[int64]{Name: "count-trigger",
	Reduce: func(a, b int64) (int64, error) { return a + b, nil }}

func (countTrigger[T]) count(ctx *TriggerContext) (state.ReducingState[int64], error) {
	return TriggerState(ctx, countTriggerDescriptor.Name, func(c state.StateCreator) (state.ReducingState[int64], error) {
		return state.GetReducingState(c, countTriggerDescriptor)
	})
}

func (t countTrigger[T]) OnElement(_ T, _ int64, _ TimeWindow, ctx *TriggerContext) (TriggerResult, error) {
	c, err := t.count(ctx)
	if err != nil {
		return Continue, err
	}
	if err := c.Add(1); err != nil {
		return Continue, err
	}
	n, _, err := c.Get()
	if err != nil || n < t.n {
		return Continue, err
	}
	return Fire, c.Clear()
}

func (countTrigger[T]) OnEventTime(int64, TimeWindow, *TriggerContext) (TriggerResult, error) {
	return Continue, nil
}

func (countTrigger[T]) OnProcessingTime(int64, TimeWindow, *TriggerContext) (TriggerResult, error) {
	return Continue, nil
}

func (t countTrigger[T]) OnMerge(_ TimeWindow, ctx *TriggerContext) error {
	c, err := t.count(ctx)
	if err != nil {
		return err
	}
	return MergeTriggerState(ctx, c)
}

func (t countTrigger[T]) Clear(_ TimeWindow, ctx *TriggerContext) error {
	c, err := t.count(ctx)
	if err != nil {
		return err
	}
	return c.Clear()
}

// WindowedStream is a keyed stream with a window assigner, as Flink's WindowedStream:
// configure it with Trigger, AllowedLateness and SideOutputLateData, then finish it with
// Reduce, Aggregate or ProcessWindow.
type WindowedStream[K, T any] struct {
	ks       *KeyedStream[K, T]
	assigner WindowAssigner
	trigger  Trigger[T]
	lateness int64
	lateTag  string
	ser      serde.Serializer[T]
	// miniBatch is the most (key, window) pairs pre-aggregated in memory; 0: off.
	miniBatch int
	// slicing pre-aggregates by slice rather than by window.
	slicing bool
}

// Window groups the records of each key of ks into the windows assigner gives them.
func Window[K, T any](ks *KeyedStream[K, T], assigner WindowAssigner) *WindowedStream[K, T] {
	if assigner == nil {
		panic("stream: Window needs an assigner")
	}
	return &WindowedStream[K, T]{ks: ks, assigner: assigner}
}

// Trigger replaces the assigner's default trigger (EventTimeTrigger for event-time windows,
// ProcessingTimeTrigger for processing-time ones).
func (ws *WindowedStream[K, T]) Trigger(tr Trigger[T]) *WindowedStream[K, T] {
	ws.trigger = tr
	return ws
}

// AllowedLateness keeps the state of event-time windows for d after the watermark passes
// their end (default 0): a record arriving for such a window is added and, with the default
// trigger, fires the window again with everything it holds. At MaxTimestamp + d a window's
// state and timers are cleared; later records for it are late. Processing-time windows
// ignore it.
func (ws *WindowedStream[K, T]) AllowedLateness(d time.Duration) *WindowedStream[K, T] {
	l := millis("allowed lateness", d)
	if l < 0 {
		panic(fmt.Sprintf("stream: allowed lateness %v is negative", d))
	}
	ws.lateness = l
	return ws
}

// SideOutputLateData sends late records (those of event-time windows all past their
// cleanup time) to the side output tag of the window's result stream; read them with
// SideOutput[T](result, tag). By default they are dropped.
func (ws *WindowedStream[K, T]) SideOutputLateData(tag string) *WindowedStream[K, T] {
	ws.lateTag = tag
	return ws
}

// StateSerializer sets the serializer of the records (for Reduce, the reduced value) kept in
// window state. Default: serde.Of[T]().
func (ws *WindowedStream[K, T]) StateSerializer(ser serde.Serializer[T]) *WindowedStream[K, T] {
	ws.ser = ser
	return ws
}

// MiniBatch pre-aggregates records in memory before they reach state, as Flink SQL's
// mini-batch aggregation: up to n (key, window) pairs are folded with the reduce function.
// A pair whose window is about to fire (before the watermark that passes its end) fires
// straight from memory; when n pairs are pending, all are written to state (one read and one
// write per pair rather than per record). Checkpoints copy the pending pairs into operator
// state rather than writing them to keyed state, and a restore at any parallelism takes them
// back. Results are the same; state is touched far less, not at all when the batch is large
// enough. Reduce only, with a non-merging assigner and the default trigger.
func (ws *WindowedStream[K, T]) MiniBatch(n int) *WindowedStream[K, T] {
	if n < 0 {
		panic(fmt.Sprintf("stream: mini-batch size %d is negative", n))
	}
	ws.miniBatch = n
	return ws
}

// Slicing makes a mini-batch of sliding event-time windows fold each record into one slice
// (the greatest common divisor of size and slide) instead of into size/slide windows; a
// window fires with the fold of its slices, in time order, as Flink SQL's slicing window
// aggregation. Memory and work per record drop by size/slide. Slices fold records that
// arrive out of order across windows' boundaries in another order than the windows would,
// so reduce must be commutative as well as associative. Needs MiniBatch, sliding event-time
// windows and no allowed lateness.
func (ws *WindowedStream[K, T]) Slicing() *WindowedStream[K, T] {
	ws.slicing = true
	return ws
}

// The names of the window operator's states.
const (
	windowContentsState = "window-contents"
	mergingWindowsState = "merging-window-set"
)

// Reduce folds each window's records with reduce and, when the window fires, calls window
// with the key, the window and the folded value; window's emitted records carry the
// timestamp w.MaxTimestamp(). The window keeps one value per key and window (Flink's
// reduce(ReduceFunction, WindowFunction)). PassWindowResult emits the value as it is. uid
// names the operator in checkpoints.
func Reduce[K, T, OUT any](ws *WindowedStream[K, T], uid string, reduce func(a, b T) T,
	window func(key K, w TimeWindow, v T, emit func(OUT)) error) *Stream[OUT] {
	if ws.miniBatch > 0 {
		_, merging := ws.assigner.(MergingWindowAssigner)
		if merging || ws.trigger != nil {
			panic(fmt.Sprintf("stream: window %q: MiniBatch needs a non-merging assigner and the default trigger", uid))
		}
	}
	if ws.slicing {
		if sl, ok := ws.assigner.(*sliding); !ok || !sl.eventTime || ws.miniBatch == 0 || ws.lateness != 0 {
			panic(fmt.Sprintf("stream: window %q: Slicing needs MiniBatch, sliding event-time windows and no allowed lateness", uid))
		}
	}
	newLogic := windowLogicFactory(ws, reduceContentsFactory(ws, reduce, window))
	if ws.miniBatch > 0 {
		inner := newLogic
		newLogic = func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
			l, err := inner(op)
			if err != nil {
				return nil, err
			}
			wl := l.(*windowLogic[K, T, OUT])
			ser := ws.ser
			if ser == nil {
				ser = serde.Of[T]()
			}
			if err := wl.startMiniBatch(ws.miniBatch, reduce, ser, ws.slicing); err != nil {
				return nil, err
			}
			return wl, nil
		}
	}
	return keyedOperator(ws.ks, uid, newLogic)
}

func reduceContentsFactory[K, T, OUT any](ws *WindowedStream[K, T], reduce func(a, b T) T,
	window func(key K, w TimeWindow, v T, emit func(OUT)) error) func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
	desc := state.ReducingDescriptor[T]{Name: windowContentsState, Serializer: ws.ser,
		Reduce: func(a, b T) (T, error) { return reduce(a, b), nil }}
	return func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
		st, err := state.GetReducingState(op.kb, desc)
		if err != nil {
			return nil, err
		}
		return &reduceContents[K, T, OUT]{st: st, fn: window, em: newEmitter(op.out)}, nil
	}
}

// AccumulatorSerializer may be implemented by the AggregateFunction given to Aggregate to
// choose the serializer of its accumulators; otherwise serde.Of[ACC]() is used.
type AccumulatorSerializer[ACC any] interface {
	AccumulatorSerializer() serde.Serializer[ACC]
}

// Aggregate folds each window's records into an accumulator of agg and, when the window
// fires, calls window with the key, the window and agg's result; window's emitted records
// carry the timestamp w.MaxTimestamp() (Flink's aggregate(AggregateFunction,
// WindowFunction)). Merging windows merge accumulators with agg.Merge.
func Aggregate[K, T, ACC, V, OUT any](ws *WindowedStream[K, T], uid string, agg state.AggregateFunction[T, ACC, V],
	window func(key K, w TimeWindow, v V, emit func(OUT)) error) *Stream[OUT] {
	return keyedOperator(ws.ks, uid, windowLogicFactory(ws, aggregateContentsFactory(agg, window)))
}

func aggregateContentsFactory[K, T, ACC, V, OUT any](agg state.AggregateFunction[T, ACC, V],
	window func(key K, w TimeWindow, v V, emit func(OUT)) error) func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
	desc := state.AggregatingDescriptor[T, ACC, V]{Name: windowContentsState, Function: agg}
	if s, ok := agg.(AccumulatorSerializer[ACC]); ok {
		desc.Serializer = s.AccumulatorSerializer()
	}
	return func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
		st, err := state.GetAggregatingState(op.kb, desc)
		if err != nil {
			return nil, err
		}
		return &aggregateContents[K, T, V, OUT]{st: st, fn: window, em: newEmitter(op.out)}, nil
	}
}

// ProcessWindow keeps every record of each window in list state and, when the window fires,
// calls fn with the key, the window and its records in arrival order (Flink's
// ProcessWindowFunction); fn's emitted records carry the timestamp w.MaxTimestamp(). elems
// is only valid during the call. Prefer Reduce or Aggregate, which keep one value per window.
func ProcessWindow[K, T, OUT any](ws *WindowedStream[K, T], uid string,
	fn func(key K, w TimeWindow, elems iter.Seq[T], emit func(OUT)) error) *Stream[OUT] {
	return keyedOperator(ws.ks, uid, windowLogicFactory(ws, listContentsFactory(ws, fn)))
}

func listContentsFactory[K, T, OUT any](ws *WindowedStream[K, T],
	fn func(key K, w TimeWindow, elems iter.Seq[T], emit func(OUT)) error) func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
	desc := state.ListDescriptor[T]{Name: windowContentsState, Serializer: ws.ser}
	return func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
		st, err := state.GetListState(op.kb, desc)
		if err != nil {
			return nil, err
		}
		return &listContents[K, T, OUT]{st: st, fn: fn, em: newEmitter(op.out)}, nil
	}
}

// PassWindowResult is a window function for Reduce and Aggregate that emits the window's
// value unchanged.
func PassWindowResult[K, V any](_ K, _ TimeWindow, v V, emit func(V)) error {
	emit(v)
	return nil
}

// windowContents is a window's contents in keyed state, namespaced by the (state) window,
// and the user function that turns them into results.
type windowContents[K, T any] interface {
	state.MergingState
	add(v T) error
	// emit calls the window function on the contents, if there are any.
	emit(key K, w TimeWindow) error
}

// emitter is the emit function handed to window functions: it sends to the operator's
// output with the window's timestamp and keeps the first error.
type emitter[OUT any] struct {
	out output[OUT]
	ts  int64
	err error
	fn  func(OUT)
}

func newEmitter[OUT any](out output[OUT]) *emitter[OUT] {
	e := &emitter[OUT]{out: out}
	e.fn = func(v OUT) {
		if e.err == nil {
			e.err = e.out.collect(v, e.ts)
		}
	}
	return e
}

func (e *emitter[OUT]) start(w TimeWindow) { e.ts, e.err = w.MaxTimestamp(), nil }

func (e *emitter[OUT]) done(err error) error {
	if err != nil {
		return err
	}
	return e.err
}

type reduceContents[K, T, OUT any] struct {
	st state.ReducingState[T]
	fn func(K, TimeWindow, T, func(OUT)) error
	em *emitter[OUT]
}

func (c *reduceContents[K, T, OUT]) SetNamespace(ns []byte) { c.st.SetNamespace(ns) }
func (c *reduceContents[K, T, OUT]) Clear() error           { return c.st.Clear() }
func (c *reduceContents[K, T, OUT]) add(v T) error          { return c.st.Add(v) }
func (c *reduceContents[K, T, OUT]) MergeNamespaces(target []byte, sources [][]byte) error {
	return c.st.MergeNamespaces(target, sources)
}

func (c *reduceContents[K, T, OUT]) emit(key K, w TimeWindow) error {
	v, ok, err := c.st.Get()
	if err != nil || !ok {
		return err
	}
	c.em.start(w)
	return c.em.done(c.fn(key, w, v, c.em.fn))
}

type aggregateContents[K, T, V, OUT any] struct {
	st state.AggregatingState[T, V]
	fn func(K, TimeWindow, V, func(OUT)) error
	em *emitter[OUT]
}

func (c *aggregateContents[K, T, V, OUT]) SetNamespace(ns []byte) { c.st.SetNamespace(ns) }
func (c *aggregateContents[K, T, V, OUT]) Clear() error           { return c.st.Clear() }
func (c *aggregateContents[K, T, V, OUT]) add(v T) error          { return c.st.Add(v) }
func (c *aggregateContents[K, T, V, OUT]) MergeNamespaces(target []byte, sources [][]byte) error {
	return c.st.MergeNamespaces(target, sources)
}

func (c *aggregateContents[K, T, V, OUT]) emit(key K, w TimeWindow) error {
	v, ok, err := c.st.Get()
	if err != nil || !ok {
		return err
	}
	c.em.start(w)
	return c.em.done(c.fn(key, w, v, c.em.fn))
}

type listContents[K, T, OUT any] struct {
	st  state.ListState[T]
	fn  func(K, TimeWindow, iter.Seq[T], func(OUT)) error
	em  *emitter[OUT]
	buf []T
}

func (c *listContents[K, T, OUT]) SetNamespace(ns []byte) { c.st.SetNamespace(ns) }
func (c *listContents[K, T, OUT]) Clear() error           { return c.st.Clear() }
func (c *listContents[K, T, OUT]) add(v T) error          { return c.st.Add(v) }
func (c *listContents[K, T, OUT]) MergeNamespaces(target []byte, sources [][]byte) error {
	return c.st.MergeNamespaces(target, sources)
}

func (c *listContents[K, T, OUT]) emit(key K, w TimeWindow) error {
	c.buf = c.buf[:0]
	for v, err := range c.st.Get() {
		if err != nil {
			return err
		}
		c.buf = append(c.buf, v)
	}
	if len(c.buf) == 0 {
		return nil
	}
	defer clear(c.buf) // keep nothing alive
	c.em.start(w)
	return c.em.done(c.fn(key, w, slices.Values(c.buf), c.em.fn))
}

// windowLogicFactory returns the per-subtask constructor of a window operator's logic, whose
// contents newContents creates.
func windowLogicFactory[K, T, OUT any](ws *WindowedStream[K, T],
	newContents func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error)) func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
	cfg := *ws // later changes to ws do not reach a built operator
	return func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
		contents, err := newContents(op)
		if err != nil {
			return nil, err
		}
		l := &windowLogic[K, T, OUT]{
			op:        op,
			assigner:  cfg.assigner,
			eventTime: cfg.assigner.IsEventTime(),
			trigger:   cfg.trigger,
			contents:  contents,
			tctx:      TriggerContext{timers: op.timers, kb: op.kb, states: map[string]state.State{}},
		}
		if l.eventTime {
			l.lateness = cfg.lateness
		}
		if l.trigger == nil {
			if l.eventTime {
				l.trigger = EventTimeTrigger[T]()
			} else {
				l.trigger = ProcessingTimeTrigger[T]()
			}
		}
		// The default event-time trigger registers the timer at MaxTimestamp, which is
		// also the cleanup time without lateness: skip registering it twice.
		_, isDefault := l.trigger.(eventTimeTrigger[T])
		l.cleanupIsTriggerTimer = isDefault && l.eventTime && l.lateness == 0
		if cfg.lateTag != "" {
			l.late = op.sides[cfg.lateTag] // nil if nobody reads it: late records are dropped
		}
		if m, ok := cfg.assigner.(MergingWindowAssigner); ok {
			st, err := state.GetValueState(op.kb, state.ValueDescriptor[[]windowMapping]{Name: mergingWindowsState, Serializer: windowMappingSerializer{}})
			if err != nil {
				return nil, err
			}
			l.merging = &mergingWindowSet{assigner: m, st: st}
			l.mergeFn = l.merge
		}
		return l, nil
	}
}

// windowLogic is the window operator of one subtask, as Flink's WindowOperator.
type windowLogic[K, T, OUT any] struct {
	op        *keyedOp[K, T, OUT]
	assigner  WindowAssigner
	eventTime bool
	trigger   Trigger[T]
	lateness  int64
	late      output[any]
	contents  windowContents[K, T]
	merging   *mergingWindowSet // nil for non-merging assigners
	mergeFn   func(result TimeWindow, merged []TimeWindow, stateResult TimeWindow, mergedState []TimeWindow) error
	tctx      TriggerContext
	// cleanupIsTriggerTimer says that the trigger registers the cleanup timer itself.
	cleanupIsTriggerTimer bool

	windows []TimeWindow // scratch for assigned windows
	stateNS []byte       // namespace of the contents' current (state) window
	winNS   []byte       // namespace of the trigger context's window
	nsList  [][]byte     // scratch for merges
	// dropped counts the late records dropped (Flink's numLateRecordsDropped).
	dropped int64
	// mini pre-aggregates records when MiniBatch is on; nil otherwise.
	mini *miniBatch[K, T]
}

// setWindow makes w the trigger context's window.
func (l *windowLogic[K, T, OUT]) setWindow(w TimeWindow) {
	l.winNS = w.AppendNamespace(l.winNS[:0])
	l.tctx.ns = l.winNS
}

// setStateWindow makes w the namespace of the window contents.
func (l *windowLogic[K, T, OUT]) setStateWindow(w TimeWindow) {
	l.stateNS = w.AppendNamespace(l.stateNS[:0])
	l.contents.SetNamespace(l.stateNS)
}

// cleanupTime is when w's state is cleared: MaxTimestamp plus the lateness in event time
// (math.MaxInt64 on overflow: never), MaxTimestamp in processing time.
func (l *windowLogic[K, T, OUT]) cleanupTime(w TimeWindow) int64 {
	if !l.eventTime {
		return w.MaxTimestamp()
	}
	ct := w.MaxTimestamp() + l.lateness
	if ct < w.MaxTimestamp() {
		return math.MaxInt64
	}
	return ct
}

func (l *windowLogic[K, T, OUT]) isWindowLate(w TimeWindow) bool {
	return l.eventTime && l.cleanupTime(w) <= l.op.timers.CurrentWatermark()
}

func (l *windowLogic[K, T, OUT]) registerCleanupTimer(w TimeWindow) error {
	if l.cleanupIsTriggerTimer {
		return nil
	}
	ct := l.cleanupTime(w)
	if ct == math.MaxInt64 {
		return nil
	}
	if l.eventTime {
		return l.tctx.RegisterEventTimeTimer(ct)
	}
	return l.tctx.RegisterProcessingTimeTimer(ct)
}

func (l *windowLogic[K, T, OUT]) deleteCleanupTimer(w TimeWindow) error {
	ct := l.cleanupTime(w)
	if ct == math.MaxInt64 {
		return nil
	}
	if l.eventTime {
		return l.tctx.DeleteEventTimeTimer(ct)
	}
	return l.tctx.DeleteProcessingTimeTimer(ct)
}

func (l *windowLogic[K, T, OUT]) processElement(v T, ts int64) error {
	var now int64
	if !l.eventTime {
		now = l.op.timers.CurrentProcessingTime()
	}
	ws, err := l.assigner.AssignWindows(l.windows[:0], ts, now)
	l.windows = ws
	if err != nil {
		return err
	}
	skipped := true
	if l.merging != nil {
		if skipped, err = l.processMerging(v, ts, ws); err != nil {
			return err
		}
	} else if l.mini != nil {
		if skipped, err = l.buffer(v, ts, ws); err != nil {
			return err
		}
	} else {
		for _, w := range ws {
			if l.isWindowLate(w) {
				continue
			}
			skipped = false
			l.setWindow(w)
			l.contents.SetNamespace(l.winNS)
			if err := l.addAndTrigger(v, ts, w); err != nil {
				return err
			}
		}
	}
	if skipped && l.eventTime && ts+l.lateness <= l.op.timers.CurrentWatermark() {
		if l.late != nil {
			return l.late.collect(v, ts)
		}
		l.dropped++
	}
	return nil
}

// addAndTrigger adds v to the contents (namespace set) of window w (the trigger context's),
// runs the trigger and registers w's cleanup timer.
func (l *windowLogic[K, T, OUT]) addAndTrigger(v T, ts int64, w TimeWindow) error {
	if err := l.contents.add(v); err != nil {
		return err
	}
	res, err := l.trigger.OnElement(v, ts, w, &l.tctx)
	if err != nil {
		return err
	}
	if err := l.apply(res, w); err != nil {
		return err
	}
	return l.registerCleanupTimer(w)
}

// apply fires and/or purges window w, whose contents' namespace is set.
func (l *windowLogic[K, T, OUT]) apply(res TriggerResult, w TimeWindow) error {
	if res.IsFire() {
		key, _ := l.op.kb.CurrentKey()
		if err := l.contents.emit(key, w); err != nil {
			return err
		}
	}
	if res.IsPurge() {
		return l.contents.Clear()
	}
	return nil
}

func (l *windowLogic[K, T, OUT]) processMerging(v T, ts int64, ws []TimeWindow) (skipped bool, err error) {
	ms := l.merging
	if err := ms.load(); err != nil {
		return false, err
	}
	skipped = true
	for _, w := range ws {
		actual, err := ms.addWindow(w, l.mergeFn)
		if err != nil {
			return false, err
		}
		if l.isWindowLate(actual) {
			ms.retire(actual)
			continue
		}
		skipped = false
		sw, ok := ms.stateWindow(actual)
		if !ok {
			return false, fmt.Errorf("stream: window %v has no state window", actual)
		}
		l.setStateWindow(sw)
		l.setWindow(actual)
		if err := l.addAndTrigger(v, ts, actual); err != nil {
			return false, err
		}
	}
	return skipped, ms.persist()
}

// merge is the MergeFunction of processMerging: windows merged into result, and their state
// windows into stateResult.
func (l *windowLogic[K, T, OUT]) merge(result TimeWindow, merged []TimeWindow, stateResult TimeWindow, mergedState []TimeWindow) error {
	if l.eventTime && result.MaxTimestamp()+l.lateness <= l.op.timers.CurrentWatermark() {
		return fmt.Errorf("stream: the end of event-time window %v cannot become earlier than the watermark %d by merging", result, l.op.timers.CurrentWatermark())
	}
	if !l.eventTime && result.MaxTimestamp() <= l.op.timers.CurrentProcessingTime() {
		return fmt.Errorf("stream: the end of processing-time window %v cannot become earlier than the current processing time %d by merging", result, l.op.timers.CurrentProcessingTime())
	}
	l.nsList = l.nsList[:0]
	for _, m := range merged {
		l.nsList = append(l.nsList, m.AppendNamespace(nil))
	}
	l.setWindow(result)
	l.tctx.merged = l.nsList
	err := l.trigger.OnMerge(result, &l.tctx)
	l.tctx.merged = nil
	if err != nil {
		return err
	}
	for _, m := range merged {
		l.setWindow(m)
		if err := l.trigger.Clear(m, &l.tctx); err != nil {
			return err
		}
		if err := l.deleteCleanupTimer(m); err != nil {
			return err
		}
	}
	if len(mergedState) == 0 {
		return nil
	}
	l.nsList = l.nsList[:0]
	for _, m := range mergedState {
		l.nsList = append(l.nsList, m.AppendNamespace(nil))
	}
	return l.contents.MergeNamespaces(stateResult.AppendNamespace(nil), l.nsList)
}

func (l *windowLogic[K, T, OUT]) onTimer(t FiredTimer[K]) error {
	w, err := DecodeTimeWindow(t.Namespace)
	if err != nil {
		return fmt.Errorf("stream: window timer at %d: %w", t.Timestamp, err)
	}
	l.setWindow(w)
	if l.merging != nil {
		if err := l.merging.load(); err != nil {
			return err
		}
		sw, ok := l.merging.stateWindow(w)
		if !ok {
			// The timer of a window that merged away and whose trigger kept a timer: its
			// state is gone already, as Flink.
			return nil
		}
		l.setStateWindow(sw)
	} else {
		l.contents.SetNamespace(l.winNS)
	}
	var res TriggerResult
	if t.Domain == state.EventTime {
		res, err = l.trigger.OnEventTime(t.Timestamp, w, &l.tctx)
	} else {
		res, err = l.trigger.OnProcessingTime(t.Timestamp, w, &l.tctx)
	}
	if err != nil {
		return err
	}
	if err := l.apply(res, w); err != nil {
		return err
	}
	if l.eventTime == (t.Domain == state.EventTime) && t.Timestamp == l.cleanupTime(w) {
		if err := l.clearAllState(w); err != nil {
			return err
		}
	}
	if l.merging != nil {
		return l.merging.persist()
	}
	return nil
}

// clearAllState removes window w for good: its contents, its trigger's state and timers,
// and its entry in the merging window set.
func (l *windowLogic[K, T, OUT]) clearAllState(w TimeWindow) error {
	if err := l.contents.Clear(); err != nil {
		return err
	}
	if err := l.trigger.Clear(w, &l.tctx); err != nil {
		return err
	}
	if l.merging != nil {
		l.merging.retire(w)
	}
	return nil
}

// windowMapping maps an in-flight window of a merging assigner to the window whose
// namespace holds its state, as an entry of Flink's MergingWindowSet.
type windowMapping struct {
	Window, State TimeWindow
}

// mergingWindowSet is Flink's MergingWindowSet for the current key: the in-flight windows
// and their state windows. When windows merge, the merge result keeps the state window of
// one of them, so that only the others' state moves. It is kept in keyed state (so it is
// checkpointed and rescaled with the key), loaded and persisted around each use.
type mergingWindowSet struct {
	assigner MergingWindowAssigner
	st       state.ValueState[[]windowMapping]
	m        []windowMapping
	dirty    bool
	scratch  []TimeWindow
	groups   []mergeGroup
}

type mergeGroup struct {
	result TimeWindow
	merged []TimeWindow
}

func (s *mergingWindowSet) load() error {
	v, _, err := s.st.Value()
	if err != nil {
		return err
	}
	s.m = append(s.m[:0], v...) // the backend may keep v: never modify it
	s.dirty = false
	return nil
}

func (s *mergingWindowSet) persist() error {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	if len(s.m) == 0 {
		return s.st.Clear()
	}
	return s.st.Update(slices.Clone(s.m))
}

func (s *mergingWindowSet) index(w TimeWindow) int {
	for i, m := range s.m {
		if m.Window == w {
			return i
		}
	}
	return -1
}

func (s *mergingWindowSet) stateWindow(w TimeWindow) (TimeWindow, bool) {
	if i := s.index(w); i >= 0 {
		return s.m[i].State, true
	}
	return TimeWindow{}, false
}

// remove removes w and returns its state window.
func (s *mergingWindowSet) remove(w TimeWindow) (TimeWindow, bool) {
	i := s.index(w)
	if i < 0 {
		return TimeWindow{}, false
	}
	sw := s.m[i].State
	s.m = slices.Delete(s.m, i, i+1)
	s.dirty = true
	return sw, true
}

func (s *mergingWindowSet) put(w, sw TimeWindow) {
	if i := s.index(w); i >= 0 {
		s.m[i].State = sw
	} else {
		s.m = append(s.m, windowMapping{Window: w, State: sw})
	}
	s.dirty = true
}

// retire removes w, whose state has been cleared.
func (s *mergingWindowSet) retire(w TimeWindow) { s.remove(w) }

// addWindow adds w, merging it with in-flight windows as the assigner says, and returns the
// window it ended up in. merge is called for every merge, before the set changes further,
// with the result, the windows merged into it, the result's state window and the state
// windows to fold into it.
func (s *mergingWindowSet) addWindow(w TimeWindow, merge func(result TimeWindow, merged []TimeWindow, stateResult TimeWindow, mergedState []TimeWindow) error) (TimeWindow, error) {
	s.scratch = s.scratch[:0]
	for _, m := range s.m {
		s.scratch = append(s.scratch, m.Window)
	}
	s.scratch = append(s.scratch, w)
	s.groups = s.groups[:0]
	s.assigner.MergeWindows(s.scratch, func(merged []TimeWindow, result TimeWindow) {
		s.groups = append(s.groups, mergeGroup{result: result, merged: slices.Clone(merged)})
	})
	result, mergedNew := w, false
	for _, g := range s.groups {
		merged := g.merged
		if i := slices.Index(merged, w); i >= 0 {
			merged = slices.Delete(merged, i, i+1)
			mergedNew, result = true, g.result
		}
		if len(merged) == 0 {
			continue
		}
		target, ok := s.stateWindow(merged[0])
		if !ok {
			return TimeWindow{}, fmt.Errorf("stream: merging window %v is not in the merging window set", merged[0])
		}
		var mergedState []TimeWindow
		for _, m := range merged {
			if sw, ok := s.remove(m); ok && sw != target {
				mergedState = append(mergedState, sw)
			}
		}
		s.put(g.result, target)
		// A window merged into itself without growing has nothing to merge.
		if len(merged) == 1 && merged[0] == g.result {
			continue
		}
		if err := merge(g.result, merged, target, mergedState); err != nil {
			return TimeWindow{}, err
		}
	}
	if !mergedNew && s.index(w) < 0 {
		s.put(w, w) // a new, self-contained window
	}
	return result, nil
}

// windowMappingSerializer encodes a merging window set as 32 bytes per mapping.
type windowMappingSerializer struct{}

func (windowMappingSerializer) ID() string { return "stream.merging-window-set-v1" }

func (windowMappingSerializer) Append(dst []byte, v []windowMapping) ([]byte, error) {
	for _, m := range v {
		dst = m.State.AppendNamespace(m.Window.AppendNamespace(dst))
	}
	return dst, nil
}

func (s windowMappingSerializer) Decode(src []byte) ([]windowMapping, error) {
	const n = 2 * timeWindowNamespaceSize
	if len(src)%n != 0 {
		return nil, fmt.Errorf("%w %s: %d bytes is not a multiple of %d", serde.ErrDecode, s.ID(), len(src), n)
	}
	out := make([]windowMapping, 0, len(src)/n)
	for ; len(src) > 0; src = src[n:] {
		w, _ := DecodeTimeWindow(src[:timeWindowNamespaceSize])
		sw, _ := DecodeTimeWindow(src[timeWindowNamespaceSize:n])
		out = append(out, windowMapping{Window: w, State: sw})
	}
	return out, nil
}
