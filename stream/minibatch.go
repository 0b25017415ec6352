package stream

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// miniBatch is the in-memory pre-aggregation of a reduce window (WindowedStream.MiniBatch):
// per serialized key, the windows it has records in, each with the records folded so far.
//
// A pair is written to state when its window is about to fire (before the watermark that
// passes its end) or when the batch holds limit values. A pair that never reached state
// fires straight from memory, without touching state or timers: with a large enough batch
// most windows never touch the state backend at all. To know which pairs may have state, a
// pair written to state stays in memory without a value ("stateful") until its window fires;
// when too many such pairs pile up, they are dropped and their windows marked unsure (every
// pair of an unsure window goes through state). Without allowed lateness only: a window's
// state lives until it fires once.
//
// A checkpoint does not write the batch to keyed state (a read, a write and a timer per
// pair): it copies the pending values, serialized, into union operator state, with the
// windows that may have state. A restored subtask takes back the values of the key groups it
// owns, at any parallelism, and treats the windows that may have state as unsure. Without
// operator state (or with allowed lateness) the batch goes to keyed state before every
// checkpoint instead.
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
	// stateful holds the windows that may have state, across checkpoints; checkpointed the
	// pending values.
	stateful     state.OperatorListState[TimeWindow]
	checkpointed state.OperatorListState[*miniPair]
	ser          serde.Serializer[T]
	fire         func(key K, w TimeWindow, v T) error
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

// The operator states of a mini-batch window: the windows that may have keyed state, and
// the batch's pending pairs (miniPairState, with the window's value serializer).
const (
	miniStatefulWindowsState = "mini-batch-stateful-windows"
	miniPairsState           = "mini-batch-pairs"
)

// startMiniBatch turns on pre-aggregation with reduce for this window operator, whose state
// serializer is ser; a restored operator takes back its checkpointed batch.
func (l *windowLogic[K, T, OUT]) startMiniBatch(limit int, reduce func(a, b T) T, ser serde.Serializer[T]) error {
	mb := &miniBatch[K, T]{limit: limit, reduce: reduce, m: map[string]*miniKey[T]{}, unsure: map[TimeWindow]bool{}, ser: ser}
	l.mini = mb
	l.op.flush, l.op.flushBeforeWatermark = l.flushMiniBatch, l.fireMiniBatch
	rc, isReduce := l.contents.(*reduceContents[K, T, OUT])
	m := l.op.member
	if m == nil || !isReduce || l.lateness != 0 || !l.eventTime {
		return nil
	}
	st, err := state.GetUnionListState(m.ops, state.ListDescriptor[TimeWindow]{Name: miniStatefulWindowsState})
	if err != nil {
		return err
	}
	for w, err := range st.Get() {
		if err != nil {
			return err
		}
		mb.unsure[w] = true
	}
	pairs, err := state.GetUnionListState(m.ops, state.ListDescriptor[*miniPair]{Name: miniPairsState, Serializer: miniPairSerializer{value: ser.ID()}})
	if err != nil {
		return err
	}
	mb.stateful, mb.checkpointed, mb.direct = st, pairs, true
	mb.fire = func(key K, w TimeWindow, v T) error {
		rc.em.start(w)
		return rc.em.done(rc.fn(key, w, v, rc.em.fn))
	}
	for p, err := range pairs.Get() { // every subtask's pairs: keep those of our key groups
		if err != nil {
			return err
		}
		if !l.op.t.kgRange.Contains(keygroup.Of(p.key, l.op.t.job.maxP)) {
			continue
		}
		v, err := ser.Decode(p.value)
		if err != nil {
			return fmt.Errorf("window %s: restore mini-batch pair of window %v: %w", m.uid, p.w, err)
		}
		mb.add(p.key, p.w, v, p.ts)
	}
	return nil
}

// add folds v, of timestamp ts, into the pair of serialized key raw and window w.
func (mb *miniBatch[K, T]) add(raw []byte, w TimeWindow, v T, ts int64) {
	e := mb.m[string(raw)]
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
			return
		}
	}
	e.wins = append(e.wins, miniWin[T]{w: w, v: v, ts: ts, has: true, stateful: !mb.direct || mb.unsure[w]})
	mb.values++
	mb.pairs++
}

