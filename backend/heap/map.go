package heap

import (
	"iter"
	"maps"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

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
	t := writableKey(&s.stateBase, s.tables, kgIdx, k)
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
		writableKey(&s.stateBase, s.tables, s.b.kgIdx, k).del(k)
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
		s.iterating++ // the incremental cleanup must not remove other entries meanwhile
		defer func() { s.iterating-- }()
		for _, e := range c.m {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *mapState) freeze() frozen {
	return &frozenMaps{ser: s.spec.Value, tables: freezeAll(s.tables), exp: ttlview.ExpiryAt(s.spec.TTL, s.b.clock)}
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
	exp    ttlview.Expiry // expired entries are not written
}

func (f *frozenMaps) empty(int) bool {
	if !f.exp.On() {
		return tablesEmpty(f.tables)
	}
	return !tablesHold(f.tables, func(c *mapCell) bool {
		for _, e := range c.m {
			if !f.exp.ExpiredStamped(e.Value) {
				return true
			}
		}
		return false
	})
}

func (f *frozenMaps) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c *mapCell) bool {
		for uk, e := range c.m {
			if f.exp.ExpiredStamped(e.Value) {
				continue
			}
			if scratch, err = f.ser.AppendAny(scratch[:0], e.Value); err != nil {
				return false
			}
			w.MapEntry(idx, key, ns, uk.bytes(), scratch)
		}
		return true
	})
	return scratch, err
}
