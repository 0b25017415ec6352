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

// miniBatch is the in-memory pre-aggregation of a reduce window (WindowedStream.MiniBatch),
// a windowIngest that decorates the window operator's path to keyed state (inner): per
// serialized key, the units it has records in, each with the records folded so far. A unit
// is a window, or with slicing (WindowedStream.Slicing, sliding windows) a slice: the gcd of
// size and slide, so that a record folds into one slice instead of size/slide windows and a
// window's value is the fold of its slices (Flink SQL's slicing windows).
//
// A window fires straight from memory when the watermark passes its end: no state, no timer.
// When the batch holds limit values, every value is written to the windows' keyed state
// ("spilled") through inner, which runs the trigger as for one record, and those (key,
// window) pairs are remembered as stateful: when such a window fires, the values gathered in
// memory since are added to its state through inner and its timer fires it. When too many
// stateful pairs pile up they are forgotten and their windows marked unsure (every pair of an
// unsure window goes through state). Without allowed lateness only: a window's state lives
// until it fires once.
//
// A checkpoint does not write the batch to keyed state (a read, a write and a timer per
// pair): it copies the pending values, serialized, into union operator state, with the
// windows that may have state. A restored subtask takes back the values of the key groups it
// owns, at any parallelism, and treats the windows that may have state as unsure. Without
// operator state (or with allowed lateness) every pair goes through state: the batch is
// written to keyed state before every checkpoint, and windows fire by their timers.
type miniBatch[K, T any] struct {
	// inner is the operator's path to the keyed state of windows, which the batch decorates.
	inner  windowIngest[T]
	kb     *state.KeyedBackend[K]
	uid    string // the operator's, for errors
	limit  int
	reduce func(a, b T) T
	m      map[string]*miniKey[K, T]
	// values is the number of units held; stateful the number of stateful pairs.
	values, stateful int
	// slice is the length of a slice with slicing (windows of size starting every slide at
	// offset), else 0: units are windows.
	slice, size, slide, offset int64
	// direct says that windows may fire from memory (no allowed lateness, and operator
	// state to checkpoint the batch in).
	direct bool
	// lastWM is the last watermark fired: a new key's windows up to it are done.
	lastWM int64
	unsure map[TimeWindow]bool
	// unsureState holds the windows that may have state, across checkpoints; pending the
	// values.
	unsureState state.OperatorListState[TimeWindow]
	pending     state.OperatorListState[*miniPair]
	ser         serde.Serializer[T]
	// fire calls the window function on a window's value folded in memory (direct only).
	fire func(key K, w TimeWindow, v T) error
	wins []TimeWindow  // scratch
	one  [1]TimeWindow // scratch: the window of a value spilled through inner
}

// miniBatchConfig is what Reduce configures of a mini-batch.
type miniBatchConfig[T any] struct {
	// limit is the most values held (WindowedStream.MiniBatch).
	limit int
	// reduce folds two values, as the window's reduce function.
	reduce func(a, b T) T
	// ser is the serializer of the window's state, which checkpoints the pending values.
	ser serde.Serializer[T]
	// slicing is the sliding assigner whose windows fold by slice (WindowedStream.Slicing),
	// nil to fold by window.
	slicing *sliding
}

// miniKey is what a mini-batch holds of one key. raw is the serialized key, a copy that is
// never written to; key and kg, when keyOK, are the key and its key group as the record that
// made the entry had them current, so that making the key current again neither decodes,
// serializes nor hashes it (a key restored from a checkpoint has them once it was current).
type miniKey[K, T any] struct {
	raw   []byte
	key   K
	kg    int
	keyOK bool
	units []miniUnit[T] // by start
	// fired: the key's windows ending at or before this watermark are done (direct only).
	fired int64
	// stateful are the key's windows that may have keyed state and have not fired.
	stateful []TimeWindow
}

type miniUnit[T any] struct {
	u  TimeWindow // a window, or a slice
	v  T
	ts int64 // the latest record's timestamp, for the trigger
}

// maxStatefulFactor bounds the stateful pairs remembered, as a multiple of the batch size.
const maxStatefulFactor = 8

// The operator states of a mini-batch window: the windows that may have keyed state, and
// the batch's pending values, by window or by slice (with the window's value serializer).
const (
	miniStatefulWindowsState = "mini-batch-stateful-windows"
	miniPairsState           = "mini-batch-pairs"
	miniSlicesState          = "mini-batch-slices"
)

