package ttlview

import (
	"iter"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state/ttl"
)

// RawWordSpec is RawSpec for a backend that keeps the values of a TTL state unboxed when
// they fit in a word: it keeps spec.Word (the user's values' word form, whose Append and
// Decode encode a value without its stamp), and the backend's raw state of a spec with Word
// implements StampedWordValue, StampedWordList or StampedWordMap (a map whose user keys are
// word keys too). With's view over such a state is a WordValue, WordList or WordMap, so the
// typed state above it stays unboxed. The stored format is RawSpec's: Value is
// StampSerializer's, each value encoded as AppendStamp followed by Word.Append's bytes. A spec
// without TTL is returned unchanged.
func RawWordSpec(spec backend.Spec) backend.Spec {
	w := spec.Word
	spec = RawSpec(spec)
	spec.Word = w
	return spec
}

// StampedWord is a word value of a TTL state and its stamp.
type StampedWord struct {
	W  uint64
	At int64
}

// StampedWordValue is a raw Value of a TTL state of word values (RawWordSpec with Word) that
// keeps each word beside its stamp. Value and Update take and return Stamped values whose V
// is the boxed word (Word.Box).
type StampedWordValue interface {
	backend.Value
	// StampedWord returns the current value and its stamp, ok=false when there is none.
	StampedWord() (w uint64, at int64, ok bool, err error)
	// UpdateStampedWord sets the current value to w stamped at.
	UpdateStampedWord(w uint64, at int64) error
}

// StampedWordList is a raw List of a TTL state of word elements (RawWordSpec with Word) that
// keeps each word beside its stamp. Get, Add, AddAll and Update take and return Stamped
// values whose V is the boxed word.
type StampedWordList interface {
	backend.List
	// StampedWords returns the elements; the slice must not be modified and is valid until
	// the next write to the state. Empty means no state.
	StampedWords() ([]StampedWord, error)
	// AddStampedWords appends ws, each stamped at; ws is not retained.
	AddStampedWords(ws []uint64, at int64) error
	// UpdateStampedWords replaces the list; an empty ws clears it. ws is not retained.
	UpdateStampedWords(ws []StampedWord) error
}

// StampedWordMap is a raw Map of a TTL state whose user keys are word keys and whose values
// are words (RawWordSpec with UserKeyWord, its KeyWord, and Word) that keeps each value word
// beside its stamp. Get, Put and All take and return Stamped values whose V is the boxed word.
type StampedWordMap interface {
	backend.Map
	// GetStampedWord returns the value of user key uk and its stamp.
	GetStampedWord(uk uint64) (v uint64, at int64, ok bool, err error)
	// PutStampedWord sets user key uk to v stamped at.
	PutStampedWord(uk, v uint64, at int64) error
	// RemoveStampedWord removes user key uk (nothing if absent).
	RemoveStampedWord(uk uint64) error
	// AllStampedWords iterates the entries; as with Map.All, the map may only lose the entry
	// just yielded meanwhile.
	AllStampedWords() iter.Seq2[StampedWordEntry, error]
}

// StampedWordEntry is one entry of a StampedWordMap: a user key and its stamped value.
type StampedWordEntry struct {
	Key   uint64
	Value StampedWord
}

// restampAt is the stamp a read gives an entry stamped at (restamped).
func (t *ttlBase) restampAt(at int64) int64 { return max(at, t.clock.Stamp(t.cfg.Time)) }

// ttlWordValue is a ttlValue over a StampedWordValue: a WordValue too.
type ttlWordValue struct {
	*ttlValue
	sw StampedWordValue
}

// WordValue implements WordValue as Value does for ttlValue.
func (s *ttlWordValue) WordValue() (uint64, bool, error) {
	s.touch()
	w, at, ok, err := s.sw.StampedWord()
	if !ok || err != nil {
		return 0, false, err
	}
	visible, expired, restamp := s.check(Stamped{At: at}, s.now())
	switch {
	case expired:
		err = s.raw.Clear()
	case restamp:
		err = s.sw.UpdateStampedWord(w, s.restampAt(at))
	}
	if err != nil || !visible {
		return 0, false, err
	}
	return w, true, nil
}

// UpdateWord implements WordValue.
func (s *ttlWordValue) UpdateWord(w uint64) error {
	s.touch()
	return s.sw.UpdateStampedWord(w, s.clock.Stamp(s.cfg.Time))
}

// ttlWordList is a ttlList over a StampedWordList: a WordList too.
type ttlWordList struct {
	*ttlList
	sw StampedWordList
	// one and buf are scratch for writes: the raw state does not retain what it is passed.
	one [1]uint64
	buf []StampedWord
}

