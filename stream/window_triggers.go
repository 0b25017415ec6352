package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/state"
)

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
