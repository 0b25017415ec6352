package stream

import (
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// KeyedProcessFunction processes the records of a keyed stream one at a time with keyed
// state and timers, as Flink's KeyedProcessFunction. Process creates one instance per
// subtask. It may also implement state.CheckpointedFunction (operator state) and
// state.CheckpointListener.
type KeyedProcessFunction[K, IN, OUT any] interface {
	// Open is called once before the first record; create states here with ctx.State().
	Open(ctx *RuntimeContext[K]) error
	// ProcessElement is called for every record, with its key current.
	ProcessElement(v IN, ctx *Context[K, OUT]) error
	// OnTimer is called for a timer registered through ctx.Timers(), with its key current.
	OnTimer(ts int64, ctx *Context[K, OUT]) error
}

// RuntimeContext is what a function gets in Open.
type RuntimeContext[K any] struct {
	kb          *state.KeyedBackend[K]
	subtask     int
	parallelism int
}

// State creates keyed states: state.GetValueState(ctx.State(), desc) and so on.
func (c *RuntimeContext[K]) State() state.StateCreator { return c.kb }

// Subtask returns the subtask's index and the operator's parallelism.
func (c *RuntimeContext[K]) Subtask() (index, parallelism int) { return c.subtask, c.parallelism }

// Context is what ProcessElement and OnTimer get: the current key, the record's (or the
// timer's) timestamp, timers, and the outputs.
type Context[K, OUT any] struct {
	kb     *state.KeyedBackend[K]
	timers *InternalTimerService[K]
	out    output[OUT]
	sides  map[string]output[any]
	ts     int64
	domain state.TimeDomain
}

// Key returns the current key.
func (c *Context[K, OUT]) Key() K {
	k, _ := c.kb.CurrentKey()
	return k
}

// Timestamp is the record's event timestamp, or the timer's time in OnTimer.
func (c *Context[K, OUT]) Timestamp() int64 { return c.ts }

// TimeDomain is the domain of the timer that fired (in OnTimer).
func (c *Context[K, OUT]) TimeDomain() state.TimeDomain { return c.domain }

// CurrentWatermark is the operator's event-time watermark.
func (c *Context[K, OUT]) CurrentWatermark() int64 { return c.timers.CurrentWatermark() }

// CurrentProcessingTime is the job clock's time in milliseconds.
func (c *Context[K, OUT]) CurrentProcessingTime() int64 { return c.timers.CurrentProcessingTime() }

// RegisterEventTimeTimer registers a timer of the current key that fires when the watermark
// passes ts; registering the same time twice gives one timer.
func (c *Context[K, OUT]) RegisterEventTimeTimer(ts int64) error {
	return c.timers.RegisterEventTimeTimer(nil, ts)
}

// DeleteEventTimeTimer deletes the current key's event-time timer at ts, if any.
func (c *Context[K, OUT]) DeleteEventTimeTimer(ts int64) error {
	return c.timers.DeleteEventTimeTimer(nil, ts)
}

// RegisterProcessingTimeTimer registers a processing-time timer of the current key.
func (c *Context[K, OUT]) RegisterProcessingTimeTimer(ts int64) error {
	return c.timers.RegisterProcessingTimeTimer(nil, ts)
}

// DeleteProcessingTimeTimer deletes the current key's processing-time timer at ts, if any.
func (c *Context[K, OUT]) DeleteProcessingTimeTimer(ts int64) error {
	return c.timers.DeleteProcessingTimeTimer(nil, ts)
}

// Collect emits v with the context's timestamp.
func (c *Context[K, OUT]) Collect(v OUT) error { return c.out.collect(v, c.ts) }

// CollectAt emits v with timestamp ts.
func (c *Context[K, OUT]) CollectAt(v OUT, ts int64) error { return c.out.collect(v, ts) }

// Output emits v to the side output tag.
func (c *Context[K, OUT]) Output(tag string, v any) error {
	if o, ok := c.sides[tag]; ok {
		return o.collect(v, c.ts)
	}
	return nil // nobody reads this side output
}

// Process applies fn to a keyed stream. newFn is called once per subtask; uid names the
// operator in checkpoints.
func Process[K, IN, OUT any](ks *KeyedStream[K, IN], uid string, newFn func() KeyedProcessFunction[K, IN, OUT]) *Stream[OUT] {
	return keyedOperator(ks, uid, func(op *keyedOp[K, IN, OUT]) (keyedLogic[K, IN], error) {
		fn := newFn()
		if err := op.member.initializeFunction(fn); err != nil {
			return nil, err
		}
		if err := fn.Open(&RuntimeContext[K]{kb: op.kb, subtask: op.t.index, parallelism: op.t.parallelism}); err != nil {
			return nil, err
		}
		return &processLogic[K, IN, OUT]{fn: fn, ctx: op.context()}, nil
	})
}

type processLogic[K, IN, OUT any] struct {
	fn  KeyedProcessFunction[K, IN, OUT]
	ctx *Context[K, OUT]
}

func (p *processLogic[K, IN, OUT]) processElement(v IN, ts int64) error {
	p.ctx.ts, p.ctx.domain = ts, state.EventTime
	return p.fn.ProcessElement(v, p.ctx)
}

func (p *processLogic[K, IN, OUT]) onTimer(t FiredTimer[K]) error {
	p.ctx.ts, p.ctx.domain = t.Timestamp, t.Domain
	return p.fn.OnTimer(t.Timestamp, p.ctx)
}

// keyedLogic is what a keyed operator does with records and timers; the current key is set
// before each call.
type keyedLogic[K, IN any] interface {
	processElement(v IN, ts int64) error
	onTimer(t FiredTimer[K]) error
}

// keyedOp is the head of a keyed vertex: it owns the subtask's keyed state backend and timer
// service and drives a keyedLogic (a process function or a window operator).
type keyedOp[K, IN, OUT any] struct {
	t      *task
	member *member
	kb     *state.KeyedBackend[K]
	timers *InternalTimerService[K]
	key    func(IN) K
	out    output[OUT]
	sides  map[string]output[any]
	logic  keyedLogic[K, IN]
	// clock is the keyed backend's TTL clock, whose event time the operator sets (the
	// member's); nil when an operator is built without a task (unit tests): no event time.
	clock *backend.Clock
	// flush, if set, writes what the logic buffers into state before a checkpoint;
	// flushBeforeWatermark what the watermark may fire.
	flush                func() error
	flushBeforeWatermark func(wm int64) error
}

// context returns a Context of this operator.
func (op *keyedOp[K, IN, OUT]) context() *Context[K, OUT] {
	return &Context[K, OUT]{kb: op.kb, timers: op.timers, out: op.out, sides: op.sides}
}

// processRecord processes record v, whose serialized key (nil if not carried) and key
// group the partitioner that routed it computed as raw and kg: the key selector runs again,
// but neither the hash nor the serializer. A key group outside the subtask's range fails
// with backend.ErrKeyGroupNotOwned.
func (op *keyedOp[K, IN, OUT]) processRecord(v IN, ts int64, raw []byte, kg int) error {
	if err := op.kb.SetCurrentKeyRouted(op.key(v), raw, kg); err != nil {
		return err
	}
	// What event-time TTL states write for the record is stamped with its timestamp; outside
	// records and timers (SnapshotState, end of input) with the watermark. NoTimestamp is
	// math.MinInt64: none.
	op.setTimestamp(ts)
	err := op.logic.processElement(v, ts)
	op.setTimestamp(NoTimestamp)
	return err
}

func (op *keyedOp[K, IN, OUT]) processWatermark(wm int64) error {
	if op.flushBeforeWatermark != nil { // buffered records of the windows wm fires
		if err := op.flushBeforeWatermark(wm); err != nil {
			return err
		}
	}
	// Event-time TTL judges state by the watermark from here on, also in the timers it fires:
	// a state stamped at ts has expired in every timer at or after ts+TTL.
	if op.clock != nil {
		op.clock.AdvanceWatermark(wm)
	}
	if err := op.timers.AdvanceWatermark(wm); err != nil {
		return err
	}
	for _, o := range op.sides {
		if err := o.watermark(wm); err != nil {
			return err
		}
	}
	return op.out.watermark(wm)
}

// onTimer fires ft: what event-time TTL states write in it is stamped with an event-time
// timer's timestamp, and with the watermark in a processing-time timer.
func (op *keyedOp[K, IN, OUT]) onTimer(ft FiredTimer[K]) error {
	ts := int64(NoTimestamp)
	if ft.Domain == state.EventTime {
		ts = ft.Timestamp
	}
	op.setTimestamp(ts)
	err := op.logic.onTimer(ft)
	op.setTimestamp(NoTimestamp)
	return err
}

// setTimestamp sets the event time event-time TTL states stamp writes with.
func (op *keyedOp[K, IN, OUT]) setTimestamp(ts int64) {
	if op.clock != nil {
		op.clock.SetTimestamp(ts)
	}
}

func (op *keyedOp[K, IN, OUT]) processingTime() (int64, bool, error) {
	if err := op.timers.AdvanceProcessingTime(); err != nil {
		return 0, false, err
	}
	return op.timers.NextProcessingTime()
}

// keyedOperator adds a keyed vertex fed by ks whose logic newLogic creates per subtask.
func keyedOperator[K, IN, OUT any](ks *KeyedStream[K, IN], uid string, newLogic func(op *keyedOp[K, IN, OUT]) (keyedLogic[K, IN], error)) *Stream[OUT] {
	g := ks.s.g
	g.claimUID(uid)
	v := g.addVertex(uid, ks.s.v)
	e := &edge[IN]{}
	v.connect = e.connect
	ks.s.addConsumer(func(t *task) (output[IN], error) {
		return newPartitioner(e, t, ks.key, ks.ser), nil
	})
	out := newStream[OUT](g, v)
	v.instantiate = func(t *task) error {
		m, err := t.addMember(t.job.ctx, uid, ks.ser.ID(), serde.AliasIDs(ks.ser))
		if err != nil {
			return err
		}
		kb, err := state.NewKeyedBackend(m.keyed, ks.ser)
		if err != nil {
			return fmt.Errorf("operator %q: %w", uid, err)
		}
		next, err := out.outputFor(t)
		if err != nil {
			return err
		}
		op := &keyedOp[K, IN, OUT]{t: t, member: m, kb: kb, key: ks.key, out: next, sides: map[string]output[any]{}, clock: m.clock}
		for tag, build := range g.sides[out] {
			o, err := build(t)
			if err != nil {
				return err
			}
			op.sides[tag] = o
		}
		op.timers, err = NewInternalTimerService(uid, kb, t.job.clock, TriggerFunc[K](op.onTimer))
		if err != nil {
			return fmt.Errorf("operator %q: %w", uid, err)
		}
		if op.logic, err = newLogic(op); err != nil {
			return fmt.Errorf("operator %q subtask %d: %w", uid, t.index, err)
		}
		m.beforeSnapshot = op.flush
		t.run = func() error { return runInputs[IN](t, e, op) }
		return nil
	}
	return out
}

// SideOutput returns the records that the operator producing s emits to tag (for example
// the late records of a window); they must be of type T. Watermarks reach it as they reach s.
func SideOutput[T, U any](s *Stream[U], tag string) *Stream[T] {
	side := newStream[T](s.g, s.v)
	m := s.g.sides[s]
	if m == nil {
		m = map[string]func(t *task) (output[any], error){}
		s.g.sides[s] = m
	}
	m[tag] = func(t *task) (output[any], error) {
		o, err := side.outputFor(t)
		return anyOutput[T]{o}, err
	}
	return side
}

// anyOutput adapts an output[T] to a side output, whose records arrive as any.
type anyOutput[T any] struct{ o output[T] }

func (a anyOutput[T]) collect(v any, ts int64) error {
	tv, ok := v.(T)
	if !ok {
		return fmt.Errorf("stream: a side output read as %T got a %T", *new(T), v)
	}
	return a.o.collect(tv, ts)
}

func (a anyOutput[T]) watermark(wm int64) error { return a.o.watermark(wm) }
