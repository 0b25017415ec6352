package state

import (
	"fmt"
	"iter"
	"reflect"
	"unsafe"

	"github.com/streamstate/streamstate/serde"
)

// Word describes a value type that fits in one machine word without pointers (8-byte
// integers and floats, and named types of them such as time.Duration). A backend that keeps
// values in memory may store such values unboxed, as uint64 words, and serve them through
// InternalWordValue and InternalWordList: no allocation per update and no pointer to follow
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

// InternalWordValue is implemented by the InternalValue of a backend that keeps the values of
// a Spec with Word unboxed.
type InternalWordValue interface {
	InternalValue
	// WordValue returns the value as a word, or ok=false when there is none.
	WordValue() (w uint64, ok bool, err error)
	// UpdateWord sets the value from a word.
	UpdateWord(w uint64) error
}

// InternalWordList is implemented by the InternalList of a backend that keeps the elements of
// a Spec with Word unboxed.
type InternalWordList interface {
	InternalList
	// WordList returns the elements as words; the slice must not be modified and is valid
	// until the next write to the state. Empty means no state.
	WordList() ([]uint64, error)
	AddWord(w uint64) error
	AddWords(ws []uint64) error
	// UpdateWords replaces the list; an empty ws clears it. ws is not retained.
	UpdateWords(ws []uint64) error
}

// isWord reports whether V fits in a word without pointers.
func isWord[V any]() bool {
	switch reflect.TypeFor[V]().Kind() {
	case reflect.Int64, reflect.Uint64, reflect.Float64, reflect.Int, reflect.Uint, reflect.Uintptr:
		return unsafe.Sizeof(*new(V)) == 8
	}
	return false
}

// WordKeyedStateBackend is implemented by a KeyedStateBackend that takes an 8-byte serialized
// key as a big-endian word: SetCurrentKeyWord(w, kg) does what SetCurrentKey does with the 8
// bytes of w. KeyedBackend uses it for keys whose serializer is a serde.WordKey, so setting
// the current key serializes and copies nothing.
type WordKeyedStateBackend interface {
	SetCurrentKeyWord(w uint64, kg int) error
}

// InternalWordMap is implemented by the InternalMap of a backend that keeps the entries of a
// map state unboxed when its user keys are word keys (Spec.UserKeyWord with KeyWord) and its
// values fit in a word (Spec.Word): a read, a write or an iteration boxes nothing.
type InternalWordMap interface {
	InternalWordKeyMap
	GetWord(uk uint64) (v uint64, ok bool, err error)
	PutWord(uk, v uint64) error
	// AllWords iterates the entries as words; as with InternalMap.All, the map may only lose
	// the entry just yielded meanwhile.
	AllWords() iter.Seq2[WordEntry, error]
}

// WordEntry is one entry of an InternalWordMap.
type WordEntry struct{ Key, Value uint64 }

// InternalWordKeyMap is implemented by the InternalMap of a backend that looks up the user
// keys of a Spec with UserKeyWord as words: a read or a removal boxes nothing.
type InternalWordKeyMap interface {
	GetWordKey(uk uint64) (v any, ok bool, err error)
	ContainsWordKey(uk uint64) (bool, error)
	RemoveWordKey(uk uint64) error
}

// wordOf returns the Word of V serialized by ser, or nil if V does not fit in a word
// without pointers.
func wordOf[V any](ser serde.Serializer[V]) *Word {
	if !isWord[V]() {
		return nil
	}
	w := &Word{
		Box: func(w uint64) any { return fromWord[V](w) },
		Unbox: func(v any) (uint64, error) {
			x, ok := v.(V)
			if !ok && v != nil {
				return 0, fmt.Errorf("serde: %s cannot encode a %T", ser.ID(), v)
			}
			return toWord(x), nil
		},
		Append: func(dst []byte, w uint64) ([]byte, error) { return ser.Append(dst, fromWord[V](w)) },
		Decode: func(src []byte) (uint64, error) {
			v, err := ser.Decode(src)
			return toWord(v), err
		},
	}
	if kw, ok := ser.(serde.WordKey[V]); ok {
		w.KeyWord = func(x uint64) uint64 { return kw.KeyWord(fromWord[V](x)) }
	}
	return w
}

// wordState returns in as an InternalWordValue if the backend keeps it unboxed and V is a
// word type. A state registered for one word type may be fetched for another with the same
// serializer (int and int64 share "int64"): both are 8 bytes, so the reinterpretation holds.
func wordState[V any](in InternalValue) InternalWordValue {
	if w, ok := in.(InternalWordValue); ok && isWord[V]() {
		return w
	}
	return nil
}

// wordList returns in as an InternalWordList if the backend keeps it unboxed and V is a word
// type (see wordState).
func wordList[V any](in InternalList) InternalWordList {
	if w, ok := in.(InternalWordList); ok && isWord[V]() {
		return w
	}
	return nil
}

// wordKeys returns in as an InternalWordKeyMap if the backend looks up its user keys as
// words and UK is a word type (see wordState).
func wordKeys[UK any](in InternalBroadcast) InternalWordKeyMap {
	if w, ok := in.(InternalWordKeyMap); ok && isWord[UK]() {
		return w
	}
	return nil
}

// wordMap returns in as an InternalWordMap if the backend keeps its entries unboxed and UK and
// UV are word types (see wordState).
func wordMap[UK, UV any](in InternalBroadcast) InternalWordMap {
	if w, ok := in.(InternalWordMap); ok && isWord[UK]() && isWord[UV]() {
		return w
	}
	return nil
}

// toWord and fromWord reinterpret a V for which wordOf is not nil.
func toWord[V any](v V) uint64 { return *(*uint64)(unsafe.Pointer(&v)) }

func fromWord[V any](w uint64) V { return *(*V)(unsafe.Pointer(&w)) }

// asWords reinterprets a []V for which wordOf is not nil, without copying.
func asWords[V any](vs []V) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(vs))), len(vs))
}

// fromWords reinterprets words as a []V for which wordOf is not nil, without copying.
func fromWords[V any](ws []uint64) []V {
	return unsafe.Slice((*V)(unsafe.Pointer(unsafe.SliceData(ws))), len(ws))
}
