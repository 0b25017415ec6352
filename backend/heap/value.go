package heap

import (
	"runtime"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// valueCell is stored by value: cloning a key group's map copies it, so it needs no epoch.
type valueCell struct{ v any }

// valueState serves value, reducing and aggregating state.
type valueState struct {
	stateBase
	tables []*kgTable[valueCell]
}

func (s *valueState) internal() backend.State              { return s }
func (s *valueState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }

func (s *valueState) Value() (any, bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, false, err
	}
	c, ok, frozen := readable(s.b, s.tables, s.b.kgIdx).find(k)
	if frozen && s.mutable && s.b.sharing() {
		return s.copyOut(k, c.v)
	}
	return c.v, ok, nil
}

// copyOut replaces the current key's value v, which a snapshot holds, by a copy in the live
// layer and returns the copy: what the caller then does to it in place never reaches the
// snapshot. Flink's CopyOnWriteStateMap copies on such a get as well.
func (s *valueState) copyOut(k *tkey, v any) (any, bool, error) {
	c, err := s.spec.Value.Copy(v)
	if err != nil {
		return nil, false, s.copyErr(err)
	}
	writable(s.b, s.tables, s.b.kgIdx).put(k, valueCell{c})
	return c, true, nil
}

func (s *valueState) Update(v any) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	writable(s.b, s.tables, s.b.kgIdx).put(k, valueCell{v})
	return nil
}

func (s *valueState) Clear() error { return clearKey(&s.stateBase, s.tables) }

func (s *valueState) freeze() frozen {
	return &frozenValues{ser: s.spec.Value, tables: freezeAll(s.tables), exp: s.expiry()}
}

func (s *valueState) restore(kgIdx int, r *rawRecord) error {
	v, err := s.spec.Value.DecodeAny(r.value)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	writable(s.b, s.tables, kgIdx).put(&k, valueCell{v})
	return nil
}

type frozenValues struct {
	ser    serde.Erased
	tables []*kgTable[valueCell]
	exp    expiry // expired values are not written
}

// valueBatch is the number of records frozenValues.write gathers before it serializes them.
// A key group's map iterates in hash order, not in the order its values were allocated, so
// each value is a cache miss or two (the boxed slice header, then its bytes); touching a whole
// batch first lets those misses overlap instead of following one another.
const valueBatch = 64

type valueRec struct {
	k0, k1, n1 int // key arena[k0:k1], namespace arena[k1:n1]
	v          any
}

func (f *frozenValues) empty(int) bool { return tablesEmpty(f.tables) }

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
			if scratch, err = f.ser.AppendAny(scratch[:0], r.v); err != nil {
				return false
			}
			w.Value(idx, arena[r.k0:r.k1], arena[r.k1:r.n1], scratch)
		}
		n, arena = 0, arena[:0]
		return true
	}
	f.tables[kgIdx].each(func(key, ns []byte, c valueCell) bool {
		if f.exp.dead(c.v) {
			return true
		}
		k0 := len(arena)
		arena = append(arena, key...)
		k1 := len(arena)
		arena = append(arena, ns...)
		recs[n] = valueRec{k0: k0, k1: k1, n1: len(arena), v: c.v}
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
