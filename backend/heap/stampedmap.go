package heap

import (
	"iter"
	"math"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
)

// stampedWordMapState serves TTL map states whose user keys are word keys and whose values
// are words: a wordMapState whose values are stamped words (ttlview.StampedWordMap), each word
// beside its stamp, in the cells and in the point index alike. The erased API (Get, Put, All)
// takes and returns ttlview.Stamped values of the boxed words.
type stampedWordMapState struct {
	wordMaps[ttlview.StampedWord]
}

func newStampedWordMapState(base stateBase, n int) *stampedWordMapState {
	return &stampedWordMapState{newWordMaps[ttlview.StampedWord](base, n)}
}

func (s *stampedWordMapState) internal() backend.State { return s }

// GetStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) GetStampedWord(uk uint64) (uint64, int64, bool, error) {
	k := s.spec.UserKeyWord.KeyWord(uk)
	if b := s.b; b.hasKey && b.curKey.form == formU64 && len(s.ns) == 0 { // indexed, as wordMapState.GetWord
		e, found := s.index[b.kgIdx].get(b.curKey.u, k)
		return e.W, e.At, found, nil
	}
	e, ok, err := s.getCell(k)
	return e.W, e.At, ok, err
}

// PutStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) PutStampedWord(uk, v uint64, at int64) error {
	return s.put(s.spec.UserKeyWord.KeyWord(uk), ttlview.StampedWord{W: v, At: at})
}

// RemoveStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) RemoveStampedWord(uk uint64) error {
	return s.remove(s.spec.UserKeyWord.KeyWord(uk))
}

// AllStampedWords implements ttlview.StampedWordMap.
func (s *stampedWordMapState) AllStampedWords() iter.Seq2[ttlview.StampedWordEntry, error] {
	return func(yield func(ttlview.StampedWordEntry, error) bool) {
		s.all(func(uk uint64, v ttlview.StampedWord, err error) bool {
			return yield(ttlview.StampedWordEntry{Key: uk, Value: v}, err)
		})
	}
}

// The erased API, as wordMapState's with ttlview.Stamped values.

func (s *stampedWordMapState) Get(uk any) (any, bool, error) {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return nil, false, err
	}
	v, at, ok, err := s.GetStampedWord(w)
	if !ok || err != nil {
		return nil, false, err
	}
	return ttlview.Stamped{At: at, V: s.spec.Word.Box(v)}, true, nil
}

func (s *stampedWordMapState) Contains(uk any) (bool, error) {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return false, err
	}
	_, _, ok, err := s.GetStampedWord(w)
	return ok, err
}

func (s *stampedWordMapState) Put(uk, v any) error {
	kw, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return err
	}
	sw, err := unstampWord(&s.stateBase, v)
	if err != nil {
		return err
	}
	return s.PutStampedWord(kw, sw.W, sw.At)
}

func (s *stampedWordMapState) Remove(uk any) error {
	w, err := s.spec.UserKeyWord.Unbox(uk)
	if err != nil {
		return err
	}
	return s.RemoveStampedWord(w)
}

func (s *stampedWordMapState) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		for e, err := range s.AllStampedWords() {
			if err != nil {
				yield(backend.MapEntry{}, err)
				return
			}
			v := ttlview.Stamped{At: e.Value.At, V: s.spec.Word.Box(e.Value.W)}
			if !yield(backend.MapEntry{Key: s.spec.UserKeyWord.Box(e.Key), Value: v}, nil) {
				return
			}
		}
	}
}

func (s *stampedWordMapState) freeze() frozen {
	word, exp := s.spec.Word, ttlview.ExpiryAt(s.spec.TTL, s.b.clock)
	return &frozenWordMaps[ttlview.StampedWord]{
		encode: func(dst []byte, e ttlview.StampedWord) ([]byte, error) { return appendStampedWord(word, dst, e) },
		dead:   func(e ttlview.StampedWord) bool { return exp.Expired(e.At) },
		tables: freezeAll(s.tables)}
}

func (s *stampedWordMapState) restore(kgIdx int, r *rawRecord) error {
	v, err := decodeStampedWord(s.spec.Word, r.value)
	if err != nil {
		return err
	}
	return s.restoreEntry(kgIdx, r, v)
}

func (s *stampedWordMapState) eachIn(kg int, fn func(key, ns []byte)) { eachIn(s.tables, kg, fn) }

// clean implements cleanable: the entries are removed from (and restamped in) the current
// layer's copy of the map, and in the point index when k is indexed.
func (s *stampedWordMapState) clean(kg int, k *tkey, x ttlview.Expiry) (int, int64) {
	c, ok := readable(s.b, s.tables, kg).get(k)
	if !ok {
		return 1, math.MaxInt64
	}
	change, earliest := survey(x, func(yield func(int64) bool) {
		c.each(func(_ uint64, e ttlview.StampedWord) bool { return yield(e.At) })
	})
	checked := max(1, c.len())
	if !change {
		return checked, earliest
	}
	t := writableKey(&s.stateBase, s.tables, kg, k)
	c.own(t.epoch)
	var idx *wordIndex[ttlview.StampedWord]
	if k.form == formU64 { // an 8-byte key in the void namespace: indexed
		idx = &s.index[kg]
	}
	var dead, renewed []wordEntry[ttlview.StampedWord]
	c.each(func(uk uint64, e ttlview.StampedWord) bool {
		switch expired, restamp, at := x.Judge(e.At); {
		case expired:
			dead = append(dead, wordEntry[ttlview.StampedWord]{k: uk})
		case restamp:
			renewed = append(renewed, wordEntry[ttlview.StampedWord]{k: uk, v: ttlview.StampedWord{W: e.W, At: at}})
		}
		return true
	})
	for _, e := range dead {
		c.remove(e.k)
		if idx != nil {
			idx.del(k.u, e.k)
		}
	}
	for _, e := range renewed {
		c.put(e.k, e.v)
		if idx != nil {
			idx.put(k.u, e.k, e.v)
		}
	}
	if c.len() == 0 {
		t.del(k)
	} else {
		t.put(k, c)
	}
	return checked, earliest
}

var (
	_ ttlview.StampedWordMap = (*stampedWordMapState)(nil)
	_ cleanable              = (*stampedWordMapState)(nil)
)
