package lsm

import (
	"fmt"
	"iter"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/serde"
)

// The raw states of TTL states. Their spec is ttlview.RawWordSpec's: Value is the
// ttlview.StampSerializer of the user's serializer, so Value, Update, Get, Put and All take
// and return ttlview.Stamped values, and every stored value is the 8-byte stamp
// (backend.AppendStamp) followed by the user serializer's encoding, which Word.Append writes
// too. The methods below read and write the same bytes without a Stamped box, and for word
// values without boxing the value either, so that ttlview.With's view over them stays as
// cheap as a state without TTL.

// newRawState returns the raw state of a state registered with spec (the descriptor's spec,
// TTL or not) stored under base.
func newRawState(spec backend.Spec, base stateBase) backend.State {
	ttlOn := spec.TTL != nil && spec.TTL.Enabled()
	raw := ttlview.RawWordSpec(spec)
	base.spec = raw
	switch {
	case raw.Kind == backend.KindList && ttlOn && raw.Word != nil:
		return &stampedWordListState{listState: listState{stateBase: base}}
	case raw.Kind == backend.KindList && ttlOn:
		return &listState{stateBase: base}
	case raw.Kind == backend.KindList && raw.Word != nil:
		return &wordListState{listState{stateBase: base}}
	case raw.Kind == backend.KindList:
		return &listState{stateBase: base}
	case raw.Kind == backend.KindMap && ttlOn && raw.UserKeyWord != nil && raw.Word != nil:
		return &stampedWordMapState{wordKeyMapState{mapState{stateBase: base}}}
	case raw.Kind == backend.KindMap && raw.UserKeyWord != nil:
		return &wordKeyMapState{mapState{stateBase: base}}
	case raw.Kind == backend.KindMap:
		return &mapState{stateBase: base}
	case ttlOn && raw.Word != nil:
		return &stampedWordValueState{stampedValueState{valueState{base}, spec.Value}}
	case ttlOn:
		return &stampedValueState{valueState{base}, spec.Value}
	case raw.Word != nil:
		return &wordValueState{valueState{base}}
	}
	return &valueState{base}
}

// stampedValueState serves TTL value, reducing and aggregating states:
// ttlview.StampedValue, the stamp decoded beside the value instead of into a Stamped box.
type stampedValueState struct {
	valueState
	inner serde.Erased // the user's value serializer; spec.Value is its StampSerializer
}

// StampedValue implements ttlview.StampedValue.
func (s *stampedValueState) StampedValue() (any, int64, bool, error) {
	k, err := s.entryKey()
	if err != nil {
		return nil, 0, false, err
	}
	var (
		v  any
		at int64
	)
	ok, err := s.get(k, func(b []byte) error {
		var rest []byte
		var err error
		if at, rest, err = backend.StampOf(b); err != nil {
			return err
		}
		v, err = s.inner.DecodeAny(rest)
		return err
	})
	return v, at, ok, err
}

// UpdateStamped implements ttlview.StampedValue.
func (s *stampedValueState) UpdateStamped(v any, at int64) error {
	k, err := s.entryKey()
	if err != nil {
		return err
	}
	if s.buf, err = s.inner.AppendAny(backend.AppendStamp(s.buf[:0], at), v); err != nil {
		return s.wrap("encode", err)
	}
	return s.put(k)
}

// getStampedWord reads the stamped word stored under k.
func (s *stateBase) getStampedWord(k []byte) (w uint64, at int64, ok bool, err error) {
	ok, err = s.get(k, func(b []byte) (err error) {
		w, at, err = s.decodeWord(b)
		return err
	})
	return w, at, ok, err
}

// decodeWord decodes a stored stamped word: its stamp, then the word by spec.Word.
func (s *stateBase) decodeWord(b []byte) (w uint64, at int64, err error) {
	at, rest, err := backend.StampOf(b)
	if err != nil {
		return 0, 0, err
	}
	w, err = s.spec.Word.Decode(rest)
	return w, at, err
}

// stampedWordValueState serves TTL value and reducing states whose values fit in a word
// (spec.Word): ttlview.StampedWordValue, neither the value nor its stamp boxed.
type stampedWordValueState struct{ stampedValueState }

// StampedWord implements ttlview.StampedWordValue.
func (s *stampedWordValueState) StampedWord() (uint64, int64, bool, error) {
	k, err := s.entryKey()
	if err != nil {
		return 0, 0, false, err
	}
	return s.getStampedWord(k)
}

