package backend

import "iter"

// Word describes a value type that fits in one machine word without pointers (8-byte
// integers and floats, and named types of them such as time.Duration). A backend that keeps
// values in memory may store such values unboxed, as uint64 words, and serve them through
// WordValue and WordList: no allocation per update and no pointer to follow
// per read. Spec.Word is set for value, reducing, list and map states of such value types.
type Word struct {
	// Box converts a word to the boxed value the serializer takes; Unbox converts back and
	// fails, as the serializer would, for a value of another type (nil is the zero value).
	Box   func(w uint64) any
	Unbox func(v any) (uint64, error)
	// Append appends the state serializer's encoding of a word and Decode decodes one, so
	// that a backend that serializes (lsm, snapshots) need not box a value per call.
	Append func(dst []byte, w uint64) ([]byte, error)
	Decode func(src []byte) (uint64, error)
	// KeyWord is set when the serializer is a serde.WordKey: it returns the key encoding of a
	// word as a big-endian word, so that a backend can key entries by their encoding (two map
	// user keys are one entry exactly when their encodings are equal) without serializing.
	KeyWord func(w uint64) uint64
}

// WordValue is implemented by the Value of a backend that keeps the values of
// a Spec with Word unboxed.
type WordValue interface {
	Value
	// WordValue returns the value as a word, or ok=false when there is none.
	WordValue() (w uint64, ok bool, err error)
	// UpdateWord sets the value from a word.
	UpdateWord(w uint64) error
}

// WordList is implemented by the List of a backend that keeps the elements of
// a Spec with Word unboxed.
type WordList interface {
	List
	// WordList returns the elements as words; the slice must not be modified and is valid
	// until the next write to the state. Empty means no state.
	WordList() ([]uint64, error)
	AddWord(w uint64) error
	AddWords(ws []uint64) error
	// UpdateWords replaces the list; an empty ws clears it. ws is not retained.
	UpdateWords(ws []uint64) error
}

// WordKeyed is implemented by a Keyed backend that takes an 8-byte serialized
// key as a big-endian word: SetCurrentKeyWord(w, kg) does what SetCurrentKey does with the 8
// bytes of w. state.KeyedBackend uses it for keys whose serializer is a serde.WordKey, so setting
// the current key serializes and copies nothing.
type WordKeyed interface {
	SetCurrentKeyWord(w uint64, kg int) error
}

// WordMap is implemented by the Map of a backend that keeps the entries of a
// map state unboxed when its user keys are word keys (Spec.UserKeyWord with KeyWord) and its
// values fit in a word (Spec.Word): a read, a write or an iteration boxes nothing.
type WordMap interface {
	WordKeyMap
	GetWord(uk uint64) (v uint64, ok bool, err error)
	PutWord(uk, v uint64) error
	// AllWords iterates the entries as words; as with Map.All, the map may only lose
	// the entry just yielded meanwhile.
	AllWords() iter.Seq2[WordEntry, error]
}

// WordEntry is one entry of a WordMap.
type WordEntry struct{ Key, Value uint64 }

// WordKeyMap is implemented by the Map of a backend that looks up the user
// keys of a Spec with UserKeyWord as words: a read or a removal boxes nothing.
type WordKeyMap interface {
	GetWordKey(uk uint64) (v any, ok bool, err error)
	ContainsWordKey(uk uint64) (bool, error)
	RemoveWordKey(uk uint64) error
}