// WordList implements WordList as Get does for ttlList: it returns the visible elements in a
// new slice, and rewrites the stored list when some expired or stamps change on read.
func (s *ttlWordList) WordList() ([]uint64, error) {
	s.touch()
	raw, err := s.sw.StampedWords()
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	now := s.now()
	out := make([]uint64, 0, len(raw))
	var keep []StampedWord // the live elements, when the stored list must change
	rewrite := false
	for i, e := range raw {
		visible, expired, restamp := s.check(Stamped{At: e.At}, now)
		if visible {
			out = append(out, e.W)
		}
		if (expired || restamp) && !rewrite {
			rewrite = true
			keep = append(make([]StampedWord, 0, len(raw)), raw[:i]...)
		}
		if !expired && rewrite {
			if restamp {
				e.At = s.restampAt(e.At)
			}
			keep = append(keep, e)
		}
	}
	if rewrite {
		if s.cfg.Update == ttl.OnReadAndWrite {
			for i := range keep {
				keep[i].At = s.restampAt(keep[i].At)
			}
		}
		if err := s.sw.UpdateStampedWords(keep); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddWord implements WordList.
func (s *ttlWordList) AddWord(w uint64) error {
	s.touch()
	s.one[0] = w
	return s.sw.AddStampedWords(s.one[:], s.clock.Stamp(s.cfg.Time))
}

// AddWords implements WordList.
func (s *ttlWordList) AddWords(ws []uint64) error {
	s.touch()
	return s.sw.AddStampedWords(ws, s.clock.Stamp(s.cfg.Time))
}

// UpdateWords implements WordList.
func (s *ttlWordList) UpdateWords(ws []uint64) error {
	s.touch()
	at := s.clock.Stamp(s.cfg.Time)
	s.buf = s.buf[:0]
	for _, w := range ws {
		s.buf = append(s.buf, StampedWord{W: w, At: at})
	}
	return s.sw.UpdateStampedWords(s.buf)
}

// ttlWordMap is a ttlMap over a StampedWordMap: a WordMap too.
type ttlWordMap struct {
	*ttlMap
	sw  StampedWordMap
	box func(uint64) any // a value of a word
}

// GetWord implements WordMap as Get does for ttlMap.
func (s *ttlWordMap) GetWord(uk uint64) (uint64, bool, error) {
	if err := s.pending(); err != nil {
		return 0, false, err
	}
	s.touch()
	v, at, ok, err := s.sw.GetStampedWord(uk)
	if !ok || err != nil {
		return 0, false, err
	}
	visible, expired, restamp := s.check(Stamped{At: at}, s.now())
	switch {
	case expired:
		err = s.sw.RemoveStampedWord(uk)
	case restamp:
		err = s.sw.PutStampedWord(uk, v, s.restampAt(at))
	}
	if err != nil || !visible {
		return 0, false, err
	}
	return v, true, nil
}

// PutWord implements WordMap.
func (s *ttlWordMap) PutWord(uk, v uint64) error {
	if err := s.pending(); err != nil {
		return err
	}
	s.touch()
	return s.sw.PutStampedWord(uk, v, s.clock.Stamp(s.cfg.Time))
}

// GetWordKey implements WordKeyMap.
func (s *ttlWordMap) GetWordKey(uk uint64) (any, bool, error) {
	v, ok, err := s.GetWord(uk)
	if !ok || err != nil {
		return nil, false, err
	}
	return s.box(v), true, nil
}

// ContainsWordKey implements WordKeyMap.
func (s *ttlWordMap) ContainsWordKey(uk uint64) (bool, error) {
	_, ok, err := s.GetWord(uk)
	return ok, err
}

// RemoveWordKey implements WordKeyMap.
func (s *ttlWordMap) RemoveWordKey(uk uint64) error {
	if err := s.pending(); err != nil {
		return err
	}
	s.touch()
	return s.sw.RemoveStampedWord(uk)
}

// AllWords implements WordMap as All does for ttlMap: expired entries are removed as they
// are passed, renewed stamps written back after the iteration.
func (s *ttlWordMap) AllWords() iter.Seq2[backend.WordEntry, error] {
	return func(yield func(backend.WordEntry, error) bool) {
		if err := s.pending(); err != nil {
			yield(backend.WordEntry{}, err)
			return
		}
		s.touch()
		now := s.now()
		var renew []StampedWordEntry
		stopped := true
		defer func() {
			for _, e := range renew {
				if err := s.sw.PutStampedWord(e.Key, e.Value.W, s.restampAt(e.Value.At)); err != nil {
					if stopped {
						s.err = err
					} else {
						yield(backend.WordEntry{}, err)
					}
					return
				}
			}
		}()
		for e, err := range s.sw.AllStampedWords() {
			if err != nil {
				yield(backend.WordEntry{}, err)
				return
			}
			visible, expired, restamp := s.check(Stamped{At: e.Value.At}, now)
			if expired {
				if err := s.sw.RemoveStampedWord(e.Key); err != nil {
					yield(backend.WordEntry{}, err)
					return
				}
			} else if restamp {
				renew = append(renew, e)
			}
			if visible && !yield(backend.WordEntry{Key: e.Key, Value: e.Value.W}, nil) {
				return
			}
		}
		stopped = false
	}
}

var (
	_ backend.WordValue = (*ttlWordValue)(nil)
	_ backend.WordList  = (*ttlWordList)(nil)
	_ backend.WordMap   = (*ttlWordMap)(nil)
	_ backend.Map       = (*ttlWordMap)(nil)
)
