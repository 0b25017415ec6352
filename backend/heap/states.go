package heap

import (
	"iter"
	"maps"
	"runtime"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
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

func clearKey[C any](s *stateBase, ts []*kgTable[C]) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	if _, ok := readable(s.b, ts, s.b.kgIdx).get(k); !ok {
		return nil
	}
	writable(s.b, ts, s.b.kgIdx).del(k)
	return nil
}

func (s *valueState) freeze() frozen {
	return &frozenValues{ser: s.spec.Value, tables: freezeAll(s.tables)}
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

func (f *frozenValues) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
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

// listCell is one list. E is any for boxed elements, uint64 for words (wordListState). A
// one-element list set by Update keeps its element in one, so that it costs one allocation.
type listCell[E any] struct {
	epoch uint64
	items []E
	one   [1]E
}

// listState serves list state, its elements held as E: boxed (E = any) or as words.
type listState[E any] struct {
	stateBase
	tables []*kgTable[*listCell[E]]
	// fromAny converts an element the caller passed (failing for a wrong type), boxed
	// converts a list back (both the identity for E = any); encode and decode serialize one
	// element for snapshots.
	fromAny func(any) (E, error)
	boxed   func([]E) []any
	encode  func(dst []byte, e E) ([]byte, error)
	decode  func(src []byte) (E, error)
	// copyElem deep-copies an element (nil when elements are immutable): a list a snapshot
	// holds is copied with its elements before the task reads or changes it.
	copyElem func(E) (E, error)
}

func newListState(base stateBase, n int) *listState[any] {
	s := &listState[any]{stateBase: base, tables: newTables[*listCell[any]](n),
		fromAny: func(v any) (any, error) { return v, nil }, boxed: func(vs []any) []any { return vs },
		encode: base.spec.Value.AppendAny, decode: base.spec.Value.DecodeAny}
	if base.mutable {
		s.copyElem = base.spec.Value.Copy
	}
	return s
}

func (s *listState[E]) internal() backend.State              { return s }
func (s *listState[E]) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *listState[E]) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

