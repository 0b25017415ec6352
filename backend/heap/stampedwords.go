package heap

import (
	"fmt"
	"math"
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// rawSpec is the spec of the table that stores the state a descriptor of spec sees: a TTL
// state of word values keeps them as words, each beside its stamp (ttlview.RawWordSpec).
func rawSpec(spec backend.Spec) backend.Spec { return ttlview.RawWordSpec(spec) }

// ttlOn reports whether spec is a TTL state's (its values stamped).
func ttlOn(spec backend.Spec) bool { return spec.TTL != nil && spec.TTL.Enabled() }

// stampedWordState serves TTL value and reducing states whose values fit in a word: as
// wordState, with each word's stamp beside it in the table (ttlview.StampedWordValue), so that
// a read follows no pointer and a write allocates nothing. Cells are stored by value, so
// copy-on-write needs no epochs and restamping one never reaches a snapshot.
type stampedWordState struct {
	stateBase
	tables []*kgTable[ttlview.StampedWord]
}

func (s *stampedWordState) internal() backend.State              { return s }
func (s *stampedWordState) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *stampedWordState) eachIn(kg int, fn func(key, ns []byte)) {
	eachIn(s.tables, kg, fn)
}
func (s *stampedWordState) Clear() error { return clearKey(&s.stateBase, s.tables) }

// StampedWord implements ttlview.StampedWordValue.
func (s *stampedWordState) StampedWord() (uint64, int64, bool, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok {
		c, found := t.u64[u]
		return c.W, c.At, found, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return 0, 0, false, err
	}
	c, ok := readable(s.b, s.tables, s.b.kgIdx).get(k)
	return c.W, c.At, ok, nil
}

// UpdateStampedWord implements ttlview.StampedWordValue.
func (s *stampedWordState) UpdateStampedWord(w uint64, at int64) error {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		t.u64[u] = ttlview.StampedWord{W: w, At: at}
		return nil
	}
	k, err := s.mapKey()
	if err != nil {
		return err
	}
	writableKey(&s.stateBase, s.tables, s.b.kgIdx, k).put(k, ttlview.StampedWord{W: w, At: at})
	return nil
}

// Value implements backend.Value: a ttlview.Stamped of the boxed word.
func (s *stampedWordState) Value() (any, bool, error) {
	w, at, ok, err := s.StampedWord()
	if !ok || err != nil {
		return nil, false, err
	}
	return ttlview.Stamped{At: at, V: s.spec.Word.Box(w)}, true, nil
}

// Update implements backend.Value: v is a ttlview.Stamped of the user's value.
func (s *stampedWordState) Update(v any) error {
	sw, err := unstampWord(&s.stateBase, v)
	if err != nil {
		return err
	}
	return s.UpdateStampedWord(sw.W, sw.At)
}

// unstampWord converts v, a ttlview.Stamped of a word value of s, to its word and stamp.
func unstampWord(s *stateBase, v any) (ttlview.StampedWord, error) {
	st, ok := v.(ttlview.Stamped)
	if !ok {
		return ttlview.StampedWord{}, fmt.Errorf("heap backend: TTL state %q: cannot store a %T, want ttlview.Stamped", s.spec.Name, v)
	}
	w, err := s.spec.Word.Unbox(st.V)
	return ttlview.StampedWord{W: w, At: st.At}, err
}

// appendStampedWord appends a stamped word as the StampSerializer encodes a ttlview.Stamped.
func appendStampedWord(word *backend.Word, dst []byte, e ttlview.StampedWord) ([]byte, error) {
	return word.Append(backend.AppendStamp(dst, e.At), e.W)
}

// decodeStampedWord decodes what appendStampedWord appends.
func decodeStampedWord(word *backend.Word, src []byte) (ttlview.StampedWord, error) {
	at, rest, err := backend.StampOf(src)
	if err != nil {
		return ttlview.StampedWord{}, err
	}
	w, err := word.Decode(rest)
	return ttlview.StampedWord{W: w, At: at}, err
}

func (s *stampedWordState) freeze() frozen {
	return &frozenStampedWords{word: s.spec.Word, tables: freezeAll(s.tables), exp: ttlview.ExpiryAt(s.spec.TTL, s.b.clock)}
}

