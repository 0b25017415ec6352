package stream

import (
	"math"
	"slices"

	"github.com/streamstate/streamstate/state"
)

// miniBatch is the in-memory pre-aggregation of a reduce window (WindowedStream.MiniBatch):
// per serialized key, the windows it has records in, each with the records folded so far.
//
// A pair is written to state when its window is about to fire (before the watermark that
// passes its end), before a checkpoint, or when the batch holds limit values. A pair that
// never reached state fires straight from memory, without touching state or timers: with a
// large enough batch most windows never touch the state backend at all. To know which pairs
// may have state, a pair written to state stays in memory without a value ("stateful") until
// its window fires; when too many such pairs pile up, they are dropped and their windows
// marked unsure (every pair of an unsure window goes through state). A checkpoint records
// the windows that may have state in union operator state, and a restored operator treats
// them as unsure. Without allowed lateness only: a window's state lives until it fires once.
type miniBatch[K, T any] struct {
	limit  int
	reduce func(a, b T) T
	m      map[string]*miniKey[T]
	// values is the number of pairs holding a value; pairs that of all pairs held.
	values, pairs int
	// direct says that pairs may fire from memory (no allowed lateness, and operator state
	// to checkpoint the unsure windows in).
	direct bool
	unsure map[TimeWindow]bool
	// stateful holds the windows that may have state, across checkpoints.
	stateful state.OperatorListState[TimeWindow]
	fire     func(key K, w TimeWindow, v T) error
}

type miniKey[T any] struct {
	raw  []byte
	wins []miniWin[T]
}

type miniWin[T any] struct {
	w        TimeWindow
	v        T
	ts       int64 // the latest record's timestamp, for the trigger
	has      bool  // v holds records not yet in state
	stateful bool  // the pair may have state
}

// maxStatefulFactor bounds the value-less pairs kept to know which pairs have state, as a
// multiple of the batch size.
const maxStatefulFactor = 8

var statefulWindowsDescriptor = state.ListDescriptor[TimeWindow]{Name: "mini-batch-stateful-windows"}

// startMiniBatch turns on pre-aggregation with reduce for this window operator.
func (l *windowLogic[K, T, OUT]) startMiniBatch(limit int, reduce func(a, b T) T) error {
	mb := &miniBatch[K, T]{limit: limit, reduce: reduce, m: map[string]*miniKey[T]{}, unsure: map[TimeWindow]bool{}}
	rc, isReduce := l.contents.(*reduceContents[K, T, OUT])
	if m := l.op.member; m != nil && isReduce && l.lateness == 0 && l.eventTime {
		st, err := state.GetUnionListState(m.ops, statefulWindowsDescriptor)
		if err != nil {
			return err
		}
		for w, err := range st.Get() {
			if err != nil {
				return err
			}
			mb.unsure[w] = true
		}
		mb.stateful, mb.direct = st, true
		mb.fire = func(key K, w TimeWindow, v T) error {
			rc.em.start(w)
			return rc.em.done(rc.fn(key, w, v, rc.em.fn))
		}
	}
	l.mini = mb
	l.op.flush, l.op.flushBeforeWatermark = l.flushMiniBatch, l.fireMiniBatch
	return nil
}

// buffer folds v into the pairs of its windows.
func (l *windowLogic[K, T, OUT]) buffer(v T, ts int64, ws []TimeWindow) (skipped bool, err error) {
	mb := l.mini
	raw, _, _ := l.op.kb.CurrentKeyBytes()
	e := mb.m[string(raw)]
	skipped = true
next:
	for _, w := range ws {
		if l.isWindowLate(w) {
			continue
		}
		skipped = false
		if e == nil {
			e = &miniKey[T]{raw: slices.Clone(raw)}
			mb.m[string(e.raw)] = e
		}
		for i := range e.wins {
			if mw := &e.wins[i]; mw.w == w {
				if mw.has {
					mw.v, mw.ts = mb.reduce(mw.v, v), max(mw.ts, ts)
				} else {
					mw.v, mw.ts, mw.has = v, ts, true
					mb.values++
				}
				continue next
			}
		}
		e.wins = append(e.wins, miniWin[T]{w: w, v: v, ts: ts, has: true, stateful: !mb.direct || mb.unsure[w]})
		mb.values++
		mb.pairs++
	}
	if mb.values >= mb.limit {
		return skipped, l.writeMiniBatch()
	}
	return skipped, nil
}

