package stream

import (
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/streamstate/streamstate/state"
)

// This file is Flink's window operator (WindowOperator): a keyed operator that assigns every
// record to windows, keeps each window's contents in keyed state namespaced by the window,
// and emits a window's result when its trigger fires. Windows are TimeWindows; merging
// assigners (session windows) keep Flink's MergingWindowSet per key.

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
	return c.fire(key, w, v)
}

// fire calls the window function on value v of window w, wherever v was reduced.
func (c *reduceContents[K, T, OUT]) fire(key K, w TimeWindow, v T) error {
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
// contents newContents creates; records reach the contents through the default stateIngest.
func windowLogicFactory[K, T, OUT any](ws *WindowedStream[K, T],
	newContents func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error)) func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
	cfg := *ws // later changes to ws do not reach a built operator
	return func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
		contents, err := newContents(op)
		if err != nil {
			return nil, err
		}
		return newWindowLogic(&cfg, op, contents)
	}
}

// newWindowLogic returns the window operator of cfg for the subtask of op, keeping window
// contents in contents. Records of non-merging windows reach the contents through
// stateIngest, which setIngest may replace by a decorator of it.
func newWindowLogic[K, T, OUT any](cfg *WindowedStream[K, T], op *keyedOp[K, T, OUT], contents windowContents[K, T]) (*windowLogic[K, T, OUT], error) {
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
	l.setIngest(stateIngest[K, T, OUT]{l})
	return l, nil
}

// windowIngest is how the window operator puts a record into the contents of its windows
// (non-merging assigners): the operator assigns the windows, drops the late ones and counts
// or side-outputs a record with none left; the windowIngest holds the rest. The default,
// stateIngest, adds to the windows' keyed state and runs their trigger at once; MiniBatch
// decorates it with an in-memory pre-aggregation (miniBatch) that reaches state through it.
// The operator calls the hooks at the points where what the windowIngest holds must be
// visible: before a watermark advances the timers and before a checkpoint snapshots state.
type windowIngest[T any] interface {
	// ingest takes v, of timestamp ts, for windows ws of the current key, none of them late;
	// ws may be empty, and is valid only during the call.
	ingest(v T, ts int64, ws []TimeWindow) error
	// beforeWatermark runs before watermark wm reaches the operator's timers: the windows it
	// passes must fire, from the windowIngest or from state by their timers.
	beforeWatermark(wm int64) error
	// beforeSnapshot runs before the synchronous phase of a checkpoint: what the windowIngest
	// holds must be in the operator's keyed or operator state.
	beforeSnapshot() error
}

// stateIngest is the default windowIngest: a record goes straight to the keyed state of each
// of its windows, whose trigger then runs; nothing is held.
type stateIngest[K, T, OUT any] struct{ l *windowLogic[K, T, OUT] }

func (s stateIngest[K, T, OUT]) ingest(v T, ts int64, ws []TimeWindow) error {
	for _, w := range ws {
		s.l.setWindow(w)
		s.l.contents.SetNamespace(s.l.winNS)
		if err := s.l.addAndTrigger(v, ts, w); err != nil {
			return err
		}
	}
	return nil
}

func (stateIngest[K, T, OUT]) beforeWatermark(int64) error { return nil }
func (stateIngest[K, T, OUT]) beforeSnapshot() error       { return nil }

// setIngest makes in the path of records to non-merging windows and hooks it to the
// operator's watermarks and checkpoints.
func (l *windowLogic[K, T, OUT]) setIngest(in windowIngest[T]) {
	l.ingest = in
	l.op.flush, l.op.flushBeforeWatermark = in.beforeSnapshot, in.beforeWatermark
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
	// ingest puts records into non-merging windows: stateIngest, or a decorator of it.
	ingest windowIngest[T]
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
	} else {
		live := ws[:0] // ws is scratch: keep the windows that are not late in place
		for _, w := range ws {
			if !l.isWindowLate(w) {
				live = append(live, w)
			}
		}
		skipped = len(live) == 0
		if err := l.ingest.ingest(v, ts, live); err != nil {
			return err
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
