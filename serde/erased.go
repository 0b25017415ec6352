package serde

import (
	"bytes"
	"fmt"
	"reflect"
)

// Erased is a Serializer with its type erased, for the backends, which store values of many
// types side by side. Values passed to Append must have the serializer's type.
type Erased interface {
	ID() string
	AppendAny(dst []byte, v any) ([]byte, error)
	DecodeAny(src []byte) (any, error)
	// Immutable reports whether values of the serializer's type can be shared: no holder of
	// one can change it in place for another (see Immutable). Backends that keep the values
	// they are given skip copying such values.
	Immutable() bool
	// Copy returns a copy of v that shares nothing a holder could change in place with v:
	// v itself when Immutable, else the serializer's Copier, else v encoded and decoded
	// again. The error is the encoding's or decoding's.
	Copy(v any) (any, error)
}

// Immutable is implemented by serializers that declare whether their values can be changed in
// place (Flink's TypeSerializer.isImmutableType). Without it, Erase decides from T itself: a
// T holding only booleans, numbers, strings and arrays or structs of them is immutable once
// boxed in an interface (reading it out copies it); pointers, slices, maps, channels,
// functions and interfaces are not. Implement it to declare a type immutable that holds a
// pointer nobody changes (Time does, for time.Time's location).
type Immutable interface {
	Immutable() bool
}

// Copier is implemented by serializers that copy a value faster than encoding and decoding
// it (Flink's TypeSerializer.copy). Copy must return a value equal to v that shares nothing a
// holder could change in place with v.
type Copier[T any] interface {
	Copy(v T) (T, error)
}

// Erase wraps s as an Erased serializer.
func Erase[T any](s Serializer[T]) Erased {
	e := erased[T]{s: s}
	if d, ok := s.(Immutable); ok {
		e.imm = d.Immutable()
	} else {
		e.imm = immutableType(reflect.TypeFor[T]())
	}
	if c, ok := s.(Copier[T]); ok {
		e.copier = c
	}
	return e
}

type erased[T any] struct {
	s      Serializer[T]
	copier Copier[T]
	imm    bool
}

func (e erased[T]) ID() string      { return e.s.ID() }
func (e erased[T]) Immutable() bool { return e.imm }

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

func (e erased[T]) Copy(v any) (any, error) {
	if e.imm || v == nil {
		return v, nil
	}
	t, ok := v.(T)
	if !ok {
		return nil, fmt.Errorf("serde: %s cannot copy a %T", e.s.ID(), v)
	}
	if e.copier != nil {
		return e.copier.Copy(t)
	}
	b, err := e.s.Append(nil, t)
	if err != nil {
		return nil, fmt.Errorf("serde: copy through %s: %w", e.s.ID(), err)
	}
	c, err := e.s.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("serde: copy through %s: %w", e.s.ID(), err)
	}
	return c, nil
}

// immutableType reports whether a value of t, boxed in an interface, can be shared: it holds
// nothing through which a copy of it could change another.
func immutableType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return t.Len() == 0 || immutableType(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !immutableType(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false // pointers, slices, maps, channels, functions, interfaces
}

// Copy implements Copier: a copy of v's bytes (nil stays nil).
func (Bytes) Copy(v []byte) ([]byte, error) { return bytes.Clone(v), nil }

// Immutable implements Immutable: a time.Time's location is never changed in place.
func (Time) Immutable() bool { return true }
