package heap

import (
	"iter"
	"maps"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// valueCell is stored by value: cloning a key group's map copies it, so it needs no epoch.
type valueCell struct{ v any }

// valueState serves value, reducing and aggregating state.
type valueState struct {
	stateBase
	tables []*kgTable[valueCell]
}

func (s *valueState) internal() state.InternalState        { return s }
func (s *valueState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }

func (s *valueState) Value() (any, bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, false, err
	}
	c, ok := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c.v, ok, nil
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

func (f *frozenValues) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c valueCell) bool {
		if scratch, err = f.ser.AppendAny(scratch[:0], c.v); err != nil {
			return false
		}
		w.Value(idx, key, ns, scratch)
		return true
	})
	return scratch, err
}

type listCell struct {
	epoch uint64
	items []any
}

type listState struct {
	stateBase
	tables []*kgTable[*listCell]
}

func (s *listState) internal() state.InternalState        { return s }
func (s *listState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *listState) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

func (s *listState) Get() ([]any, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	if c, _ := readable(s.b, s.tables, s.b.kgIdx).get(k); c != nil {
		return c.items, nil
	}
	return nil, nil
}

// cell returns the list of k for writing, creating or copying it as needed. A copied cell
// shares the frozen elements but has no spare capacity, so appending never writes into memory
// a snapshot reads.
func (s *listState) cell(kgIdx int, k *tkey) *listCell {
	t := writable(s.b, s.tables, kgIdx)
	c, _ := t.get(k)
	switch {
	case c == nil:
		c = &listCell{epoch: t.epoch}
		t.put(k, c)
	case c.epoch != t.epoch:
		c = &listCell{epoch: t.epoch, items: c.items[:len(c.items):len(c.items)]}
		t.put(k, c)
	}
	return c
}

func (s *listState) Add(v any) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	c := s.cell(s.b.kgIdx, k)
	c.items = append(c.items, v)
	return nil
}

func (s *listState) AddAll(vs []any) error {
	k, err := s.mapKey()
	if err != nil || len(vs) == 0 {
		return err
	}
	c := s.cell(s.b.kgIdx, k)
	c.items = append(c.items, vs...)
	return nil
}

func (s *listState) Update(vs []any) error {
	if len(vs) == 0 {
		return s.Clear()
	}
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	s.cell(s.b.kgIdx, k).items = append([]any(nil), vs...)
	return nil
}

func (s *listState) freeze() frozen {
	return &frozenLists{ser: s.spec.Value, tables: freezeAll(s.tables)}
}

func (s *listState) restore(kgIdx int, r *rawRecord) error {
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	c := s.cell(kgIdx, &k)
	for _, e := range r.list {
		v, err := s.spec.Value.DecodeAny(e)
		if err != nil {
			return err
		}
		c.items = append(c.items, v)
	}
	return nil
}

type frozenLists struct {
	ser    serde.Erased
	tables []*kgTable[*listCell]
}

func (f *frozenLists) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c *listCell) bool {
		w.List(idx, key, ns, len(c.items))
		for _, v := range c.items {
			if scratch, err = f.ser.AppendAny(scratch[:0], v); err != nil {
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
	m     map[mkey]state.MapEntry // serialized user key -> entry
}

type mapState struct {
	stateBase
	tables []*kgTable[*mapCell]
	uk     []byte
}

func (s *mapState) internal() state.InternalState        { return s }
func (s *mapState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *mapState) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

// read returns the current key's map (nil if none), its lookup key and the lookup key of the
// serialized user key.
func (s *mapState) read(uk any) (c *mapCell, k *tkey, ukk mkey, err error) {
	if k, err = s.mapKey(); err != nil {
		return nil, k, ukk, err
	}
	if s.uk, err = s.spec.UserKey.AppendAny(s.uk[:0], uk); err != nil {
		return nil, k, ukk, err
	}
	c, _ = readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c, k, lookupKey(s.uk), nil
}

func (s *mapState) cell(kgIdx int, k *tkey) *mapCell {
	t := writable(s.b, s.tables, kgIdx)
	c, _ := t.get(k)
	switch {
	case c == nil:
		c = &mapCell{epoch: t.epoch, m: map[mkey]state.MapEntry{}}
		t.put(k, c)
	case c.epoch != t.epoch:
		c = &mapCell{epoch: t.epoch, m: maps.Clone(c.m)}
		t.put(k, c)
	}
	return c
}

func (s *mapState) Get(uk any) (any, bool, error) {
	c, _, ukk, err := s.read(uk)
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
	s.cell(s.b.kgIdx, k).m[ukk.owned()] = state.MapEntry{Key: uk, Value: v}
	return nil
}

func (s *mapState) Remove(uk any) error {
	c, k, ukk, err := s.read(uk)
	if err != nil || c == nil {
		return err
	}
	if _, ok := c.m[ukk]; !ok {
		return nil
	}
	c = s.cell(s.b.kgIdx, k)
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

func (s *mapState) All() iter.Seq2[state.MapEntry, error] {
	return func(yield func(state.MapEntry, error) bool) {
		k, err := s.mapKey()
		if err != nil {
			yield(state.MapEntry{}, err)
			return
		}
		c, _ := readable(s.b, s.tables, s.b.kgIdx).get(k)
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
	s.cell(kgIdx, &k).m[storeKey(r.userKey)] = state.MapEntry{Key: uk, Value: v}
	return nil
}

type frozenMaps struct {
	ser    serde.Erased
	tables []*kgTable[*mapCell]
}

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
