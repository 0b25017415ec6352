package lsm

import (
	"fmt"

	"github.com/streamstate/streamstate/backend"
)

// wordValueState serves value and reducing states whose values fit in a word
// (backend.Spec.Word) without boxing a value per read or write: backend.WordValue.
type wordValueState struct{ valueState }

// WordValue implements backend.WordValue.
func (s *wordValueState) WordValue() (uint64, bool, error) {
	k, err := s.entryKey()
	if err != nil {
		return 0, false, err
	}
	var w uint64
	ok, err := s.get(k, func(v []byte) (err error) {
		w, err = s.spec.Word.Decode(v)
		return err
	})
	return w, ok, err
}

// UpdateWord implements backend.WordValue.
func (s *wordValueState) UpdateWord(w uint64) error {
	k, err := s.entryKey()
	if err != nil {
		return err
	}
	if s.buf, err = s.spec.Word.Append(s.buf[:0], w); err != nil {
		return s.wrap("encode", err)
	}
	return s.put(k)
}

// wordListState serves list states whose elements fit in a word without boxing them:
// backend.WordList. The stored format is the same as listState's.
type wordListState struct{ listState }

// WordList implements backend.WordList.
func (s *wordListState) WordList() ([]uint64, error) {
	k, err := s.entryKey()
	if err != nil {
		return nil, err
	}
	var out []uint64
	_, err = s.get(k, func(v []byte) error {
		var err error
		if s.elems, err = splitList(s.elems[:0], v); err != nil {
			return err
		}
		out = make([]uint64, len(s.elems))
		for i, e := range s.elems {
			if out[i], err = s.spec.Word.Decode(e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	})
	return out, err
}

// AddWord implements backend.WordList.
func (s *wordListState) AddWord(w uint64) error {
	return s.write(1, true, func(dst []byte, _ int) ([]byte, error) { return s.spec.Word.Append(dst, w) })
}

// AddWords implements backend.WordList.
func (s *wordListState) AddWords(ws []uint64) error {
	return s.write(len(ws), true, func(dst []byte, i int) ([]byte, error) { return s.spec.Word.Append(dst, ws[i]) })
}

// UpdateWords implements backend.WordList.
func (s *wordListState) UpdateWords(ws []uint64) error {
	return s.write(len(ws), false, func(dst []byte, i int) ([]byte, error) { return s.spec.Word.Append(dst, ws[i]) })
}

var (
	_ backend.WordValue  = (*wordValueState)(nil)
	_ backend.WordList   = (*wordListState)(nil)
	_ backend.WordKeyMap = (*wordKeyMapState)(nil)
)

// wordKeyMapState serves map states whose user keys fit in a word (backend.Spec.UserKeyWord):
// a lookup serializes the word directly instead of boxing it. backend.WordKeyMap.
type wordKeyMapState struct{ mapState }

func (s *wordKeyMapState) wordKey(uk uint64) ([]byte, error) {
	return s.userKeyWith(func(dst []byte) ([]byte, error) { return s.spec.UserKeyWord.Append(dst, uk) })
}

// GetWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) GetWordKey(uk uint64) (any, bool, error) { return s.getAt(s.wordKey(uk)) }

// ContainsWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) ContainsWordKey(uk uint64) (bool, error) {
	return s.containsAt(s.wordKey(uk))
}

// RemoveWordKey implements backend.WordKeyMap.
func (s *wordKeyMapState) RemoveWordKey(uk uint64) error { return s.removeAt(s.wordKey(uk)) }
