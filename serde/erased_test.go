package serde_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/streamstate/streamstate/serde"
)

type flat struct {
	A int64
	B string
	C [3]float64
	D struct{ E bool }
}

type withSlice struct {
	A int64
	S []int
}

type accPtr struct {
	N    int64
	Tags []string
}

// declaredImmutable is a serializer that declares its values immutable although they hold a
// pointer.
type declaredImmutable struct{ serde.JSON[*accPtr] }

func (declaredImmutable) Immutable() bool { return true }

// countingCopier copies by hand and counts its calls.
type countingCopier struct {
	serde.JSON[*accPtr]
	calls *int
}

func (c countingCopier) Copy(v *accPtr) (*accPtr, error) {
	*c.calls++
	return &accPtr{N: v.N, Tags: append([]string(nil), v.Tags...)}, nil
}

type failingEncode struct{ serde.JSON[*accPtr] }

func (failingEncode) Append(dst []byte, _ *accPtr) ([]byte, error) {
	return dst, errors.New("cannot encode")
}

func TestErasedImmutable(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    serde.Erased
		want bool
	}{
		{"int64", serde.Erase[int64](serde.Int64{}), true},
		{"string", serde.Erase[string](serde.String{}), true},
		{"bool", serde.Erase[bool](serde.Bool{}), true},
		{"time", serde.Erase[time.Time](serde.Time{}), true},
		{"flat struct", serde.Erase[flat](serde.JSON[flat]{}), true},
		{"bytes", serde.Erase[[]byte](serde.Bytes{}), false},
		{"struct with a slice", serde.Erase[withSlice](serde.CBOR[withSlice]{}), false},
		{"pointer", serde.Erase[*accPtr](serde.JSON[*accPtr]{}), false},
		{"map", serde.Erase[map[string]int](serde.JSON[map[string]int]{}), false},
		{"interface", serde.Erase[any](serde.JSON[any]{}), false},
		{"declared immutable", serde.Erase[*accPtr](declaredImmutable{}), true},
	} {
		if got := tc.e.Immutable(); got != tc.want {
			t.Errorf("%s: Immutable() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErasedCopy(t *testing.T) {
	orig := &accPtr{N: 3, Tags: []string{"a", "b"}}
	for _, tc := range []struct {
		name string
		e    serde.Erased
	}{
		{"json", serde.Erase[*accPtr](serde.JSON[*accPtr]{})},
		{"cbor", serde.Erase[*accPtr](serde.CBOR[*accPtr]{})},
	} {
		c, err := tc.e.Copy(orig)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cp := c.(*accPtr)
		if cp == orig || !reflect.DeepEqual(cp, orig) {
			t.Fatalf("%s: Copy = %+v (same pointer: %v), want an equal, distinct value", tc.name, cp, cp == orig)
		}
		cp.Tags[0] = "changed"
		if orig.Tags[0] != "a" {
			t.Fatalf("%s: the copy shares the slice of the original", tc.name)
		}
	}

	// Immutable values and nil are returned as they are; a Copier is used when present.
	imm := serde.Erase[*accPtr](declaredImmutable{})
	if c, _ := imm.Copy(orig); c != any(orig) {
		t.Errorf("Copy of a declared immutable value copied it")
	}
	if c, err := serde.Erase[*accPtr](serde.JSON[*accPtr]{}).Copy(nil); c != nil || err != nil {
		t.Errorf("Copy(nil) = %v, %v", c, err)
	}
	calls := 0
	if c, err := serde.Erase[*accPtr](countingCopier{calls: &calls}).Copy(orig); err != nil || calls != 1 || c.(*accPtr) == orig {
		t.Errorf("Copy with a Copier: %v, %d calls", err, calls)
	}
	b := []byte("xyz")
	c, err := serde.Erase[[]byte](serde.Bytes{}).Copy(b)
	if err != nil || string(c.([]byte)) != "xyz" || &c.([]byte)[0] == &b[0] {
		t.Errorf("Bytes Copy = %q, %v, or shares the array", c, err)
	}
	if c, _ := serde.Erase[[]byte](serde.Bytes{}).Copy([]byte(nil)); c.([]byte) != nil {
		t.Errorf("Bytes Copy of a nil slice = %#v, want nil", c)
	}

	// Errors: a value of another type, a value that does not encode.
	if _, err := serde.Erase[*accPtr](serde.JSON[*accPtr]{}).Copy("text"); err == nil {
		t.Error("Copy of a string through a *accPtr serializer succeeded")
	}
	if _, err := serde.Erase[*accPtr](failingEncode{}).Copy(orig); err == nil {
		t.Error("Copy through a failing encoder succeeded")
	}
}
