package serde

import "fmt"

// Erased is a Serializer with its type erased, for the backends, which store values of many
// types side by side. Values passed to Append must have the serializer's type.
type Erased interface {
	ID() string
	AppendAny(dst []byte, v any) ([]byte, error)
	DecodeAny(src []byte) (any, error)
}

// Erase wraps s as an Erased serializer.
func Erase[T any](s Serializer[T]) Erased { return erased[T]{s} }

type erased[T any] struct{ s Serializer[T] }

func (e erased[T]) ID() string { return e.s.ID() }

func (e erased[T]) AppendAny(dst []byte, v any) ([]byte, error) {
	t, ok := v.(T)
	if !ok {
		if v != nil {
			return dst, fmt.Errorf("serde: %s cannot encode a %T", e.s.ID(), v)
		}
		// A nil interface holds T's zero value (e.g. a nil slice).
	}
	return e.s.Append(dst, t)
}

func (e erased[T]) DecodeAny(src []byte) (any, error) { return e.s.Decode(src) }