// items returns the current key's elements; the slice must not be modified. Mutable
// elements of a list a snapshot holds are copied first (into the live layer).
func (s *listState[E]) items() ([]E, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok && (s.copyElem == nil || !t.frozen) {
		if c := t.u64[u]; c != nil {
			return c.items, nil
		}
		return nil, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	c, _, frozen := readable(s.b, s.tables, s.b.kgIdx).find(k)
	if frozen && s.copyElem != nil && s.b.sharing() {
		if c, err = s.cell(s.b.kgIdx, k); err != nil {
			return nil, err
		}
	}
	if c != nil {
		return c.items, nil
	}
	return nil, nil
}

func (s *listState[E]) Get() ([]any, error) {
	items, err := s.items()
	if len(items) == 0 {
		return nil, err
	}
	return s.boxed(items), nil
}

// cell returns the list of k for writing, creating or copying it as needed.
func (s *listState[E]) cell(kgIdx int, k *tkey) (*listCell[E], error) {
	t := writable(s.b, s.tables, kgIdx)
	c, _ := t.get(k)
	if c == nil || c.epoch != t.epoch {
		var err error
		if c, err = s.writable(c, t.epoch); err != nil {
			return nil, err
		}
		t.put(k, c)
	}
	return c, nil
}

// writable returns a list like c (which may be nil) to be modified in a table of epoch. The
// copy shares c's elements but has no spare capacity, so appending never writes into memory a
// snapshot reads; while a snapshot runs, mutable elements are copied too, so that none a
// snapshot reads is handed to the task.
func (s *listState[E]) writable(c *listCell[E], epoch uint64) (*listCell[E], error) {
	if c == nil {
		return &listCell[E]{epoch: epoch}, nil
	}
	if s.copyElem == nil || len(c.items) == 0 || !s.b.sharing() {
		return &listCell[E]{epoch: epoch, items: c.items[:len(c.items):len(c.items)]}, nil
	}
	items := make([]E, len(c.items))
	for i, e := range c.items {
		var err error
		if items[i], err = s.copyElem(e); err != nil {
			return nil, s.copyErr(err)
		}
	}
	return &listCell[E]{epoch: epoch, items: items}, nil
}

// current returns the current key's list for writing.
func (s *listState[E]) current() (*listCell[E], error) {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		c := t.u64[u]
		if c == nil || c.epoch != t.epoch {
			var err error
			if c, err = s.writable(c, t.epoch); err != nil {
				return nil, err
			}
			t.u64[u] = c
		}
		return c, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	return s.cell(s.b.kgIdx, k)
}

// add appends es (copied) to the current key's list.
func (s *listState[E]) add(es ...E) error {
	if len(es) == 0 {
		_, err := s.mapKey()
		return err
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	c.items = append(c.items, es...)
	return nil
}

// set makes es, which it keeps, the current key's list; an empty es clears it.
func (s *listState[E]) set(es []E) error {
	if len(es) == 0 {
		return s.Clear()
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	c.items = es
	return nil
}

// setOne makes e the current key's only element, stored in the cell itself. The cell is of
// the current epoch, so no snapshot reads its one; a copy of it (writable) may share it
// read-only, with no spare capacity.
func (s *listState[E]) setOne(e E) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	c.one[0] = e
	c.items = c.one[:1:1]
	return nil
}

// convert converts the elements a caller passed, before anything is written.
func (s *listState[E]) convert(vs []any) ([]E, error) {
	es := make([]E, len(vs))
	for i, v := range vs {
		var err error
		if es[i], err = s.fromAny(v); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func (s *listState[E]) Add(v any) error {
	e, err := s.fromAny(v)
	if err != nil {
		return err
	}
	return s.add(e)
}

func (s *listState[E]) AddAll(vs []any) error {
	es, err := s.convert(vs)
	if err != nil {
		return err
	}
	return s.add(es...)
}

func (s *listState[E]) Update(vs []any) error {
	if len(vs) == 1 {
		e, err := s.fromAny(vs[0])
		if err != nil {
			return err
		}
		return s.setOne(e)
	}
	es, err := s.convert(vs)
	if err != nil {
		return err
	}
	return s.set(es)
}

func (s *listState[E]) freeze() frozen {
	return &frozenLists[E]{encode: s.encode, tables: freezeAll(s.tables)}
}

func (s *listState[E]) restore(kgIdx int, r *rawRecord) error {
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	c, err := s.cell(kgIdx, &k)
	if err != nil {
		return err
	}
	for _, e := range r.list {
		v, err := s.decode(e)
		if err != nil {
			return err
		}
		c.items = append(c.items, v)
	}
	return nil
}

type frozenLists[E any] struct {
	encode func(dst []byte, e E) ([]byte, error)
	tables []*kgTable[*listCell[E]]
}

func (f *frozenLists[E]) empty(int) bool { return tablesEmpty(f.tables) }

func (f *frozenLists[E]) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c *listCell[E]) bool {
		w.List(idx, key, ns, len(c.items))
		for _, v := range c.items {
			if scratch, err = f.encode(scratch[:0], v); err != nil {
				return false
			}
			w.ListElement(scratch)
		}
		return true
	})
	return scratch, err
}

type mapCell struct {
	epoch uint64
	m     map[mkey]backend.MapEntry // serialized user key -> entry
}

type mapState struct {
	stateBase
	tables []*kgTable[*mapCell]
	uk     []byte
}

func (s *mapState) internal() backend.State              { return s }
func (s *mapState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *mapState) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

// read returns the current key's map (nil if none), its lookup key and the lookup key of the
// serialized user key.
func (s *mapState) read(uk any) (c *mapCell, k *tkey, ukk mkey, err error) {
	return s.readWith(func(dst []byte) ([]byte, error) { return s.spec.UserKey.AppendAny(dst, uk) })
}

// readWith is read with the user key serialized by ser.
func (s *mapState) readWith(ser func(dst []byte) ([]byte, error)) (c *mapCell, k *tkey, ukk mkey, err error) {
	if k, err = s.mapKey(); err != nil {
		return nil, k, ukk, err
	}
	if s.uk, err = ser(s.uk[:0]); err != nil {
		return nil, k, ukk, err
	}
	if c, err = s.readCell(k); err != nil {
		return nil, k, ukk, err
	}
	return c, k, lookupKey(s.uk), nil
}

// readCell returns the map of k (nil if none) for reading. A map of mutable values that a
// snapshot holds is copied first (into the live layer), so that no value a snapshot reads is
// handed to the task.
func (s *mapState) readCell(k *tkey) (*mapCell, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok && (!s.mutable || !t.frozen) {
		return t.u64[u], nil
	}
	c, _, frozen := readable(s.b, s.tables, s.b.kgIdx).find(k)
	if frozen && s.mutable && s.b.sharing() {
		return s.cell(s.b.kgIdx, k)
	}
	return c, nil
}

func (s *mapState) cell(kgIdx int, k *tkey) (*mapCell, error) {
	t := writable(s.b, s.tables, kgIdx)
	c, _ := t.get(k)
	switch {
	case c == nil:
		c = &mapCell{epoch: t.epoch, m: map[mkey]backend.MapEntry{}}
		t.put(k, c)
	case c.epoch != t.epoch:
		m, err := s.clone(c.m)
		if err != nil {
			return nil, err
		}
		c = &mapCell{epoch: t.epoch, m: m}
		t.put(k, c)
	}
	return c, nil
}

// clone copies a map a snapshot may hold; while a snapshot runs, mutable values are copied
// too. User keys are never copied: like the keys of a Go map, they must not change.
func (s *mapState) clone(m map[mkey]backend.MapEntry) (map[mkey]backend.MapEntry, error) {
	if !s.mutable || !s.b.sharing() {
		return maps.Clone(m), nil
	}
	out := make(map[mkey]backend.MapEntry, len(m))
	for uk, e := range m {
		v, err := s.spec.Value.Copy(e.Value)
		if err != nil {
			return nil, s.copyErr(err)
		}
		out[uk] = backend.MapEntry{Key: e.Key, Value: v}
	}
	return out, nil
}

func (s *mapState) Get(uk any) (any, bool, error) { return lookup(s.read(uk)) }

// lookup returns the value of read's user key in read's map.
func lookup(c *mapCell, _ *tkey, ukk mkey, err error) (any, bool, error) {
	if err != nil || c == nil {
		return nil, false, err
	}
	e, ok := c.m[ukk]
	return e.Value, ok, nil
}

func (s *mapState) Contains(uk any) (bool, error) {
	_, ok, err := s.Get(uk)
	return ok, err
}

func (s *mapState) Put(uk, v any) error {
	_, k, ukk, err := s.read(uk)
	if err != nil {
		return err
	}
	c, err := s.cell(s.b.kgIdx, k)
	if err != nil {
		return err
	}
	c.m[ukk.owned()] = backend.MapEntry{Key: uk, Value: v}
	return nil
}

func (s *mapState) Remove(uk any) error { return s.remove(s.read(uk)) }

// remove deletes read's user key from read's map.
func (s *mapState) remove(c *mapCell, k *tkey, ukk mkey, err error) error {
	if err != nil || c == nil {
		return err
	}
	if _, ok := c.m[ukk]; !ok {
		return nil
	}
	if c, err = s.cell(s.b.kgIdx, k); err != nil {
		return err
	}
	delete(c.m, ukk)
	if len(c.m) == 0 {
		writable(s.b, s.tables, s.b.kgIdx).del(k)
	}
	return nil
}

func (s *mapState) IsEmpty() (bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return false, err
	}
	c, _ := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c == nil || len(c.m) == 0, nil
}

