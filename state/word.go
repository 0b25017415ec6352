package state

import (
	"reflect"
	"unsafe"
)

// Word describes a value type that fits in one machine word without pointers (8-byte
// integers and floats, and named types of them such as time.Duration). A backend that keeps
// values in memory may store such values unboxed, as uint64 words, and serve them through
// InternalWordValue: no allocation per update and no pointer to follow per read. Spec.Word
// is set for value and reducing states of such types.
type Word struct {
	// Box converts a word to the boxed value the serializer takes; Unbox converts back.
	Box   func(w uint64) any
	Unbox func(v any) uint64
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

// wordOf returns the Word of V, or nil if V does not fit in a word without pointers.
func wordOf[V any]() *Word {
	switch reflect.TypeFor[V]().Kind() {
	case reflect.Int64, reflect.Uint64, reflect.Float64, reflect.Int, reflect.Uint, reflect.Uintptr:
	default:
		return nil
	}
	if unsafe.Sizeof(*new(V)) != 8 {
		return nil
	}
	return &Word{
		Box:   func(w uint64) any { return fromWord[V](w) },
		Unbox: func(v any) uint64 { return toWord(cast[V](v)) },
	}
}

// wordState returns in as an InternalWordValue if the backend keeps it unboxed and V is a
// word type. A state registered for one word type may be fetched for another with the same
// serializer (int and int64 share "int64"): both are 8 bytes, so the reinterpretation holds.
func wordState[V any](in InternalValue) InternalWordValue {
	if w, ok := in.(InternalWordValue); ok && wordOf[V]() != nil {
		return w
	}
	return nil
}

// toWord and fromWord reinterpret a V for which wordOf is not nil.
func toWord[V any](v V) uint64 { return *(*uint64)(unsafe.Pointer(&v)) }

func fromWord[V any](w uint64) V { return *(*V)(unsafe.Pointer(&w)) }
