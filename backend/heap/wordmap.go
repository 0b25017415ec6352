package heap

import (
	"encoding/binary"
	"iter"
	"maps"
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// wordMapScan is the number of entries up to which a word map is a slice searched linearly;
// a larger one becomes a Go map.
const wordMapScan = 16

// wordMapCell is one map of a wordMapState. It is stored by value in its table, so a small
// map's lookup follows one pointer from the table's slot, to its entries, where a Go map of
// boxed entries follows four or five. User keys are held as their key encodings (KeyWord),
// so two user keys are one entry exactly when their encodings are equal, as in any map state.
// Like listCell it carries the epoch of the layer that owns its memory.
type wordMapCell struct {
	epoch uint64
	es    []backend.WordEntry // the entries, while there are at most wordMapScan; else nil
	m     map[uint64]uint64   // the entries, once there were more
}

func (c *wordMapCell) get(uk uint64) (uint64, bool) {
	if c.m != nil {
		v, ok := c.m[uk]
		return v, ok
	}
	for _, e := range c.es {
		if e.Key == uk {
			return e.Value, true
		}
	}
	return 0, false
}

func (c *wordMapCell) len() int { return len(c.es) + len(c.m) }

// own makes c's memory its own at epoch, copying what it shares with an older layer.
func (c *wordMapCell) own(epoch uint64) {
	if c.epoch == epoch {
		return
	}
	c.epoch = epoch
	if c.m != nil {
		c.m = maps.Clone(c.m)
	} else {
		c.es = slices.Clone(c.es)
	}
}

// put sets uk to v; c must be owned.
func (c *wordMapCell) put(uk, v uint64) {
	if c.m != nil {
		c.m[uk] = v
		return
	}
	for i := range c.es {
		if c.es[i].Key == uk {
			c.es[i].Value = v
			return
		}
	}
	if len(c.es) < wordMapScan {
		c.es = append(c.es, backend.WordEntry{Key: uk, Value: v})
		return
	}
	c.m = make(map[uint64]uint64, 2*wordMapScan)
	for _, e := range c.es {
		c.m[e.Key] = e.Value
	}
	c.m[uk] = v
	c.es = nil
}

// remove deletes uk; c must be owned.
func (c *wordMapCell) remove(uk uint64) {
	if c.m != nil {
		delete(c.m, uk)
		return
	}
	if i := slices.IndexFunc(c.es, func(e backend.WordEntry) bool { return e.Key == uk }); i >= 0 {
		last := len(c.es) - 1
		c.es[i] = c.es[last]
		c.es = c.es[:last]
	}
}

// each calls fn for every entry until it returns false. fn may remove the entry it was given
// (backend.Map.All): each ranges over a copy of the slice header, and a removal only
// writes the slot of the entry removed, so every later entry is still at its slot.
func (c *wordMapCell) each(fn func(uk, v uint64) bool) {
	for _, e := range c.es {
		if !fn(e.Key, e.Value) {
			return
		}
	}
	for uk, v := range c.m {
		if !fn(uk, v) {
			return
		}
	}
}

// wordMapState serves map states whose user keys are word keys and whose values are words
// (backend.Spec.UserKeyWord with KeyWord, and backend.Spec.Word). It implements
// backend.WordMap. The cells are the state; for 8-byte keys in the void namespace a
// wordIndex per key group also holds every entry, live, so that Get and Contains probe one
// table slot instead of a table and then a cell.
type wordMapState struct {
	stateBase
	tables []*kgTable[wordMapCell]
	index  []wordIndex // per key group index
	enc    [8]byte     // a user key's encoding, for Decode (a local array would escape)
}

func newWordMapState(base stateBase, n int) *wordMapState {
	return &wordMapState{stateBase: base, tables: newTables[wordMapCell](n), index: make([]wordIndex, n)}
}

func (s *wordMapState) internal() backend.State              { return s }
func (s *wordMapState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }

// indexed returns the index of the current key's key group and the key's word in it, if the
// current key is indexed (8 bytes, void namespace).
func (s *wordMapState) indexed() (*wordIndex, uint64, bool) {
	b := s.b
	if !b.hasKey || b.curKey.form != formU64 || len(s.ns) != 0 {
		return nil, 0, false
	}
	return &s.index[b.kgIdx], b.curKey.u, true
}

// current returns the current key's map (empty if none).
func (s *wordMapState) current() (wordMapCell, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok {
		return t.u64[u], nil
	}
	k, err := s.mapKey()
	if err != nil {
		return wordMapCell{}, err
	}
	c, _ := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c, nil
}

// writableCell returns the current key's map, its memory owned by the table t it is to be
// stored back into with store (under k, or, if k is nil, under the current key directly).
func (s *wordMapState) writableCell() (c wordMapCell, t *kgTable[wordMapCell], k *tkey, err error) {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		c = t.u64[u]
		c.own(t.epoch)
		return c, t, nil, nil
	}
	if k, err = s.mapKey(); err != nil {
		return c, nil, nil, err
	}
	t = writable(s.b, s.tables, s.b.kgIdx)
	c, _ = t.get(k)
	c.own(t.epoch)
	return c, t, k, nil
}

// store puts back what writableCell returned, once modified; an empty map removes the key.
func (s *wordMapState) store(c wordMapCell, t *kgTable[wordMapCell], k *tkey) {
	switch {
	case k == nil && c.len() == 0:
		delete(t.u64, s.b.curKey.u)
	case k == nil:
		t.u64[s.b.curKey.u] = c
	case c.len() == 0:
		t.del(k)
	default:
		t.put(k, c)
	}
}

