package serde_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/streamstate/streamstate/serde"
)

// Seeds shared by the fuzzers: every length around the fixed sizes, the special float and
// integer encodings, and escaped keys.
func addSeeds(f *testing.F) {
	for _, s := range [][]byte{
		nil, {0}, {1}, {2}, {0xff},
		{0, 1}, {0, 0xff}, {0, 0xff, 0, 1}, {'a', 0, 0xff, 'b', 0, 1, 'r', 'e', 's', 't'},
		{0, 2}, {0, 0xff, 0}, {0, 0, 0},
		{0x80, 0, 0, 0}, {0x7f, 0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}, {0, 0, 0, 0, 0},
		{0x80, 0, 0, 0, 0, 0, 0, 0}, {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, make([]byte, 9),
		[]byte("hello\x00world"), []byte("\xc3\x28 invalid utf-8"),
	} {
		f.Add(s)
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(), math.Float64frombits(0xfff8000000000001)} {
		f.Add(binary.BigEndian.AppendUint64(nil, math.Float64bits(v)))
		f.Add(binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v))))
		b, _ := serde.Float64{}.Append(nil, v)
		f.Add(b)
	}
	for _, v := range []int64{math.MinInt64, -1, 0, 1, math.MaxInt64} {
		b, _ := serde.Int64{}.Append(nil, v)
		f.Add(append(b, 0, 1))
	}
}

// checkFixed checks a decoder of a fixed-size, exactly invertible format: Decode succeeds only
// on the right length, and re-encoding gives the input back byte for byte.
func checkFixed[T any](t *testing.T, s serde.Serializer[T], data []byte) {
	t.Helper()
	v, err := s.Decode(data)
	if err != nil {
		if !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("%s: Decode(%x): %v does not wrap ErrDecode", s.ID(), data, err)
		}
		if len(data) == s.(serde.Fixed).Size() && s.ID() != "bool" {
			t.Fatalf("%s: Decode of %d bytes failed: %v", s.ID(), len(data), err)
		}
		return
	}
	if len(data) != s.(serde.Fixed).Size() {
		t.Fatalf("%s: Decode accepted %d bytes", s.ID(), len(data))
	}
	enc, err := s.Append(nil, v)
	if err != nil {
		t.Fatalf("%s: Append(Decode(%x) = %v): %v", s.ID(), data, v, err)
	}
	if !bytes.Equal(enc, data) {
		t.Fatalf("%s: Append(Decode(%x)) = %x", s.ID(), data, enc)
	}
}

// checkFloat is checkFixed for floats: -0 and NaNs are re-encoded canonically (as +0, and
// with the sign bit cleared), so only the value must survive; everything else is exact.
func checkFloat[T float32 | float64](t *testing.T, s serde.Serializer[T], data []byte) {
	t.Helper()
	v, err := s.Decode(data)
	if err != nil {
		if !errors.Is(err, serde.ErrDecode) || len(data) == s.(serde.Fixed).Size() {
			t.Fatalf("%s: Decode(%x): %v", s.ID(), data, err)
		}
		return
	}
	enc, err := s.Append(nil, v)
	if err != nil {
		t.Fatalf("%s: Append(%v): %v", s.ID(), v, err)
	}
	v2, err := s.Decode(enc)
	if err != nil || !(v2 == v || (v != v && v2 != v2)) {
		t.Fatalf("%s: Decode(Append(Decode(%x) = %v)) = %v, %v", s.ID(), data, v, v2, err)
	}
	if v != 0 && v == v && !bytes.Equal(enc, data) {
		t.Fatalf("%s: Append(Decode(%x)) = %x", s.ID(), data, enc)
	}
}

