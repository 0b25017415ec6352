package serde

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// ErrDecode is wrapped by every error that reports bytes a serializer cannot decode.
var ErrDecode = errors.New("serde: cannot decode")

// Serializer turns values of T into bytes and back.
//
// ID names the serializer and its format version ("int64", "string", "json:main.Order"). It is
// recorded in snapshots: a restore whose descriptor's serializer has another ID, and does not
// declare the recorded one as an alias (see Aliased), fails with
// state.ErrIncompatibleSerializer. Append must append to dst and return the extended slice;
// Decode must consume exactly all of src and must never panic, whatever the bytes.
// Serializers are stateless and safe for concurrent use.
type Serializer[T any] interface {
	ID() string
	Append(dst []byte, v T) ([]byte, error)
	Decode(src []byte) (T, error)
}

// Fixed is implemented by serializers whose encoding always has Size() bytes and whose byte
// order equals the value order. Their encoding is used as-is inside keys.
type Fixed interface{ Size() int }

// WordKey is implemented by serializers whose key encoding is 8 bytes (int64, int, uint64,
// float64): KeyWord returns that encoding as a big-endian word, never failing, so the current
// key can be set without serializing it into a byte slice.
type WordKey[T any] interface {
	KeyWord(v T) uint64
}

func decodeErr(id string, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrDecode, id, fmt.Sprintf(format, args...))
}

func wantLen(id string, src []byte, n int) error {
	if len(src) != n {
		return decodeErr(id, "got %d bytes, want %d", len(src), n)
	}
	return nil
}

// Int64 encodes int64 as 8 big-endian bytes with the sign bit flipped, so byte order is
// numeric order.
type Int64 struct{}

func (Int64) ID() string { return "int64" }
func (Int64) Size() int  { return 8 }
func (Int64) Append(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, Int64{}.KeyWord(v)), nil
}
func (Int64) KeyWord(v int64) uint64 { return uint64(v) ^ (1 << 63) }
func (s Int64) Decode(src []byte) (int64, error) {
	if err := wantLen(s.ID(), src, 8); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(src) ^ (1 << 63)), nil
}

// Int encodes int exactly as Int64 does.
type Int struct{}

func (Int) ID() string { return "int64" }
func (Int) Size() int  { return 8 }
func (Int) Append(dst []byte, v int) ([]byte, error) {
	return Int64{}.Append(dst, int64(v))
}
func (Int) KeyWord(v int) uint64 { return Int64{}.KeyWord(int64(v)) }
func (s Int) Decode(src []byte) (int, error) {
	v, err := Int64{}.Decode(src)
	if err != nil {
		return 0, err
	}
	if int64(int(v)) != v { // only where int has 32 bits
		return 0, decodeErr(s.ID(), "%d does not fit in an int", v)
	}
	return int(v), nil
}

// Int32 encodes int32 as 4 big-endian bytes with the sign bit flipped.
type Int32 struct{}

func (Int32) ID() string { return "int32" }
func (Int32) Size() int  { return 4 }
func (Int32) Append(dst []byte, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)^(1<<31)), nil
}
func (s Int32) Decode(src []byte) (int32, error) {
	if err := wantLen(s.ID(), src, 4); err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(src) ^ (1 << 31)), nil
}

// Uint64 encodes uint64 as 8 big-endian bytes.
type Uint64 struct{}

func (Uint64) ID() string { return "uint64" }
func (Uint64) Size() int  { return 8 }
func (Uint64) Append(dst []byte, v uint64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, v), nil
}
func (Uint64) KeyWord(v uint64) uint64 { return v }
func (s Uint64) Decode(src []byte) (uint64, error) {
	if err := wantLen(s.ID(), src, 8); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(src), nil
}

// Uint32 encodes uint32 as 4 big-endian bytes.
type Uint32 struct{}

func (Uint32) ID() string { return "uint32" }
func (Uint32) Size() int  { return 4 }
func (Uint32) Append(dst []byte, v uint32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, v), nil
}
func (s Uint32) Decode(src []byte) (uint32, error) {
	if err := wantLen(s.ID(), src, 4); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(src), nil
}