// buffer folds v into the pairs of its windows.
func (l *windowLogic[K, T, OUT]) buffer(v T, ts int64, ws []TimeWindow) (skipped bool, err error) {
	mb := l.mini
	raw, _, _ := l.op.kb.CurrentKeyBytes()
	skipped = true
	for _, w := range ws {
		if l.isWindowLate(w) {
			continue
		}
		skipped = false
		mb.add(raw, w, v, ts)
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

// flushMiniBatch runs before a checkpoint's synchronous phase: the pending values, serialized,
// and the windows that may have state go to operator state (without operator state, the
// values go to keyed state).
func (l *windowLogic[K, T, OUT]) flushMiniBatch() error {
	mb := l.mini
	if !mb.direct {
		return l.writeMiniBatch()
	}
	ws := map[TimeWindow]bool{}
	for w := range mb.unsure {
		ws[w] = true
	}
	pairs := make([]miniPair, 0, mb.values)
	var buf []byte
	for _, e := range mb.m {
		for _, mw := range e.wins {
			if mw.stateful {
				ws[mw.w] = true
			}
			if !mw.has {
				continue
			}
			start := len(buf)
			var err error
			if buf, err = mb.ser.Append(buf, mw.v); err != nil {
				return fmt.Errorf("window %s: checkpoint mini-batch pair of window %v: %w", l.op.member.uid, mw.w, err)
			}
			// buf may move as it grows; earlier values keep the array they were written to.
			pairs = append(pairs, miniPair{key: e.raw, w: mw.w, ts: mw.ts, value: buf[start:len(buf):len(buf)]})
		}
	}
	ptrs := make([]*miniPair, len(pairs))
	for i := range pairs {
		ptrs[i] = &pairs[i]
	}
	if err := mb.checkpointed.Update(ptrs); err != nil {
		return err
	}
	return mb.stateful.Update(slices.Collect(func(yield func(TimeWindow) bool) {
		for w := range ws {
			if !yield(w) {
				return
			}
		}
	}))
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

// miniPair is a pending pair of a mini-batch as a checkpoint holds it. The operator state
// backend keeps it until the snapshot's asynchronous phase: its slices are never changed.
type miniPair struct {
	key   []byte // the serialized key
	w     TimeWindow
	ts    int64  // the latest record's timestamp
	value []byte // the folded value, serialized with the window's state serializer
}

// miniPairSerializer encodes a miniPair: uvarint length and key, window start and end and
// timestamp (8 bytes each, big-endian), uvarint length and value. Its identity includes the
// value serializer's, so a restore with another one fails naming both.
type miniPairSerializer struct{ value string }

func (s miniPairSerializer) ID() string { return "mini-batch-pair/v1(" + s.value + ")" }

func (s miniPairSerializer) Append(dst []byte, p *miniPair) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(p.key)))
	dst = append(dst, p.key...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.w.Start))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.w.End))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.ts))
	dst = binary.AppendUvarint(dst, uint64(len(p.value)))
	return append(dst, p.value...), nil
}

func (s miniPairSerializer) Decode(src []byte) (*miniPair, error) {
	fail := func(what string) (*miniPair, error) {
		return nil, fmt.Errorf("%w %s: %s", serde.ErrDecode, s.ID(), what)
	}
	bytesField := func() ([]byte, bool) {
		n, w := binary.Uvarint(src)
		if w <= 0 || w != uvarintLen(n) || n > uint64(len(src)-w) {
			return nil, false
		}
		b := src[w : w+int(n) : w+int(n)]
		src = src[w+int(n):]
		return b, true
	}
	p := &miniPair{}
	var ok bool
	if p.key, ok = bytesField(); !ok {
		return fail("bad key length")
	}
	if len(src) < 24 {
		return fail(fmt.Sprintf("window and timestamp need 24 bytes, have %d", len(src)))
	}
	p.w = TimeWindow{Start: int64(binary.BigEndian.Uint64(src)), End: int64(binary.BigEndian.Uint64(src[8:]))}
	p.ts = int64(binary.BigEndian.Uint64(src[16:]))
	src = src[24:]
	if p.value, ok = bytesField(); !ok {
		return fail("bad value length")
	}
	if len(src) != 0 {
		return fail(fmt.Sprintf("%d trailing bytes", len(src)))
	}
	return p, nil
}

// uvarintLen is the length of n's shortest uvarint encoding, the only one Decode accepts.
func uvarintLen(n uint64) int {
	return len(binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64), n))
}
