package stream

import (
	"fmt"
	"iter"
	"time"

	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

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
	var slicing *sliding
	if ws.slicing {
		sl, ok := ws.assigner.(*sliding)
		if !ok || !sl.eventTime || ws.miniBatch == 0 || ws.lateness != 0 {
			panic(fmt.Sprintf("stream: window %q: Slicing needs MiniBatch, sliding event-time windows and no allowed lateness", uid))
		}
		slicing = sl
	}
	if ws.miniBatch == 0 {
		return keyedOperator(ws.ks, uid, windowLogicFactory(ws, reduceContentsFactory(ws, reduce, window)))
	}
	cfg := *ws // later changes to ws do not reach a built operator
	mc := miniBatchConfig[T]{limit: ws.miniBatch, reduce: reduce, ser: ws.ser, slicing: slicing}
	if mc.ser == nil {
		mc.ser = serde.Of[T]()
	}
	newContents := newReduceContents(ws, reduce, window)
	return keyedOperator(ws.ks, uid, func(op *keyedOp[K, T, OUT]) (keyedLogic[K, T], error) {
		rc, err := newContents(op)
		if err != nil {
			return nil, err
		}
		l, err := newWindowLogic(&cfg, op, rc)
		if err != nil {
			return nil, err
		}
		// The batch decorates the operator's path to state and fires from memory with the
		// operator's window function.
		mb, err := newMiniBatch(op, mc, l.ingest, l.eventTime, l.lateness, rc.fire)
		if err != nil {
			return nil, err
		}
		l.setIngest(mb)
		return l, nil
	})
}

// reduceContentsFactory returns the per-subtask constructor of Reduce's window contents.
func reduceContentsFactory[K, T, OUT any](ws *WindowedStream[K, T], reduce func(a, b T) T,
	window func(key K, w TimeWindow, v T, emit func(OUT)) error) func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
	newContents := newReduceContents(ws, reduce, window)
	return func(op *keyedOp[K, T, OUT]) (windowContents[K, T], error) {
		rc, err := newContents(op)
		if err != nil {
			return nil, err
		}
		return rc, nil
	}
}

func newReduceContents[K, T, OUT any](ws *WindowedStream[K, T], reduce func(a, b T) T,
	window func(key K, w TimeWindow, v T, emit func(OUT)) error) func(op *keyedOp[K, T, OUT]) (*reduceContents[K, T, OUT], error) {
	desc := state.ReducingDescriptor[T]{Name: windowContentsState, Serializer: ws.ser,
		Reduce: func(a, b T) (T, error) { return reduce(a, b), nil }}
	return func(op *keyedOp[K, T, OUT]) (*reduceContents[K, T, OUT], error) {
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