// Float64 encodes float64 so that byte order is numeric order (negative numbers have all bits
// flipped, positive numbers only the sign bit). -0 is encoded as +0, since the two are equal
// (so they are one key, as in a Go map); NaNs are encoded with the sign bit cleared and sort
// after +Inf.
type Float64 struct{}

func (Float64) ID() string { return "float64" }
func (Float64) Size() int  { return 8 }
func (Float64) Append(dst []byte, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, Float64{}.KeyWord(v)), nil
}
func (Float64) KeyWord(v float64) uint64 {
	if v == 0 {
		v = 0 // -0 == +0: one encoding, or byte order would not be numeric order
	}
	b := math.Float64bits(v)
	if v != v {
		b &^= 1 << 63 // a NaN with the sign bit set would sort before -Inf
	}
	if b&(1<<63) != 0 {
		return ^b
	}
	return b | 1<<63
}
func (s Float64) Decode(src []byte) (float64, error) {
	if err := wantLen(s.ID(), src, 8); err != nil {
		return 0, err
	}
	b := binary.BigEndian.Uint64(src)
	if b&(1<<63) != 0 {
		b &^= 1 << 63
	} else {
		b = ^b
	}
	return math.Float64frombits(b), nil
}

// Float32 encodes float32 order-preservingly, as Float64 does (-0 as +0, NaNs after +Inf).
type Float32 struct{}

func (Float32) ID() string { return "float32" }
func (Float32) Size() int  { return 4 }
func (Float32) Append(dst []byte, v float32) ([]byte, error) {
	if v == 0 {
		v = 0
	}
	b := math.Float32bits(v)
	if v != v {
		b &^= 1 << 31
	}
	if b&(1<<31) != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return binary.BigEndian.AppendUint32(dst, b), nil
}
func (s Float32) Decode(src []byte) (float32, error) {
	if err := wantLen(s.ID(), src, 4); err != nil {
		return 0, err
	}
	b := binary.BigEndian.Uint32(src)
	if b&(1<<31) != 0 {
		b &^= 1 << 31
	} else {
		b = ^b
	}
	return math.Float32frombits(b), nil
}

// Bool encodes false as 0 and true as 1.
type Bool struct{}

func (Bool) ID() string { return "bool" }
func (Bool) Size() int  { return 1 }
func (Bool) Append(dst []byte, v bool) ([]byte, error) {
	if v {
		return append(dst, 1), nil
	}
	return append(dst, 0), nil
}
func (s Bool) Decode(src []byte) (bool, error) {
	if err := wantLen(s.ID(), src, 1); err != nil {
		return false, err
	}
	switch src[0] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, decodeErr(s.ID(), "byte %#x is neither 0 nor 1", src[0])
}

// String encodes a string as its bytes.
type String struct{}

func (String) ID() string { return "string" }
func (String) Append(dst []byte, v string) ([]byte, error) {
	return append(dst, v...), nil
}
func (String) Decode(src []byte) (string, error) { return string(src), nil }

// Bytes encodes a byte slice as itself; Decode returns a copy.
type Bytes struct{}

func (Bytes) ID() string { return "bytes" }
func (Bytes) Append(dst []byte, v []byte) ([]byte, error) {
	return append(dst, v...), nil
}
func (Bytes) Decode(src []byte) ([]byte, error) { return append([]byte{}, src...), nil }

// Time encodes a time.Time as its Unix nanoseconds (an Int64 encoding), so byte order is time
// order. The location and monotonic reading are not kept: decoded times are in UTC. Times
// outside the years 1678..2262 cannot be represented and fail to encode.
type Time struct{}