// writeMiniBatch writes every value to state (running the trigger of each pair as if it
// were one record); the pairs stay, without a value, as stateful.
func (l *windowLogic[K, T, OUT]) writeMiniBatch() error {
	mb := l.mini
	for k, e := range mb.m {
		keySet := false
		for i := range e.wins {
			mw := &e.wins[i]
			if !mw.has {
				continue
			}
			if !keySet {
				if err := l.op.kb.SetCurrentKeyBytes(e.raw); err != nil {
					return err
				}
				keySet = true
			}
			if err := l.writePair(mw); err != nil {
				return err
			}
		}
		if !mb.direct { // nothing to remember: pairs always go through state
			delete(mb.m, k)
			mb.pairs -= len(e.wins)
		}
	}
	mb.values = 0
	if mb.pairs > maxStatefulFactor*mb.limit {
		for k, e := range mb.m { // forget the pairs, remember their windows
			for _, mw := range e.wins {
				mb.unsure[mw.w] = true
			}
			delete(mb.m, k)
		}
		mb.pairs = 0
	}
	return nil
}

// writePair adds the value of mw (of the current key) to state and runs the trigger.
func (l *windowLogic[K, T, OUT]) writePair(mw *miniWin[T]) error {
	l.setWindow(mw.w)
	l.contents.SetNamespace(l.winNS)
	if err := l.addAndTrigger(mw.v, mw.ts, mw.w); err != nil {
		return err
	}
	var zero T
	mw.v, mw.has, mw.stateful = zero, false, true
	return nil
}

// flushMiniBatch runs before a checkpoint's synchronous phase: every value goes to state, and
// the windows that may have state are recorded for a restore.
func (l *windowLogic[K, T, OUT]) flushMiniBatch() error {
	mb := l.mini
	if err := l.writeMiniBatch(); err != nil {
		return err
	}
	if !mb.direct {
		return nil
	}
	ws := map[TimeWindow]bool{}
	for w := range mb.unsure {
		ws[w] = true
	}
	for _, e := range mb.m {
		for _, mw := range e.wins {
			ws[mw.w] = true
		}
	}
	list := make([]TimeWindow, 0, len(ws))
	for w := range ws {
		list = append(list, w)
	}
	return mb.stateful.Update(list)
}

// fireMiniBatch runs before watermark wm reaches the window operator: the pairs of the windows
// it fires either fire here, from memory, or have their value written to state, whose timer
// fires them right after.
func (l *windowLogic[K, T, OUT]) fireMiniBatch(wm int64) error {
	mb := l.mini
	for k, e := range mb.m {
		keySet := false
		kept := e.wins[:0]
		for i := range e.wins {
			mw := &e.wins[i]
			if mw.w.MaxTimestamp() > wm {
				kept = append(kept, *mw)
				continue
			}
			mb.pairs--
			if !mw.has {
				continue // in state, fired by its timer
			}
			mb.values--
			if !keySet {
				if err := l.op.kb.SetCurrentKeyBytes(e.raw); err != nil {
					return err
				}
				keySet = true
			}
			if mw.stateful {
				if err := l.writePair(mw); err != nil {
					return err
				}
				continue
			}
			key, _ := l.op.kb.CurrentKey()
			if err := mb.fire(key, mw.w, mw.v); err != nil {
				return err
			}
		}
		clear(e.wins[len(kept):])
		e.wins = kept
		if len(kept) == 0 {
			delete(mb.m, k)
		}
	}
	for w := range mb.unsure {
		if w.MaxTimestamp() <= wm && wm != math.MinInt64 {
			delete(mb.unsure, w)
		}
	}
	return nil
}