func (s *stampedWordState) restore(kgIdx int, r *rawRecord) error {
	c, err := decodeStampedWord(s.spec.Word, r.value)
	if err != nil {
		return err
	}
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	writableKey(&s.stateBase, s.tables, kgIdx, &k).put(&k, c)
	return nil
}

// clean implements cleanable.
func (s *stampedWordState) clean(kg int, k *tkey, x ttlview.Expiry) (int, int64) {
	c, ok := readable(s.b, s.tables, kg).get(k)
	if !ok {
		return 1, math.MaxInt64
	}
	expired, restamp, at := x.Judge(c.At)
	switch {
	case expired:
		writableKey(&s.stateBase, s.tables, kg, k).del(k)
		return 1, math.MaxInt64
	case restamp:
		writableKey(&s.stateBase, s.tables, kg, k).put(k, ttlview.StampedWord{W: c.W, At: at})
	}
	return 1, at
}

type frozenStampedWords struct {
	word   *backend.Word
	tables []*kgTable[ttlview.StampedWord]
	exp    ttlview.Expiry // expired values are not written
}

func (f *frozenStampedWords) empty(int) bool {
	return !tablesHold(f.tables, func(c ttlview.StampedWord) bool { return !f.exp.Expired(c.At) })
}

func (f *frozenStampedWords) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c ttlview.StampedWord) bool {
		if f.exp.Expired(c.At) {
			return true
		}
		if scratch, err = appendStampedWord(f.word, scratch[:0], c); err != nil {
			return false
		}
		w.Value(idx, key, ns, scratch)
		return true
	})
	return scratch, err
}

// stampedWordListState serves TTL list states whose elements fit in a word: a list is a
// []ttlview.StampedWord, each word beside its stamp (ttlview.StampedWordList).
type stampedWordListState struct {
	*listState[ttlview.StampedWord]
}

func newStampedWordListState(base stateBase, n int) *stampedWordListState {
	word := base.spec.Word
	return &stampedWordListState{&listState[ttlview.StampedWord]{stateBase: base,
		tables:  newTables[*listCell[ttlview.StampedWord]](n),
		fromAny: func(v any) (ttlview.StampedWord, error) { return unstampWord(&base, v) },
		encode: func(dst []byte, e ttlview.StampedWord) ([]byte, error) {
			return appendStampedWord(word, dst, e)
		},
		decode: func(src []byte) (ttlview.StampedWord, error) { return decodeStampedWord(word, src) },
		boxed: func(es []ttlview.StampedWord) []any {
			vs := make([]any, len(es))
			for i, e := range es {
				vs[i] = ttlview.Stamped{At: e.At, V: word.Box(e.W)}
			}
			return vs
		},
		stamp:   func(e ttlview.StampedWord) (int64, bool) { return e.At, true },
		restamp: func(e ttlview.StampedWord, at int64) ttlview.StampedWord { e.At = at; return e },
	}}
}

func (s *stampedWordListState) internal() backend.State { return s }

// StampedWords implements ttlview.StampedWordList.
func (s *stampedWordListState) StampedWords() ([]ttlview.StampedWord, error) { return s.items() }

// AddStampedWords implements ttlview.StampedWordList.
func (s *stampedWordListState) AddStampedWords(ws []uint64, at int64) error {
	if len(ws) == 1 {
		return s.add(ttlview.StampedWord{W: ws[0], At: at})
	}
	if len(ws) == 0 {
		return s.add()
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	c.items = slices.Grow(c.items, len(ws))
	for _, w := range ws {
		c.items = append(c.items, ttlview.StampedWord{W: w, At: at})
	}
	return nil
}

// UpdateStampedWords implements ttlview.StampedWordList.
func (s *stampedWordListState) UpdateStampedWords(ws []ttlview.StampedWord) error {
	if len(ws) == 1 {
		return s.setOne(ws[0])
	}
	return s.set(slices.Clone(ws))
}

var (
	_ ttlview.StampedWordValue = (*stampedWordState)(nil)
	_ ttlview.StampedWordList  = (*stampedWordListState)(nil)
	_ cleanable                = (*stampedWordState)(nil)
	_ cleanable                = (*stampedWordListState)(nil)
)
