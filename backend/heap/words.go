package heap

import (
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// wordState serves value and reducing states whose values fit in a word (backend.Spec.Word):
// the tables hold the words themselves, so a read follows no pointer and an update
// allocates nothing, and an int64-keyed table is a map[uint64]uint64 like a plain Go map.
// Words are stored by value, so copy-on-write needs no epochs, as for valueCell.
type wordState struct {
	stateBase
	tables []*kgTable[uint64]
}

func (s *wordState) internal() backend.State              { return s }
func (s *wordState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *wordState) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

// WordValue implements backend.WordValue.
func (s *wordState) WordValue() (uint64, bool, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok {
		w, found := t.u64[u]
		return w, found, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return 0, false, err
	}
	w, ok := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return w, ok, nil
}

// UpdateWord implements backend.WordValue.
func (s *wordState) UpdateWord(w uint64) error {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		t.u64[u] = w
		return nil
	}
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	writableKey(&s.stateBase, s.tables, s.b.kgIdx, k).put(k, w)
	return nil
}

func (s *wordState) Value() (any, bool, error) {
	w, ok, err := s.WordValue()
	if !ok || err != nil {
		return nil, ok, err
	}
	return s.spec.Word.Box(w), true, nil
}

func (s *wordState) Update(v any) error {
	w, err := s.spec.Word.Unbox(v)
	if err != nil {
		return err
	}
	return s.UpdateWord(w)
}

func (s *wordState) freeze() frozen {
	return &frozenWords{word: s.spec.Word, tables: freezeAll(s.tables)}
}

func (s *wordState) restore(kgIdx int, r *rawRecord) error {
	w, err := s.spec.Word.Decode(r.value)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	writableKey(&s.stateBase, s.tables, kgIdx, &k).put(&k, w)
	return nil
}

type frozenWords struct {
	word   *backend.Word
	tables []*kgTable[uint64]
}

func (f *frozenWords) empty(int) bool { return tablesEmpty(f.tables) }

func (f *frozenWords) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c uint64) bool {
		if scratch, err = f.word.Append(scratch[:0], c); err != nil {
			return false
		}
		w.Value(idx, key, ns, scratch)
		return true
	})
	return scratch, err
}

// wordListState serves list states whose elements fit in a word (backend.Spec.Word): a list is
// a []uint64, so adding an element allocates nothing beyond the slice's growth and reading
// one follows no pointer. It implements backend.WordList.
type wordListState struct {
	*listState[uint64]
}

func newWordListState(base stateBase, n int) *wordListState {
	word := base.spec.Word
	return &wordListState{&listState[uint64]{stateBase: base, tables: newTables[*listCell[uint64]](n),
		fromAny: word.Unbox, encode: word.Append, decode: word.Decode,
		boxed: func(ws []uint64) []any {
			vs := make([]any, len(ws))
			for i, w := range ws {
				vs[i] = word.Box(w)
			}
			return vs
		}}}
}

func (s *wordListState) internal() backend.State { return s }

// WordList implements backend.WordList.
func (s *wordListState) WordList() ([]uint64, error) { return s.items() }

// AddWord implements backend.WordList.
func (s *wordListState) AddWord(w uint64) error { return s.add(w) }

// AddWords implements backend.WordList.
func (s *wordListState) AddWords(ws []uint64) error { return s.add(ws...) }

// UpdateWords implements backend.WordList.
func (s *wordListState) UpdateWords(ws []uint64) error {
	if len(ws) == 1 {
		return s.setOne(ws[0])
	}
	return s.set(slices.Clone(ws))
}

// wordKeyMapState serves map states whose user keys fit in a word (backend.Spec.UserKeyWord):
// the entries are stored as for any map, but a lookup serializes the word directly instead
// of boxing it. It implements backend.WordKeyMap.
type wordKeyMapState struct{ *mapState }

func (s *wordKeyMapState) internal() backend.State { return s }

// readWord is mapState.read for a word user key.
func (s *wordKeyMapState) readWord(uk uint64) (c *mapCell, k *tkey, ukk mkey, err error) {
	return s.readWith(func(dst []byte) ([]byte, error) { return s.spec.UserKeyWord.Append(dst, uk) })
}

// GetWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) GetWordKey(uk uint64) (any, bool, error) { return lookup(s.readWord(uk)) }

// ContainsWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) ContainsWordKey(uk uint64) (bool, error) {
	_, ok, err := lookup(s.readWord(uk))
	return ok, err
}

// RemoveWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) RemoveWordKey(uk uint64) error { return s.remove(s.readWord(uk)) }

var (
	_ backend.WordValue  = (*wordState)(nil)
	_ backend.WordList   = (*wordListState)(nil)
	_ backend.WordKeyMap = (*wordKeyMapState)(nil)
	_ backend.WordKeyed  = (*Backend)(nil)
)