// FuzzDecode feeds arbitrary bytes to every built-in Decode except JSON's (FuzzDecodeJSON).
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFixed(t, serde.Int64{}, data)
		checkFixed(t, serde.Int{}, data)
		checkFixed(t, serde.Int32{}, data)
		checkFixed(t, serde.Uint64{}, data)
		checkFixed(t, serde.Uint32{}, data)
		checkFixed(t, serde.Bool{}, data)
		checkFixed(t, serde.Time{}, data)
		checkFloat(t, serde.Float64{}, data)
		checkFloat(t, serde.Float32{}, data)

		str, err := serde.String{}.Decode(data)
		if err != nil || str != string(data) {
			t.Fatalf("String.Decode(%x) = %q, %v", data, str, err)
		}
		if enc, err := (serde.String{}).Append(nil, str); err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("String: Append(Decode(%x)) = %x, %v", data, enc, err)
		}
		b, err := serde.Bytes{}.Decode(data)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("Bytes.Decode(%x) = %x, %v", data, b, err)
		}
		if enc, err := (serde.Bytes{}).Append(nil, b); err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("Bytes: Append(Decode(%x)) = %x, %v", data, enc, err)
		}
	})
}

// FuzzDecodeJSON checks the JSON fallback: Decode never panics, fails only with ErrDecode, and
// what it decodes encodes and decodes again to an equal value.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"X":1,"Y":-2,"Name":"n","Tags":["a",""]}`, `{"Inner":{"F":-0,"B":"AAH/"}}`,
		`{"ID":9007199254740993,"Score":1e308,"Flags":{"a":true,"b":false},"Next":null}`,
		`{"Name":"\u0000\ud800 \u00e9","name":"dup"}`, `{"Tags":[]}`, `{"Flags":{}}`, `{"X":1}x`,
		`{"X":1.5}`, `[1]`, `"s"`, `{"Unknown":[1,{"a":null}]}`, "{\"Name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJSON(t, serde.JSON[point]{}, data)
		checkJSON(t, serde.JSON[record]{}, data)
	})
}

func checkJSON[T any](t *testing.T, s serde.Serializer[T], data []byte) {
	t.Helper()
	checkDecodeStable(t, s, data, func(v, v2 T, _, _ []byte) bool { return reflect.DeepEqual(v, v2) })
}

// checkDecodeStable decodes data with s; if that succeeds, it encodes the value, decodes the
// encoding again and asks same whether the two rounds agree. A failed decode must wrap
// ErrDecode.
func checkDecodeStable[T any](t *testing.T, s serde.Serializer[T], data []byte, same func(v, v2 T, enc, enc2 []byte) bool) {
	t.Helper()
	v, err := s.Decode(data)
	if err != nil {
		if !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("%s: Decode(%x): %v does not wrap ErrDecode", s.ID(), data, err)
		}
		return
	}
	enc, err := s.Append(nil, v)
	if err != nil {
		t.Fatalf("%s: Append(Decode(%x) = %#v): %v", s.ID(), data, v, err)
	}
	v2, err := s.Decode(enc)
	if err != nil {
		t.Fatalf("%s: Decode(%x) (re-encoding of %x): %v", s.ID(), enc, data, err)
	}
	enc2, err := s.Append(nil, v2)
	if err != nil || !same(v, v2, enc, enc2) {
		t.Fatalf("%s: %x decodes to %#v, its re-encoding %x to %#v (%x, %v)", s.ID(), data, v, enc, v2, enc2, err)
	}
}

