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

// wordMapCell is one map of a wordMaps, its values V: words (wordMapState) or stamped words
// (stampedWordMapState). It is stored by value in its table, so a small map's lookup follows
// one pointer from the table's slot, to its entries, where a Go map of boxed entries follows
// four or five. User keys are held as their key encodings (KeyWord), so two user keys are one
// entry exactly when their encodings are equal, as in any map state. Like listCell it carries
// the epoch of the layer that owns its memory.
type wordMapCell[V any] struct {
	epoch uint64
	es    []wordEntry[V] // the entries, while there are at most wordMapScan; else nil
	m     map[uint64]V   // the entries, once there were more
}

// wordEntry is one entry of a wordMapCell: a user key's encoding and its value.
type wordEntry[V any] struct {
	k uint64
	v V
}

func (c *wordMapCell[V]) get(uk uint64) (v V, ok bool) {
	if c.m != nil {
		v, ok = c.m[uk]
		return v, ok
	}
	for _, e := range c.es {
		if e.k == uk {
			return e.v, true
		}
	}
	return v, false
}

func (c *wordMapCell[V]) len() int { return len(c.es) + len(c.m) }

// own makes c's memory its own at epoch, copying what it shares with an older layer.
func (c *wordMapCell[V]) own(epoch uint64) {
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
func (c *wordMapCell[V]) put(uk uint64, v V) {
	if c.m != nil {
		c.m[uk] = v
		return
	}
	for i := range c.es {
		if c.es[i].k == uk {
			c.es[i].v = v
			return
		}
	}
	if len(c.es) < wordMapScan {
		c.es = append(c.es, wordEntry[V]{k: uk, v: v})
		return
	}
	c.m = make(map[uint64]V, 2*wordMapScan)
	for _, e := range c.es {
		c.m[e.k] = e.v
	}
	c.m[uk] = v
	c.es = nil
}

// remove deletes uk; c must be owned.
func (c *wordMapCell[V]) remove(uk uint64) {
	if c.m != nil {
		delete(c.m, uk)
		return
	}
	if i := slices.IndexFunc(c.es, func(e wordEntry[V]) bool { return e.k == uk }); i >= 0 {
		last := len(c.es) - 1
		c.es[i] = c.es[last]
		c.es = c.es[:last]
	}
}

// each calls fn for every entry until it returns false. fn may remove the entry it was given
// (backend.Map.All): each ranges over a copy of the slice header, and a removal only
// writes the slot of the entry removed, so every later entry is still at its slot.
func (c *wordMapCell[V]) each(fn func(uk uint64, v V) bool) {
	for _, e := range c.es {
		if !fn(e.k, e.v) {
			return
		}
	}
	for uk, v := range c.m {
		if !fn(uk, v) {
			return
		}
	}
}

// wordMaps is the storage of a map state whose user keys are word keys (backend.Spec.
// UserKeyWord with KeyWord) and whose values are V: words (wordMapState) or stamped words
// (stampedWordMapState). The cells are the state; for 8-byte keys in the void namespace a
// wordIndex per key group also holds every entry, live, so that Get and Contains probe one
// table slot instead of a table and then a cell.
type wordMaps[V any] struct {
	stateBase
	tables []*kgTable[wordMapCell[V]]
	index  []wordIndex[V] // per key group index
	enc    [8]byte        // a user key's encoding, for Decode (a local array would escape)
}

func newWordMaps[V any](base stateBase, n int) wordMaps[V] {
	return wordMaps[V]{stateBase: base, tables: newTables[wordMapCell[V]](n), index: make([]wordIndex[V], n)}
}

func (s *wordMaps[V]) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }

// indexed returns the index of the current key's key group and the key's word in it, if the
// current key is indexed (8 bytes, void namespace).
func (s *wordMaps[V]) indexed() (*wordIndex[V], uint64, bool) {
	b := s.b
	if !b.hasKey || b.curKey.form != formU64 || len(s.ns) != 0 {
		return nil, 0, false
	}
	return &s.index[b.kgIdx], b.curKey.u, true
}

// current returns the current key's map (empty if none).
func (s *wordMaps[V]) current() (wordMapCell[V], error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok {
		return t.u64[u], nil
	}
	k, err := s.mapKey()
	if err != nil {
		return wordMapCell[V]{}, err
	}
	c, _ := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c, nil
}

// writableCell returns the current key's map, its memory owned by the table t it is to be
// stored back into with store (under k, or, if k is nil, under the current key directly).
func (s *wordMaps[V]) writableCell() (c wordMapCell[V], t *kgTable[wordMapCell[V]], k *tkey, err error) {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		c = t.u64[u]
		c.own(t.epoch)
		return c, t, nil, nil
	}
	if k, err = s.mapKey(); err != nil {
		return c, nil, nil, err
	}
	t = writableKey(&s.stateBase, s.tables, s.b.kgIdx, k)
	c, _ = t.get(k)
	c.own(t.epoch)
	return c, t, k, nil
}