// UpdateStampedWord implements ttlview.StampedWordValue.
func (s *stampedWordValueState) UpdateStampedWord(w uint64, at int64) error {
	k, err := s.entryKey()
	if err != nil {
		return err
	}
	if s.buf, err = s.spec.Word.Append(backend.AppendStamp(s.buf[:0], at), w); err != nil {
		return s.wrap("encode", err)
	}
	return s.put(k)
}

// stampedWordListState serves TTL list states whose elements fit in a word:
// ttlview.StampedWordList. The stored list is listState's, of stamped elements.
type stampedWordListState struct {
	listState
	words []ttlview.StampedWord // what StampedWords returned last
}

// StampedWords implements ttlview.StampedWordList: the slice is the state's and valid until
// its next call.
func (s *stampedWordListState) StampedWords() ([]ttlview.StampedWord, error) {
	k, err := s.entryKey()
	if err != nil {
		return nil, err
	}
	s.words = s.words[:0]
	_, err = s.get(k, func(v []byte) error {
		var err error
		if s.elems, err = splitList(s.elems[:0], v); err != nil {
			return err
		}
		for i, e := range s.elems {
			w, at, err := s.decodeWord(e)
			if err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
			s.words = append(s.words, ttlview.StampedWord{W: w, At: at})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.words, nil
}

// AddStampedWords implements ttlview.StampedWordList.
func (s *stampedWordListState) AddStampedWords(ws []uint64, at int64) error {
	return s.write(len(ws), true, func(dst []byte, i int) ([]byte, error) {
		return s.spec.Word.Append(backend.AppendStamp(dst, at), ws[i])
	})
}

// UpdateStampedWords implements ttlview.StampedWordList.
func (s *stampedWordListState) UpdateStampedWords(ws []ttlview.StampedWord) error {
	return s.write(len(ws), false, func(dst []byte, i int) ([]byte, error) {
		return s.spec.Word.Append(backend.AppendStamp(dst, ws[i].At), ws[i].W)
	})
}

// stampedWordMapState serves TTL map states whose user keys and values fit in a word
// (spec.UserKeyWord and spec.Word): ttlview.StampedWordMap. Its WordKeyMap methods, as Get
// and Put, take and return ttlview.Stamped values.
type stampedWordMapState struct{ wordKeyMapState }

// GetStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) GetStampedWord(uk uint64) (uint64, int64, bool, error) {
	k, err := s.wordKey(uk)
	if err != nil {
		return 0, 0, false, err
	}
	return s.getStampedWord(k)
}

// PutStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) PutStampedWord(uk, v uint64, at int64) error {
	k, err := s.wordKey(uk)
	if err != nil {
		return err
	}
	if s.buf, err = s.spec.Word.Append(backend.AppendStamp(s.buf[:0], at), v); err != nil {
		return s.wrap("encode", err)
	}
	return s.put(k)
}

// RemoveStampedWord implements ttlview.StampedWordMap.
func (s *stampedWordMapState) RemoveStampedWord(uk uint64) error {
	return s.removeAt(s.wordKey(uk))
}

// AllStampedWords implements ttlview.StampedWordMap as All does for mapState.
func (s *stampedWordMapState) AllStampedWords() iter.Seq2[ttlview.StampedWordEntry, error] {
	return func(yield func(ttlview.StampedWordEntry, error) bool) {
		it, err := s.iter()
		if err != nil {
			yield(ttlview.StampedWordEntry{}, err)
			return
		}
		defer it.Close()
		plen := len(s.key)
		for valid := it.First(); valid; valid = it.Next() {
			uk, err := s.spec.UserKeyWord.Decode(it.Key()[plen:])
			if err != nil {
				yield(ttlview.StampedWordEntry{}, s.wrap("decode user key of", err))
				return
			}
			raw, err := it.ValueAndErr()
			if err != nil {
				yield(ttlview.StampedWordEntry{}, s.wrap("read", err))
				return
			}
			w, at, err := s.decodeWord(raw)
			if err != nil {
				yield(ttlview.StampedWordEntry{}, s.wrap("decode", err))
				return
			}
			if !yield(ttlview.StampedWordEntry{Key: uk, Value: ttlview.StampedWord{W: w, At: at}}, nil) {
				return
			}
		}
		if err := it.Error(); err != nil {
			yield(ttlview.StampedWordEntry{}, s.wrap("iterate", err))
		}
	}
}

var (
	_ ttlview.StampedValue     = (*stampedValueState)(nil)
	_ ttlview.StampedWordValue = (*stampedWordValueState)(nil)
	_ ttlview.StampedWordList  = (*stampedWordListState)(nil)
	_ ttlview.StampedWordMap   = (*stampedWordMapState)(nil)
	_ backend.WordKeyMap       = (*stampedWordMapState)(nil)
)