func (Time) ID() string { return "time-unixnano" }
func (Time) Size() int  { return 8 }
func (Time) Append(dst []byte, v time.Time) ([]byte, error) {
	ns := v.UnixNano()
	if !time.Unix(0, ns).Equal(v) {
		return dst, fmt.Errorf("serde: time %v is outside the range of Unix nanoseconds", v)
	}
	return Int64{}.Append(dst, ns)
}
func (Time) Decode(src []byte) (time.Time, error) {
	ns, err := Int64{}.Decode(src)
	if err != nil {
		return time.Time{}, fmt.Errorf("time-unixnano: %w", err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// JSON is the fallback for structs and other types without a dedicated serializer: it uses
// encoding/json, so only exported fields are kept. Its ID is "json:" followed by Name, or by
// the Go type of T when Name is empty, so a state restored with a JSON serializer of another
// type is reported as incompatible. Give state types a Name so that renaming the Go type or
// its package does not change the ID, and list earlier names in Aliases (see Aliased).
type JSON[T any] struct {
	// Name is the serializer's stable name: the ID is "json:" + Name. Default (empty): the Go
	// type of T as reflect prints it ("main.Order"), which changes when the type or its
	// package is renamed. A named serializer also reads state recorded under the Go-type ID,
	// so naming a serializer never breaks existing state.
	Name string
	// Aliases are earlier names (without "json:"), such as a Go type name before a rename:
	// state recorded as "json:" + alias is read as is and recorded under the new ID from then
	// on. Only list names whose JSON encoding is the same (the same fields, tags and types).
	// Default: none.
	Aliases []string
}

// ID returns "json:" followed by Name, or by the Go type of T when Name is empty.
func (s JSON[T]) ID() string { return namedID[T]("json:", s.Name) }
func (JSON[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("serde: json encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}
func (s JSON[T]) Decode(src []byte) (T, error) {
	var v T
	if err := json.Unmarshal(src, &v); err != nil {
		return v, decodeErr(s.ID(), "%v", err)
	}
	return v, nil
}

// CBOR encodes structs and other composite types in CBOR (RFC 8949) with
// github.com/fxamacker/cbor: like JSON it keeps exported fields by name, so fields can be
// added and removed, but it is binary, smaller and several times faster, which matters for
// state that is read and written per record. Set it on a descriptor (or a window's
// StateSerializer) to use it; Of keeps JSON as the fallback so existing snapshots stay
// readable. Its ID is "cbor:" followed by Name, or by the Go type of T when Name is empty
// (see JSON for Name and Aliases). Decoding bounds nesting and sizes and rejects trailing
// bytes.
type CBOR[T any] struct {
	// Name is the serializer's stable name: the ID is "cbor:" + Name. Default (empty): the Go
	// type of T. A named serializer also reads state recorded under the Go-type ID.
	Name string
	// Aliases are earlier names (without "cbor:") whose state is read as is; only names whose
	// CBOR encoding is the same. Default: none.
	Aliases []string
}

var (
	cborEnc, _ = cbor.CoreDetEncOptions().EncMode() // map keys sorted: equal values, equal bytes
	cborDec, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
)

// ID returns "cbor:" followed by Name, or by the Go type of T when Name is empty.
func (s CBOR[T]) ID() string { return namedID[T]("cbor:", s.Name) }

func (s CBOR[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := cborEnc.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("serde: cbor encode %T: %w", v, err)
	}
	return append(dst, b...), nil
}

func (s CBOR[T]) Decode(src []byte) (T, error) {
	var v T
	if err := cborDec.Unmarshal(src, &v); err != nil {
		return v, decodeErr(s.ID(), "%v", err)
	}
	return v, nil
}

// Of returns the built-in serializer for T, or the JSON fallback when T has none.
func Of[T any]() Serializer[T] {
	var s any
	switch any(*new(T)).(type) {
	case int64:
		s = Int64{}
	case int:
		s = Int{}
	case int32:
		s = Int32{}
	case uint64:
		s = Uint64{}
	case uint32:
		s = Uint32{}
	case float64:
		s = Float64{}
	case float32:
		s = Float32{}
	case bool:
		s = Bool{}
	case string:
		s = String{}
	case []byte:
		s = Bytes{}
	case time.Time:
		s = Time{}
	default:
		return JSON[T]{}
	}
	return s.(Serializer[T])
}