// store puts back what writableCell returned, once modified; an empty map removes the key.
func (s *wordMaps[V]) store(c wordMapCell[V], t *kgTable[wordMapCell[V]], k *tkey) {
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

// get returns the value of the user key whose key encoding is k. GetWord and GetStampedWord
// probe the index themselves rather than call get: a generic method called from a concrete
// type's method is not inlined, and that call alone made mapGet on 100,000 keys up to 1.6x
// slower in bench state.
func (s *wordMaps[V]) get(k uint64) (v V, ok bool, err error) {
	if x, u, ok := s.indexed(); ok {
		v, found := x.get(u, k)
		return v, found, nil
	}
	return s.getCell(k)
}

// getCell returns the value of the user key whose key encoding is k from the current key's
// cell.
func (s *wordMaps[V]) getCell(k uint64) (v V, ok bool, err error) {
	c, err := s.current()
	if err != nil {
		return v, false, err
	}
	v, ok = c.get(k)
	return v, ok, nil
}

// put sets the user key whose key encoding is k to v.
func (s *wordMaps[V]) put(k uint64, v V) error {
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

// remove removes the user key whose key encoding is k. Removing an absent key writes
// nothing (a table under a snapshot gets no layer for it).
func (s *wordMaps[V]) remove(k uint64) error {
	if _, ok, err := s.get(k); !ok || err != nil {
		return err
	}
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

func (s *wordMaps[V]) Clear() error {
	if x, u, ok := s.indexed(); ok {
		c, err := s.current()
		if err != nil {
			return err
		}
		c.each(func(k uint64, _ V) bool { x.del(u, k); return true })
	}
	return clearKey(&s.stateBase, s.tables)
}

func (s *wordMaps[V]) IsEmpty() (bool, error) {
	c, err := s.current()
	return c.len() == 0, err
}

// all yields the current key's entries: each user key (as a word, decoded from its key
// encoding) and value. While it runs, the incremental cleanup leaves the state alone.
func (s *wordMaps[V]) all(yield func(uk uint64, v V, err error) bool) {
	c, err := s.current()
	if err != nil {
		var zero V
		yield(0, zero, err)
		return
	}
	s.iterating++
	defer func() { s.iterating-- }()
	c.each(func(k uint64, v V) bool {
		uk, err := s.userKey(k)
		return yield(uk, v, err) && err == nil
	})
}

// userKey returns the user key (as a word) whose key encoding is k.
func (s *wordMaps[V]) userKey(k uint64) (uint64, error) {
	binary.BigEndian.PutUint64(s.enc[:], k)
	return s.spec.UserKeyWord.Decode(s.enc[:])
}

// restoreEntry inserts the restored entry of record r whose value is v.
func (s *wordMaps[V]) restoreEntry(kgIdx int, r *rawRecord, v V) error {
	uk, err := s.spec.UserKeyWord.Decode(r.userKey)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	ukw := s.spec.UserKeyWord.KeyWord(uk)
	t := writableKey(&s.stateBase, s.tables, kgIdx, &k)
	c, _ := t.get(&k)
	c.own(t.epoch)
	c.put(ukw, v)
	t.put(&k, c)
	if k.form == formU64 {
		s.index[kgIdx].put(k.u, ukw, v)
	}
	return nil
}

// wordMapState serves map states whose user keys are word keys and whose values are words
// (backend.Spec.UserKeyWord with KeyWord, and backend.Spec.Word). It implements
// backend.WordMap.
type wordMapState struct{ wordMaps[uint64] }

func newWordMapState(base stateBase, n int) *wordMapState {
	return &wordMapState{newWordMaps[uint64](base, n)}
}

func (s *wordMapState) internal() backend.State { return s }

// GetWord implements backend.WordMap.
func (s *wordMapState) GetWord(uk uint64) (uint64, bool, error) {
	k := s.spec.UserKeyWord.KeyWord(uk)
	if b := s.b; b.hasKey && b.curKey.form == formU64 && len(s.ns) == 0 { // indexed
		v, found := s.index[b.kgIdx].get(b.curKey.u, k)
		return v, found, nil
	}
	return s.getCell(k)
}

// PutWord implements backend.WordMap.
func (s *wordMapState) PutWord(uk, v uint64) error {
	return s.put(s.spec.UserKeyWord.KeyWord(uk), v)
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
	return s.remove(s.spec.UserKeyWord.KeyWord(uk))
}

// AllWords implements backend.WordMap.
func (s *wordMapState) AllWords() iter.Seq2[backend.WordEntry, error] {
	return func(yield func(backend.WordEntry, error) bool) {
		s.all(func(uk, v uint64, err error) bool { return yield(backend.WordEntry{Key: uk, Value: v}, err) })
	}
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
	return &frozenWordMaps[uint64]{encode: s.spec.Word.Append, tables: freezeAll(s.tables)}
}

func (s *wordMapState) restore(kgIdx int, r *rawRecord) error {
	v, err := s.spec.Word.Decode(r.value)
	if err != nil {
		return err
	}
	return s.restoreEntry(kgIdx, r, v)
}

// frozenWordMaps is a snapshot's part of a wordMaps[V]: encode writes a value, and dead
// (nil for a state without TTL) tells the expired ones, which are left out.
type frozenWordMaps[V any] struct {
	encode func(dst []byte, v V) ([]byte, error)
	dead   func(V) bool
	tables []*kgTable[wordMapCell[V]]
}

func (f *frozenWordMaps[V]) empty(int) bool {
	if f.dead == nil {
		return tablesEmpty(f.tables)
	}
	return !tablesHold(f.tables, func(c wordMapCell[V]) bool {
		live := false
		c.each(func(_ uint64, v V) bool { live = !f.dead(v); return !live })
		return live
	})
}

func (f *frozenWordMaps[V]) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	var uk [8]byte
	f.tables[kgIdx].each(func(key, ns []byte, c wordMapCell[V]) bool {
		c.each(func(k uint64, v V) bool {
			if f.dead != nil && f.dead(v) {
				return true
			}
			if scratch, err = f.encode(scratch[:0], v); err != nil {
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