// checkKey splits and decodes a key off data with s, and checks that AppendKey of the decoded
// value reproduces exactly the consumed prefix (exact says whether the format is canonical).
func checkKey[T any](t *testing.T, s serde.Serializer[T], data []byte, exact func(T) bool, eq func(a, b T) bool) {
	t.Helper()
	plain, rest, err := serde.SplitKey(s, data)
	if err != nil {
		if !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("%s: SplitKey(%x): %v does not wrap ErrDecode", s.ID(), data, err)
		}
		if _, _, err2 := serde.DecodeKey(s, data); err2 == nil {
			t.Fatalf("%s: SplitKey(%x) failed (%v) but DecodeKey succeeded", s.ID(), data, err)
		}
		return
	}
	if len(rest) > len(data) || !bytes.Equal(data[len(data)-len(rest):], rest) {
		t.Fatalf("%s: SplitKey(%x) rest %x is not a suffix of the input", s.ID(), data, rest)
	}
	consumed := data[:len(data)-len(rest)]
	v, rest2, err := serde.DecodeKey(s, data)
	if err != nil {
		if !errors.Is(err, serde.ErrDecode) {
			t.Fatalf("%s: DecodeKey(%x): %v does not wrap ErrDecode", s.ID(), data, err)
		}
		if _, err2 := s.Decode(plain); err2 == nil {
			t.Fatalf("%s: DecodeKey(%x) failed (%v) but Decode(plain %x) succeeded", s.ID(), data, err, plain)
		}
		return
	}
	if !bytes.Equal(rest2, rest) {
		t.Fatalf("%s: DecodeKey(%x) rest %x, SplitKey rest %x", s.ID(), data, rest2, rest)
	}
	key, err := serde.AppendKey(s, nil, v)
	if err != nil {
		t.Fatalf("%s: AppendKey(DecodeKey(%x) = %v): %v", s.ID(), data, v, err)
	}
	if exact(v) {
		if !bytes.Equal(key, consumed) {
			t.Fatalf("%s: AppendKey(DecodeKey(%x)) = %x, want the consumed prefix %x", s.ID(), data, key, consumed)
		}
		return
	}
	v2, rest3, err := serde.DecodeKey(s, key)
	if err != nil || len(rest3) != 0 || !eq(v, v2) {
		t.Fatalf("%s: DecodeKey(AppendKey(%v) = %x) = %v, %x, %v", s.ID(), v, key, v2, rest3, err)
	}
}

func always[T any](T) bool { return true }

// FuzzKey feeds arbitrary bytes to SplitKey and DecodeKey of every built-in serializer.
func FuzzKey(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkKey(t, serde.String{}, data, always[string], equal)
		checkKey(t, serde.Bytes{}, data, always[[]byte], bytes.Equal)
		checkKey(t, serde.Int64{}, data, always[int64], equal)
		checkKey(t, serde.Int{}, data, always[int], equal)
		checkKey(t, serde.Int32{}, data, always[int32], equal)
		checkKey(t, serde.Uint64{}, data, always[uint64], equal)
		checkKey(t, serde.Uint32{}, data, always[uint32], equal)
		checkKey(t, serde.Bool{}, data, always[bool], equal)
		checkKey(t, serde.Time{}, data, always[time.Time], sameTime)
		checkKey(t, serde.Float64{}, data, func(v float64) bool { return v != 0 && v == v }, sameFloat64)
		checkKey(t, serde.Float32{}, data, func(v float32) bool { return v != 0 && v == v }, sameFloat32)
		checkKey(t, serde.JSON[point]{}, data, func(point) bool { return false }, deepEqual)
	})
}

// FuzzDecodeCBOR checks the CBOR serializer: Decode never panics, fails only with ErrDecode,
// and what it decodes re-encodes to bytes that decode and encode to the same bytes again.
func FuzzDecodeCBOR(f *testing.F) {
	for _, v := range []record{{}, {ID: -1, Name: "n\x00é", Score: math.NaN(), Tags: []string{"", "a"}, Flags: map[string]bool{"b": true, "a": false},
		Next: &inner{F: math.Inf(-1), B: []byte{0, 0xff}}}} {
		b, err := serde.CBOR[record]{}.Append(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte{0x9f, 0x9f, 0x9f}) // nested indefinite arrays, unterminated
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCBOR(t, serde.CBOR[point]{}, data)
		checkCBOR(t, serde.CBOR[record]{}, data)
	})
}

func checkCBOR[T any](t *testing.T, s serde.Serializer[T], data []byte) {
	t.Helper()
	// bytes, not values: NaN != NaN
	checkDecodeStable(t, s, data, func(_, _ T, enc, enc2 []byte) bool { return bytes.Equal(enc, enc2) })
}