// newMiniBatch returns the mini-batch of cfg for the window operator of op (event time or
// not, with allowed lateness lateness), decorating inner, the operator's path to the keyed
// state of windows; fire calls the window function on a value folded in memory. A restored
// operator takes back its checkpointed batch.
func newMiniBatch[K, T, OUT any](op *keyedOp[K, T, OUT], cfg miniBatchConfig[T], inner windowIngest[T], eventTime bool, lateness int64,
	fire func(key K, w TimeWindow, v T) error) (*miniBatch[K, T], error) {
	mb := &miniBatch[K, T]{inner: inner, kb: op.kb, limit: cfg.limit, reduce: cfg.reduce, m: map[string]*miniKey[K, T]{},
		unsure: map[TimeWindow]bool{}, ser: cfg.ser, lastWM: math.MinInt64}
	m := op.member
	if m == nil || lateness != 0 || !eventTime {
		if cfg.slicing != nil {
			return nil, fmt.Errorf("window: slicing needs event time, no allowed lateness and operator state")
		}
		return mb, nil
	}
	mb.uid = m.uid
	pendingName := miniPairsState
	if sl := cfg.slicing; sl != nil {
		mb.size, mb.slide, mb.offset, mb.slice = sl.size, sl.slide, sl.offset, gcd(sl.size, sl.slide)
		pendingName = miniSlicesState
	}
	st, err := state.GetUnionListState(m.ops, miniWindowsDescriptor)
	if err != nil {
		return nil, err
	}
	for w, err := range st.Get() {
		if err != nil {
			return nil, err
		}
		mb.unsure[w] = true
	}
	pending, err := state.GetUnionListState(m.ops, state.ListDescriptor[*miniPair]{Name: pendingName, Serializer: miniPairSerializer{value: cfg.ser.ID(), aliases: serde.AliasIDs(cfg.ser)}})
	if err != nil {
		return nil, err
	}
	mb.unsureState, mb.pending, mb.direct, mb.fire = st, pending, true, fire
	for p, err := range pending.Get() { // every subtask's values: keep those of our key groups
		if err != nil {
			return nil, err
		}
		if !op.t.kgRange.Contains(keygroup.Of(p.key, op.t.job.maxP)) {
			continue
		}
		v, err := cfg.ser.Decode(p.value)
		if err != nil { // untrusted bytes: a corrupt checkpoint, so that restore falls back
			return nil, op.t.job.corruptOperatorState(m.uid, pendingName, "mini-batch value of window %v: %v", p.w, err)
		}
		e := mb.key(p.key)
		if !e.keyOK {
			// Untrusted bytes too: decode the key now, so that a bad one fails the restore (which
			// then falls back) instead of the window that fires it, hours later.
			if err := mb.setKey(e); err != nil {
				return nil, op.t.job.corruptOperatorState(m.uid, pendingName, "mini-batch key %x of window %v: %v", p.key, p.w, err)
			}
		}
		e.fired = p.fired // a key's values all come from the one subtask that had its key group
		mb.add(e, p.w, v, p.ts)
	}
	return mb, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// key returns the entry of serialized key raw, creating it.
func (mb *miniBatch[K, T]) key(raw []byte) *miniKey[K, T] {
	e := mb.m[string(raw)]
	if e == nil {
		e = &miniKey[K, T]{raw: slices.Clone(raw), fired: mb.lastWM}
		mb.m[string(e.raw)] = e
	}
	return e
}

// setKey makes e's key current: from the key and key group it was ingested with, or for a
// key restored from a checkpoint, from its bytes (decoded and hashed once, at restore, then
// kept).
func (mb *miniBatch[K, T]) setKey(e *miniKey[K, T]) error {
	if e.keyOK {
		return mb.kb.SetCurrentKeyRouted(e.key, e.raw, e.kg)
	}
	if err := mb.kb.SetCurrentKeyBytes(e.raw); err != nil {
		return err
	}
	e.key, _ = mb.kb.CurrentKey()
	_, e.kg, _ = mb.kb.CurrentKeyBytes()
	e.keyOK = true
	return nil
}

// add folds v, of timestamp ts, into e's unit u.
func (mb *miniBatch[K, T]) add(e *miniKey[K, T], u TimeWindow, v T, ts int64) {
	i := len(e.units)
	for i > 0 && e.units[i-1].u.Start >= u.Start {
		if un := &e.units[i-1]; un.u == u {
			un.v, un.ts = mb.reduce(un.v, v), max(un.ts, ts)
			return
		}
		i--
	}
	e.units = slices.Insert(e.units, i, miniUnit[T]{u: u, v: v, ts: ts})
	mb.values++
}

// windowsOf appends to dst the windows unit u contributes to.
func (mb *miniBatch[K, T]) windowsOf(dst []TimeWindow, u TimeWindow) []TimeWindow {
	if mb.slice == 0 {
		return append(dst, u)
	}
	for start := WindowStartWithOffset(u.Start, mb.offset, mb.slide); start > u.Start-mb.size; start -= mb.slide {
		dst = append(dst, TimeWindow{Start: start, End: start + mb.size})
	}
	return dst
}

// lastMax is the largest MaxTimestamp of the windows unit u contributes to: once the
// watermark passes it, u is no longer needed.
func (mb *miniBatch[K, T]) lastMax(u TimeWindow) int64 {
	if mb.slice == 0 {
		return u.MaxTimestamp()
	}
	return WindowStartWithOffset(u.Start, mb.offset, mb.slide) + mb.size - 1
}

// ingest folds v into the units of its windows ws (none late) and spills the batch when it
// holds limit values.
func (mb *miniBatch[K, T]) ingest(v T, ts int64, ws []TimeWindow) error {
	if len(ws) > 0 {
		raw, kg, _ := mb.kb.CurrentKeyBytes()
		e := mb.key(raw)
		if !e.keyOK {
			e.key, _ = mb.kb.CurrentKey()
			e.kg, e.keyOK = kg, true
		}
		if mb.slice == 0 {
			for _, w := range ws {
				mb.add(e, w, v, ts)
			}
		} else { // windows already fired are skipped when slices fold
			start := WindowStartWithOffset(ts, mb.offset, mb.slice)
			mb.add(e, TimeWindow{Start: start, End: start + mb.slice}, v, ts)
		}
	}
	if mb.values >= mb.limit {
		return mb.spill()
	}
	return nil
}

// spill writes every value to the keyed state of its windows through inner, which runs the
// trigger of each as if for one record; the pairs are remembered as stateful.
func (mb *miniBatch[K, T]) spill() error {
	for k, e := range mb.m {
		if len(e.units) > 0 {
			if err := mb.setKey(e); err != nil {
				return err
			}
		}
		for _, un := range e.units {
			mb.wins = mb.windowsOf(mb.wins[:0], un.u)
			for _, w := range mb.wins {
				if mb.direct && w.MaxTimestamp() <= e.fired {
					continue // fired before this slice's value came
				}
				if err := mb.toState(w, un.v, un.ts); err != nil {
					return err
				}
				if mb.direct && !slices.Contains(e.stateful, w) {
					e.stateful = append(e.stateful, w)
					mb.stateful++
				}
			}
		}
		mb.values -= len(e.units)
		clear(e.units)
		e.units = e.units[:0]
		if len(e.stateful) == 0 { // without direct firing nothing needs remembering
			delete(mb.m, k)
		}
	}
	if mb.stateful > maxStatefulFactor*mb.limit {
		for k, e := range mb.m { // forget the pairs, remember their windows
			for _, w := range e.stateful {
				mb.unsure[w] = true
			}
			delete(mb.m, k)
		}
		mb.stateful = 0
	}
	return nil
}

// toState adds v, of timestamp ts, to the keyed state of window w of the current key through
// inner, which runs the trigger.
func (mb *miniBatch[K, T]) toState(w TimeWindow, v T, ts int64) error {
	mb.one[0] = w
	return mb.inner.ingest(v, ts, mb.one[:])
}

// beforeSnapshot runs before a checkpoint's synchronous phase: the pending values, serialized,
// and the windows that may have state go to operator state (without operator state, the
// values go to keyed state).
func (mb *miniBatch[K, T]) beforeSnapshot() error {
	if !mb.direct {
		return mb.spill()
	}
	ws := map[TimeWindow]bool{}
	for w := range mb.unsure {
		ws[w] = true
	}
	pairs := make([]miniPair, 0, mb.values)
	var buf []byte
	for _, e := range mb.m {
		for _, w := range e.stateful {
			ws[w] = true
		}
		for _, un := range e.units {
			start := len(buf)
			var err error
			if buf, err = mb.ser.Append(buf, un.v); err != nil {
				return fmt.Errorf("window %s: checkpoint mini-batch value of %v: %w", mb.uid, un.u, err)
			}
			// buf may move as it grows; earlier values keep the array they were written to.
			pairs = append(pairs, miniPair{key: e.raw, w: un.u, ts: un.ts, fired: e.fired, value: buf[start:len(buf):len(buf)]})
		}
	}
	ptrs := make([]*miniPair, len(pairs))
	for i := range pairs {
		ptrs[i] = &pairs[i]
	}
	if err := mb.pending.Update(ptrs); err != nil {
		return err
	}
	return mb.unsureState.Update(slices.Collect(func(yield func(TimeWindow) bool) {
		for w := range ws {
			if !yield(w) {
				return
			}
		}
	}))
}

// beforeWatermark runs before watermark wm reaches the window operator: the windows it passes
// fire here, from memory, or (stateful ones) get the values gathered since their spill added
// to state, whose timer fires them right after.
func (mb *miniBatch[K, T]) beforeWatermark(wm int64) error {
	var ofUnit []TimeWindow
	for k, e := range mb.m {
		lo := e.fired
		if !mb.direct {
			lo = math.MinInt64 // pairs go through state, late ones included
		}
		if wm <= lo {
			continue
		}
		due := mb.wins[:0]
		for _, un := range e.units {
			ofUnit = mb.windowsOf(ofUnit[:0], un.u)
			for _, w := range ofUnit {
				if w.MaxTimestamp() > lo && w.MaxTimestamp() <= wm && !slices.Contains(due, w) {
					due = append(due, w)
				}
			}
		}
		mb.wins = due
		keySet := false
		for _, w := range due {
			v, ts, has := mb.fold(e, w)
			if !has {
				continue
			}
			if !keySet {
				if err := mb.setKey(e); err != nil {
					return err
				}
				keySet = true
			}
			if !mb.direct || mb.unsure[w] || slices.Contains(e.stateful, w) {
				if err := mb.toState(w, v, ts); err != nil {
					return err
				}
				continue
			}
			key, _ := mb.kb.CurrentKey()
			if err := mb.fire(key, w, v); err != nil {
				return err
			}
		}
		e.stateful = slices.DeleteFunc(e.stateful, func(w TimeWindow) bool { return w.MaxTimestamp() <= wm }) // their timers fire them
		n := len(e.units)
		e.units = slices.DeleteFunc(e.units, func(un miniUnit[T]) bool { return mb.lastMax(un.u) <= wm })
		mb.values -= n - len(e.units)
		if mb.direct {
			e.fired = max(e.fired, wm)
		}
		if len(e.units) == 0 && len(e.stateful) == 0 {
			delete(mb.m, k)
		}
	}
	mb.lastWM = max(mb.lastWM, wm)
	mb.stateful = 0
	for _, e := range mb.m {
		mb.stateful += len(e.stateful)
	}
	for w := range mb.unsure {
		if w.MaxTimestamp() <= wm && wm != math.MinInt64 {
			delete(mb.unsure, w)
		}
	}
	return nil
}

// fold folds the values of e's units within window w, in time order.
func (mb *miniBatch[K, T]) fold(e *miniKey[K, T], w TimeWindow) (v T, ts int64, has bool) {
	for _, un := range e.units {
		if un.u.Start < w.Start || un.u.End > w.End {
			continue
		}
		if has {
			v, ts = mb.reduce(v, un.v), max(ts, un.ts)
		} else {
			v, ts, has = un.v, un.ts, true
		}
	}
	return v, ts, has
}

// miniPair is a pending pair of a mini-batch as a checkpoint holds it. The operator state
// backend keeps it until the snapshot's asynchronous phase: its slices are never changed.
type miniPair struct {
	key   []byte     // the serialized key
	w     TimeWindow // the window, or the slice
	ts    int64      // the latest record's timestamp
	fired int64      // the key's windows ending at or before this watermark are done
	value []byte     // the folded value, serialized with the window's state serializer
}

// miniPairSerializer encodes a miniPair: uvarint length and key, window start and end,
// timestamp and fired watermark (8 bytes each, big-endian), uvarint length and value. Its identity includes the
// value serializer's, so a restore with another one fails naming both; value's aliases
// (serde.Aliased) are its aliases, so renaming the value serializer keeps pending pairs.
type miniPairSerializer struct {
	value   string
	aliases []string
}

func (s miniPairSerializer) ID() string { return "mini-batch-pair/v1(" + s.value + ")" }

// AliasIDs implements serde.Aliased: the pair's ID with each of the value serializer's aliases.
func (s miniPairSerializer) AliasIDs() []string {
	out := make([]string, len(s.aliases))
	for i, a := range s.aliases {
		out[i] = "mini-batch-pair/v1(" + a + ")"
	}
	return out
}

// miniWindowsDescriptor is the union list of windows that may hold state. Its serializer has
// a fixed name (the alias is its earlier, Go-type ID).
var miniWindowsDescriptor = state.ListDescriptor[TimeWindow]{Name: miniStatefulWindowsState,
	Serializer: serde.JSON[TimeWindow]{Name: "streamstate.minibatch-window", Aliases: []string{"stream.TimeWindow"}}}

func (s miniPairSerializer) Append(dst []byte, p *miniPair) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(p.key)))
	dst = append(dst, p.key...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.w.Start))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.w.End))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(p.fired))
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
	if len(src) < 32 {
		return fail(fmt.Sprintf("window, timestamp and watermark need 32 bytes, have %d", len(src)))
	}
	p.w = TimeWindow{Start: int64(binary.BigEndian.Uint64(src)), End: int64(binary.BigEndian.Uint64(src[8:]))}
	p.ts = int64(binary.BigEndian.Uint64(src[16:]))
	p.fired = int64(binary.BigEndian.Uint64(src[24:]))
	src = src[32:]
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
