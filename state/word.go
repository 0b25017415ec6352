package state

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
)

// isWord reports whether V fits in a word without pointers.
func isWord[V any]() bool {
	switch reflect.TypeFor[V]().Kind() {
	case reflect.Int64, reflect.Uint64, reflect.Float64, reflect.Int, reflect.Uint, reflect.Uintptr:
		return unsafe.Sizeof(*new(V)) == 8
	}
	return false
}

// wordOf returns the backend.Word of V serialized by ser, or nil if V does not fit in a word
// without pointers.
func wordOf[V any](ser serde.Serializer[V]) *backend.Word {
	if !isWord[V]() {
		return nil
	}
	w := &backend.Word{
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

// wordState returns in as an backend.WordValue if the backend keeps it unboxed and V is a
// word type. A state registered for one word type may be fetched for another with the same
// serializer (int and int64 share "int64"): both are 8 bytes, so the reinterpretation holds.
func wordState[V any](in backend.Value) backend.WordValue {
	if w, ok := in.(backend.WordValue); ok && isWord[V]() {
		return w
	}
	return nil
}

// wordList returns in as an backend.WordList if the backend keeps it unboxed and V is a word
// type (see wordState).
func wordList[V any](in backend.List) backend.WordList {
	if w, ok := in.(backend.WordList); ok && isWord[V]() {
		return w
	}
	return nil
}

// wordKeys returns in as an backend.WordKeyMap if the backend looks up its user keys as
// words and UK is a word type (see wordState).
func wordKeys[UK any](in backend.Broadcast) backend.WordKeyMap {
	if w, ok := in.(backend.WordKeyMap); ok && isWord[UK]() {
		return w
	}
	return nil
}

// wordMap returns in as an backend.WordMap if the backend keeps its entries unboxed and UK and
// UV are word types (see wordState).
func wordMap[UK, UV any](in backend.Broadcast) backend.WordMap {
	if w, ok := in.(backend.WordMap); ok && isWord[UK]() && isWord[UV]() {
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
