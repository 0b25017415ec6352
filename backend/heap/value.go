package heap

import (
	"fmt"
	"runtime"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// valueCell is stored by value: cloning a key group's map copies it, so it needs no epoch. A
// TTL state's cell holds the user's value in v and its stamp in at (valueState.stamped), so
// that neither a read nor a write goes through a ttlview.Stamped box.
type valueCell struct {
	v  any
	at int64
}

// valueState serves value, reducing and aggregating state.
type valueState struct {
	stateBase
	tables []*kgTable[valueCell]
	// stamped is set for a TTL state (ttlview.RawSpec): Value and Update take and return
	// ttlview.Stamped, StampedValue and UpdateStamped its parts, and inner is the serializer
	// of the user's values (spec.Value's, without the stamp).
	stamped bool
	inner   serde.Erased
}

func newValueState(base stateBase, n int) *valueState {
	s := &valueState{stateBase: base, tables: newTables[valueCell](n)}
	if u, ok := base.spec.Value.(interface{ Unwrap() serde.Erased }); ok && base.spec.TTL != nil && base.spec.TTL.Enabled() {
		s.stamped, s.inner = true, u.Unwrap()
	}
	return s
}

func (s *valueState) internal() backend.State              { return s }
func (s *valueState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }

func (s *valueState) Value() (any, bool, error) {
	v, at, ok, err := s.StampedValue()
	if s.stamped && ok {
		return ttlview.Stamped{At: at, V: v}, true, nil
	}
	return v, ok, err
}

// StampedValue implements ttlview.StampedValue (at is 0 for a state without TTL).
func (s *valueState) StampedValue() (any, int64, bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, 0, false, err
	}
	c, ok, frozen := readable(s.b, s.tables, s.b.kgIdx).find(k)
	if frozen && s.mutable && s.b.sharing() {
		return s.copyOut(k, c)
	}
	return c.v, c.at, ok, nil
}

// copyOut replaces the current key's cell c, which a snapshot holds, by a copy in the live
// layer and returns the copy's value: what the caller then does to it in place never reaches
// the snapshot. Flink's CopyOnWriteStateMap copies on such a get as well.
func (s *valueState) copyOut(k *tkey, c valueCell) (any, int64, bool, error) {
	v, err := s.copyValue(c.v)
	if err != nil {
		return nil, 0, false, s.copyErr(err)
	}
	writableKey(&s.stateBase, s.tables, s.b.kgIdx, k).put(k, valueCell{v: v, at: c.at})
	return v, c.at, true, nil
}

// copyValue deep-copies a user's value (of a cell: without the stamp).
func (s *valueState) copyValue(v any) (any, error) {
	if s.stamped {
		return s.inner.Copy(v)
	}
	return s.spec.Value.Copy(v)
}

func (s *valueState) Update(v any) error {
	if !s.stamped {
		return s.UpdateStamped(v, 0)
	}
	st, ok := v.(ttlview.Stamped)
	if !ok {
		return fmt.Errorf("heap backend: TTL state %q: cannot store a %T, want ttlview.Stamped", s.spec.Name, v)
	}
	return s.UpdateStamped(st.V, st.At)
}

// UpdateStamped implements ttlview.StampedValue.
func (s *valueState) UpdateStamped(v any, at int64) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	writableKey(&s.stateBase, s.tables, s.b.kgIdx, k).put(k, valueCell{v: v, at: at})
	return nil
}

func (s *valueState) Clear() error { return clearKey(&s.stateBase, s.tables) }

func (s *valueState) freeze() frozen {
	f := &frozenValues{ser: s.spec.Value, tables: freezeAll(s.tables), exp: ttlview.ExpiryAt(s.spec.TTL, s.b.clock)}
	if s.stamped {
		f.ser, f.stamped = s.inner, true
	}
	return f
}

func (s *valueState) restore(kgIdx int, r *rawRecord) error {
	v, err := s.spec.Value.DecodeAny(r.value)
	if err != nil {
		return err
	}
	c := valueCell{v: v}
	if s.stamped {
		st := v.(ttlview.Stamped) // spec.Value is the StampSerializer
		c = valueCell{v: st.V, at: st.At}
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	writableKey(&s.stateBase, s.tables, kgIdx, &k).put(&k, c)
	return nil
}

type frozenValues struct {
	ser    serde.Erased // of the cells' values: without the stamp, if stamped
	tables []*kgTable[valueCell]
	exp    ttlview.Expiry // expired values are not written
	// stamped: each value is written after its cell's stamp (backend.AppendStamp), as the
	// StampSerializer writes a ttlview.Stamped.
	stamped bool
}

// valueBatch is the number of records frozenValues.write gathers before it serializes them.
// A key group's map iterates in hash order, not in the order its values were allocated, so
// each value is a cache miss or two (the boxed slice header, then its bytes); touching a whole
// batch first lets those misses overlap instead of following one another.
const valueBatch = 64

type valueRec struct {
	k0, k1, n1 int // key arena[k0:k1], namespace arena[k1:n1]
	v          any
	at         int64
}

func (f *frozenValues) empty(int) bool {
	if !f.exp.On() {
		return tablesEmpty(f.tables)
	}
	return !tablesHold(f.tables, func(c valueCell) bool { return !f.dead(c) })
}

// dead reports whether c's value expired: by the stamp in the cell, or in a Stamped box.
func (f *frozenValues) dead(c valueCell) bool {
	if f.stamped {
		return f.exp.Expired(c.at)
	}
	return f.exp.ExpiredStamped(c.v)
}

func (f *frozenValues) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var recs [valueBatch]valueRec
	var arena []byte // keys and namespaces of the batch (write runs on several goroutines)
	var touched byte
	n := 0
	var err error
	flush := func() bool {
		for i := range n {
			touched ^= touch(recs[i].v)
		}
		for i := range n {
			r := &recs[i]
			scratch = scratch[:0]
			if f.stamped {
				scratch = backend.AppendStamp(scratch, r.at)
			}
			if scratch, err = f.ser.AppendAny(scratch, r.v); err != nil {
				return false
			}
			w.Value(idx, arena[r.k0:r.k1], arena[r.k1:r.n1], scratch)
		}
		n, arena = 0, arena[:0]
		return true
	}
	f.tables[kgIdx].each(func(key, ns []byte, c valueCell) bool {
		if f.dead(c) {
			return true
		}
		k0 := len(arena)
		arena = append(arena, key...)
		k1 := len(arena)
		arena = append(arena, ns...)
		recs[n] = valueRec{k0: k0, k1: k1, n1: len(arena), v: c.v, at: c.at}
		n++
		return n < valueBatch || flush()
	})
	if err == nil {
		flush()
	}
	runtime.KeepAlive(touched) // the reads in touch are the point
	return scratch, err
}

// touch reads the first byte of a boxed byte slice or string, the common forms of values.
func touch(v any) byte {
	switch x := v.(type) {
	case []byte:
		if len(x) > 0 {
			return x[0]
		}
	case string:
		if len(x) > 0 {
			return x[0]
		}
	}
	return 0
}
