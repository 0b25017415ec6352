package heap

import (
	"iter"
	"maps"
	"unsafe"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

type valueCell struct {
	epoch uint64
	v     any
}

// valueState serves value, reducing and aggregating state.
type valueState struct {
	stateBase
	tables []*kgTable[valueCell]
}

func (s *valueState) internal() state.InternalState { return s }
func (s *valueState) mapKeys() []iter.Seq[string]   { return keySets(s.tables) }

func (s *valueState) Value() (any, bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, false, err
	}
	c := s.tables[s.b.kgIdx].m[string(k)]
	if c == nil {
		return nil, false, nil
	}
	return c.v, true, nil
}

func (s *valueState) Update(v any) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	t := writable(s.b, s.tables, s.b.kgIdx)
	if c := t.m[string(k)]; c != nil && c.epoch == t.epoch {
		c.v = v
		return nil
	}
	t.m[string(k)] = &valueCell{epoch: t.epoch, v: v}
	return nil
}

func (s *valueState) Clear() error { return clearKey(&s.stateBase, s.tables) }

func clearKey[C any](s *stateBase, ts []*kgTable[C]) error {
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	if _, ok := ts[s.b.kgIdx].m[string(k)]; !ok {
		return nil
	}
	delete(writable(s.b, ts, s.b.kgIdx).m, string(k))
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
	t := writable(s.b, s.tables, kgIdx)
	t.m[string(appendMapKey(nil, r.key, r.ns))] = &valueCell{epoch: t.epoch, v: v}
	return nil
}

type frozenValues struct {
	ser    serde.Erased
	tables []*kgTable[valueCell]
}

func (f *frozenValues) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	for mk, c := range f.tables[kgIdx].m {
		key, ns, _ := splitMapKey(mk)
		if scratch, err = f.ser.AppendAny(scratch[:0], c.v); err != nil {
			return scratch, err
		}
		w.Value(idx, key, ns, scratch)
	}
	return scratch, nil
}

type listCell struct {
	epoch uint64
	items []any
}

type listState struct {
	stateBase
	tables []*kgTable[listCell]
}

func (s *listState) internal() state.InternalState { return s }
func (s *listState) mapKeys() []iter.Seq[string]   { return keySets(s.tables) }
func (s *listState) Clear() error                  { return clearKey(&s.stateBase, s.tables) }

func (s *listState) Get() ([]any, error) {
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	if c := s.tables[s.b.kgIdx].m[string(k)]; c != nil {
		return c.items, nil
	}
	return nil, nil
}

// cell returns the current key's list for writing, creating or copying it as needed. A copied
// cell shares the frozen elements but has no spare capacity, so appending never writes into
// memory a snapshot reads.
func (s *listState) cell(kgIdx int, k []byte) *listCell {
	t := writable(s.b, s.tables, kgIdx)
	c := t.m[string(k)]
	switch {
	case c == nil:
		c = &listCell{epoch: t.epoch}
		t.m[string(k)] = c
	case c.epoch != t.epoch:
		c = &listCell{epoch: t.epoch, items: c.items[:len(c.items):len(c.items)]}
		t.m[string(k)] = c
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
	c := s.cell(kgIdx, appendMapKey(nil, r.key, r.ns))
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
	tables []*kgTable[listCell]
}

func (f *frozenLists) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	for mk, c := range f.tables[kgIdx].m {
		key, ns, _ := splitMapKey(mk)
		w.List(idx, key, ns, len(c.items))
		for _, v := range c.items {
			if scratch, err = f.ser.AppendAny(scratch[:0], v); err != nil {
				return scratch, err
			}
			w.ListElement(scratch)
		}
	}
	return scratch, nil
}

type mapCell struct {
	epoch uint64
	m     map[string]state.MapEntry // serialized user key -> entry
}

type mapState struct {
	stateBase
	tables []*kgTable[mapCell]
	uk     []byte
}

func (s *mapState) internal() state.InternalState { return s }
func (s *mapState) mapKeys() []iter.Seq[string]   { return keySets(s.tables) }
func (s *mapState) Clear() error                  { return clearKey(&s.stateBase, s.tables) }

// read returns the current key's map (nil if none), its map key and the serialized user key.
func (s *mapState) read(uk any) (c *mapCell, k, ukb []byte, err error) {
	if k, err = s.mapKey(); err != nil {
		return nil, nil, nil, err
	}
	if s.uk, err = s.spec.UserKey.AppendAny(s.uk[:0], uk); err != nil {
		return nil, nil, nil, err
	}
	return s.tables[s.b.kgIdx].m[string(k)], k, s.uk, nil
}

func (s *mapState) cell(kgIdx int, k []byte) *mapCell {
	t := writable(s.b, s.tables, kgIdx)
	c := t.m[string(k)]
	switch {
	case c == nil:
		c = &mapCell{epoch: t.epoch, m: map[string]state.MapEntry{}}
		t.m[string(k)] = c
	case c.epoch != t.epoch:
		c = &mapCell{epoch: t.epoch, m: maps.Clone(c.m)}
		t.m[string(k)] = c
	}
	return c
}

func (s *mapState) Get(uk any) (any, bool, error) {
	c, _, ukb, err := s.read(uk)
	if err != nil || c == nil {
		return nil, false, err
	}
	e, ok := c.m[string(ukb)]
	return e.Value, ok, nil
}

func (s *mapState) Contains(uk any) (bool, error) {
	_, ok, err := s.Get(uk)
	return ok, err
}

func (s *mapState) Put(uk, v any) error {
	_, k, ukb, err := s.read(uk)
	if err != nil {
		return err
	}
	s.cell(s.b.kgIdx, k).m[string(ukb)] = state.MapEntry{Key: uk, Value: v}
	return nil
}

func (s *mapState) Remove(uk any) error {
	c, k, ukb, err := s.read(uk)
	if err != nil || c == nil {
		return err
	}
	if _, ok := c.m[string(ukb)]; !ok {
		return nil
	}
	c = s.cell(s.b.kgIdx, k)
	delete(c.m, string(ukb))
	if len(c.m) == 0 {
		delete(s.tables[s.b.kgIdx].m, string(k))
	}
	return nil
}

func (s *mapState) IsEmpty() (bool, error) {
	k, err := s.mapKey()
	if err != nil {
		return false, err
	}
	c := s.tables[s.b.kgIdx].m[string(k)]
	return c == nil || len(c.m) == 0, nil
}

func (s *mapState) All() iter.Seq2[state.MapEntry, error] {
	return func(yield func(state.MapEntry, error) bool) {
		k, err := s.mapKey()
		if err != nil {
			yield(state.MapEntry{}, err)
			return
		}
		c := s.tables[s.b.kgIdx].m[string(k)]
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
	return &frozenMaps{key: s.spec.UserKey, ser: s.spec.Value, tables: freezeAll(s.tables)}
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
	s.cell(kgIdx, appendMapKey(nil, r.key, r.ns)).m[string(r.userKey)] = state.MapEntry{Key: uk, Value: v}
	return nil
}

type frozenMaps struct {
	key, ser serde.Erased
	tables   []*kgTable[mapCell]
}

func (f *frozenMaps) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	for mk, c := range f.tables[kgIdx].m {
		key, ns, _ := splitMapKey(mk)
		for uk, e := range c.m {
			if scratch, err = f.ser.AppendAny(scratch[:0], e.Value); err != nil {
				return scratch, err
			}
			w.MapEntry(idx, key, ns, unsafe.Slice(unsafe.StringData(uk), len(uk)), scratch)
		}
	}
	return scratch, nil
}