func (s *mapState) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		k, err := s.mapKey()
		if err != nil {
			yield(backend.MapEntry{}, err)
			return
		}
		c, err := s.readCell(k)
		if err != nil {
			yield(backend.MapEntry{}, err)
			return
		}
		if c == nil {
			return
		}
		for _, e := range c.m {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *mapState) freeze() frozen {
	return &frozenMaps{ser: s.spec.Value, tables: freezeAll(s.tables)}
}

func (s *mapState) restore(kgIdx int, r *rawRecord) error {
	uk, err := s.spec.UserKey.DecodeAny(r.userKey)
	if err != nil {
		return err
	}
	v, err := s.spec.Value.DecodeAny(r.value)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	c, err := s.cell(kgIdx, &k)
	if err != nil {
		return err
	}
	c.m[storeKey(r.userKey)] = backend.MapEntry{Key: uk, Value: v}
	return nil
}

type frozenMaps struct {
	ser    serde.Erased
	tables []*kgTable[*mapCell]
}

func (f *frozenMaps) empty(int) bool { return tablesEmpty(f.tables) }

func (f *frozenMaps) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c *mapCell) bool {
		for uk, e := range c.m {
			if scratch, err = f.ser.AppendAny(scratch[:0], e.Value); err != nil {
				return false
			}
			w.MapEntry(idx, key, ns, uk.bytes(), scratch)
		}
		return true
	})
	return scratch, err
}