// GetWord implements backend.WordMap.
func (s *wordMapState) GetWord(uk uint64) (uint64, bool, error) {
	k := s.spec.UserKeyWord.KeyWord(uk)
	if x, u, ok := s.indexed(); ok {
		v, found := x.get(u, k)
		return v, found, nil
	}
	c, err := s.current()
	if err != nil {
		return 0, false, err
	}
	v, ok := c.get(k)
	return v, ok, nil
}

// PutWord implements backend.WordMap.
func (s *wordMapState) PutWord(uk, v uint64) error {
	k := s.spec.UserKeyWord.KeyWord(uk)
	c, t, key, err := s.writableCell()
	if err != nil {
		return err
	}
	c.put(k, v)
	s.store(c, t, key)
	if x, u, ok := s.indexed(); ok {
		x.put(u, k, v)
	}
	return nil
}

// GetWordKey implements backend.WordKeyMap.
func (s *wordMapState) GetWordKey(uk uint64) (any, bool, error) {
	v, ok, err := s.GetWord(uk)
	if !ok || err != nil {
		return nil, ok, err
	}
	return s.spec.Word.Box(v), true, nil
}

// ContainsWordKey implements backend.WordKeyMap.
func (s *wordMapState) ContainsWordKey(uk uint64) (bool, error) {
	_, ok, err := s.GetWord(uk)
	return ok, err
}

// RemoveWordKey implements backend.WordKeyMap. Removing an absent key writes nothing
// (a table under a snapshot gets no layer for it).
func (s *wordMapState) RemoveWordKey(uk uint64) error {
	if ok, err := s.ContainsWordKey(uk); !ok || err != nil {
		return err
	}
	k := s.spec.UserKeyWord.KeyWord(uk)
	c, t, key, err := s.writableCell()
	if err != nil {
		return err
	}
	c.remove(k)
	s.store(c, t, key)
	if x, u, ok := s.indexed(); ok {
		x.del(u, k)
	}
	return nil
}

func (s *wordMapState) Clear() error {
	if x, u, ok := s.indexed(); ok {
		c, err := s.current()
		if err != nil {
			return err
		}
		c.each(func(k, _ uint64) bool { x.del(u, k); return true })
	}
	return clearKey(&s.stateBase, s.tables)
}

// AllWords implements backend.WordMap.
func (s *wordMapState) AllWords() iter.Seq2[backend.WordEntry, error] {
	return func(yield func(backend.WordEntry, error) bool) {
		c, err := s.current()
		if err != nil {
			yield(backend.WordEntry{}, err)
			return
		}
		c.each(func(k, v uint64) bool {
			uk, err := s.userKey(k)
			return yield(backend.WordEntry{Key: uk, Value: v}, err) && err == nil
		})
	}
}

// userKey returns the user key (as a word) whose key encoding is k.
func (s *wordMapState) userKey(k uint64) (uint64, error) {
	binary.BigEndian.PutUint64(s.enc[:], k)
	return s.spec.UserKeyWord.Decode(s.enc[:])
}

// The erased API: the same operations on boxed user keys and values.

func (s *wordMapState) Get(uk any) (any, bool, error) {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return nil, false, err
	}
	return s.GetWordKey(w)
}

func (s *wordMapState) Contains(uk any) (bool, error) {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return false, err
	}
	return s.ContainsWordKey(w)
}

func (s *wordMapState) Put(uk, v any) error {
	kw, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return err
	}
	vw, err := s.spec.Word.Unbox(v)
	if err != nil {
		return err
	}
	return s.PutWord(kw, vw)
}

func (s *wordMapState) Remove(uk any) error {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return err
	}
	return s.RemoveWordKey(w)
}

func (s *wordMapState) IsEmpty() (bool, error) {
	c, err := s.current()
	return c.len() == 0, err
}

func (s *wordMapState) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		for e, err := range s.AllWords() {
			if err != nil {
				yield(backend.MapEntry{}, err)
				return
			}
			if !yield(backend.MapEntry{Key: s.spec.UserKeyWord.Box(e.Key), Value: s.spec.Word.Box(e.Value)}, nil) {
				return
			}
		}
	}
}

func (s *wordMapState) freeze() frozen {
	return &frozenWordMaps{value: s.spec.Word, tables: freezeAll(s.tables)}
}

func (s *wordMapState) restore(kgIdx int, r *rawRecord) error {
	uk, err := s.spec.UserKeyWord.Decode(r.userKey)
	if err != nil {
		return err
	}
	v, err := s.spec.Word.Decode(r.value)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	ukw := s.spec.UserKeyWord.KeyWord(uk)
	t := writable(s.b, s.tables, kgIdx)
	c, _ := t.get(&k)
	c.own(t.epoch)
	c.put(ukw, v)
	t.put(&k, c)
	if k.form == formU64 {
		s.index[kgIdx].put(k.u, ukw, v)
	}
	return nil
}

type frozenWordMaps struct {
	value  *backend.Word
	tables []*kgTable[wordMapCell]
}

func (f *frozenWordMaps) empty(int) bool { return tablesEmpty(f.tables) }

func (f *frozenWordMaps) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	var uk [8]byte
	f.tables[kgIdx].each(func(key, ns []byte, c wordMapCell) bool {
		c.each(func(k, v uint64) bool {
			if scratch, err = f.value.Append(scratch[:0], v); err != nil {
				return false
			}
			binary.BigEndian.PutUint64(uk[:], k)
			w.MapEntry(idx, key, ns, uk[:], scratch)
			return true
		})
		return err == nil
	})
	return scratch, err
}

var (
	_ backend.WordMap = (*wordMapState)(nil)
	_ backend.Map     = (*wordMapState)(nil)
)
