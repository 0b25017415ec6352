package serde_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/streamstate/streamstate/serde"
)

func mustKey[T any](t testing.TB, s serde.Serializer[T], dst []byte, v T) []byte {
	t.Helper()
	b, err := serde.AppendKey(s, dst, v)
	if err != nil {
		t.Fatalf("%s: AppendKey(%v): %v", s.ID(), v, err)
	}
	return b
}

// tricky returns random bytes drawn mostly from the bytes that matter to the escaping: 0x00,
// 0x01 (the terminator's second byte) and 0xFF (the escape's second byte).
func tricky(r *rand.Rand, maxLen int) []byte {
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		switch r.IntN(5) {
		case 0, 1:
			b[i] = 0
		case 2:
			b[i] = 1
		case 3:
			b[i] = 0xff
		default:
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

func TestAppendKeyEscaping(t *testing.T) {
	for _, tc := range []struct {
		plain, key string
	}{
		{"", "\x00\x01"},
		{"\x00", "\x00\xff\x00\x01"},
		{"\x00\x00", "\x00\xff\x00\xff\x00\x01"},
		{"\x00\x00\x00\x00", "\x00\xff\x00\xff\x00\xff\x00\xff\x00\x01"},
		{"a\x00", "a\x00\xff\x00\x01"}, // trailing zero
		{"\x00a", "\x00\xffa\x00\x01"},
		{"a\x00b", "a\x00\xffb\x00\x01"},
		{"\x01", "\x01\x00\x01"},
		{"\xff", "\xff\x00\x01"},
		{"\x00\x01", "\x00\xff\x01\x00\x01"}, // looks like a terminator, but is escaped
		{"ab", "ab\x00\x01"},
	} {
		for _, prefix := range []string{"", "\x00\x00\x01", "pre\x00"} {
			// The prefix (which may contain zeros) is left alone; with and without spare capacity.
			for _, dst := range [][]byte{[]byte(prefix), append(make([]byte, 0, 64), prefix...)} {
				got := mustKey(t, serde.String{}, dst, tc.plain)
				if want := prefix + tc.key; string(got) != want {
					t.Errorf("AppendKey(%q, %q) = %q, want %q", prefix, tc.plain, got, want)
				}
				gotB := mustKey(t, serde.Bytes{}, dst, []byte(tc.plain))
				if want := prefix + tc.key; string(gotB) != want {
					t.Errorf("AppendKey(Bytes, %q, %q) = %q, want %q", prefix, tc.plain, gotB, want)
				}
			}
		}
		for _, suffix := range []string{"", "\x00", "\x00\x01", "\x00\xff", "rest"} {
			in := []byte(tc.key + suffix)
			plain, rest, err := serde.SplitKey(serde.String{}, in)
			if err != nil || string(plain) != tc.plain || string(rest) != suffix {
				t.Errorf("SplitKey(%q) = %q, %q, %v; want %q, %q", in, plain, rest, err, tc.plain, suffix)
			}
			v, rest, err := serde.DecodeKey(serde.String{}, in)
			if err != nil || v != tc.plain || string(rest) != suffix {
				t.Errorf("DecodeKey(%q) = %q, %q, %v; want %q, %q", in, v, rest, err, tc.plain, suffix)
			}
			vb, rest, err := serde.DecodeKey(serde.Bytes{}, in)
			if err != nil || string(vb) != tc.plain || string(rest) != suffix {
				t.Errorf("DecodeKey(Bytes, %q) = %q, %q, %v; want %q, %q", in, vb, rest, err, tc.plain, suffix)
			}
		}
	}
}

func TestKeySelfDelimiting(t *testing.T) {
	r := newRand(t)
	for range 2000 {
		plain := tricky(r, 12)
		suffix := tricky(r, 12)
		key := mustKey(t, serde.Bytes{}, nil, plain)
		in := append(append([]byte(nil), key...), suffix...)
		gotPlain, rest, err := serde.SplitKey(serde.Bytes{}, in)
		if err != nil {
			t.Fatalf("SplitKey(%x) (key of %x + %x): %v", in, plain, suffix, err)
		}
		if !bytes.Equal(gotPlain, plain) || !bytes.Equal(rest, suffix) {
			t.Fatalf("SplitKey(%x) = %x, %x; want %x, %x", in, gotPlain, rest, plain, suffix)
		}
		v, rest, err := serde.DecodeKey(serde.String{}, in)
		if err != nil || v != string(plain) || !bytes.Equal(rest, suffix) {
			t.Fatalf("DecodeKey(%x) = %q, %x, %v; want %q, %x", in, v, rest, err, plain, suffix)
		}
	}
	// Several keys in a row split one by one, as [key][namespace][user key] does.
	for range 200 {
		parts := [][]byte{tricky(r, 6), tricky(r, 6), tricky(r, 6)}
		var in []byte
		for _, p := range parts {
			in = mustKey(t, serde.Bytes{}, in, p)
		}
		rest := in
		for i, p := range parts {
			var v []byte
			var err error
			if v, rest, err = serde.DecodeKey(serde.Bytes{}, rest); err != nil || !bytes.Equal(v, p) {
				t.Fatalf("part %d of %x: got %x, %v; want %x", i, in, v, err, p)
			}
		}
		if len(rest) != 0 {
			t.Fatalf("%x left after the last part", rest)
		}
	}
}

// allStrings returns every string over alphabet of length <= n.
func allStrings(alphabet string, n int) []string {
	out := []string{""}
	level := []string{""}
	for range n {
		var next []string
		for _, s := range level {
			for i := range len(alphabet) {
				next = append(next, s+alphabet[i:i+1])
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

func checkKeyOrder(t *testing.T, a, b, sa, sb []byte) {
	t.Helper()
	ka := append(mustKey(t, serde.Bytes{}, nil, a), sa...)
	kb := append(mustKey(t, serde.Bytes{}, nil, b), sb...)
	want := bytes.Compare(a, b)
	if want == 0 {
		want = bytes.Compare(sa, sb)
	}
	if got := bytes.Compare(ka, kb); got != want {
		t.Fatalf("keys of %x+%x and %x+%x compare %d, plain encodings %d (%x vs %x)", a, sa, b, sb, got, want, ka, kb)
	}
}

func TestKeyOrder(t *testing.T) {
	// Exhaustive over the bytes that matter, up to length 4 (121 strings, 14641 pairs) ...
	all := allStrings("\x00\x01\xff", 4)
	for _, a := range all {
		for _, b := range all {
			checkKeyOrder(t, []byte(a), []byte(b), nil, nil)
		}
	}
	// ... also with a suffix after each key: the key decides unless the keys are equal.
	suffixes := []string{"", "\x00", "\x01", "\xff", "\x00\x01", "\x00\xff"}
	for _, a := range all[:40] {
		for _, b := range all[:40] {
			for _, sa := range suffixes {
				for _, sb := range suffixes {
					checkKeyOrder(t, []byte(a), []byte(b), []byte(sa), []byte(sb))
				}
			}
		}
	}
	// ... and random ones.
	r := newRand(t)
	for range 5000 {
		a, b := tricky(r, 8), tricky(r, 8)
		if r.IntN(4) == 0 { // make common prefixes likely
			b = append(append([]byte(nil), a[:r.IntN(len(a)+1)]...), tricky(r, 3)...)
		}
		checkKeyOrder(t, a, b, tricky(r, 4), tricky(r, 4))
	}
	// Strings order as their bytes do (not as runes).
	checkKeyOrder(t, []byte("a"), []byte("a\x00"), []byte("\xff"), nil)
	checkKeyOrder(t, []byte("\xff"), []byte("é"), nil, nil)
}

// checkFixedKeys checks that a fixed-size serializer's key is its plain encoding, splits off
// exactly Size() bytes and orders as the values do, whatever follows.
func checkFixedKeys[T any](t *testing.T, s serde.Serializer[T], vals []T, cmp func(a, b T) int, eq func(a, b T) bool) {
	t.Helper()
	size := s.(serde.Fixed).Size()
	suffix := []byte{0, 1, 0xff, 0}
	keys := make([][]byte, len(vals))
	for i, v := range vals {
		key := mustKey(t, s, nil, v)
		if plain := mustAppend(t, s, nil, v); !bytes.Equal(key, plain) || len(key) != size {
			t.Fatalf("%s: key of %v is %x, plain encoding %x, size %d", s.ID(), v, key, plain, size)
		}
		keys[i] = append(key, suffix[:i%len(suffix)]...)
		plain, rest, err := serde.SplitKey(s, keys[i])
		if err != nil || len(plain) != size || !bytes.Equal(rest, suffix[:i%len(suffix)]) {
			t.Fatalf("%s: SplitKey(%x) = %x, %x, %v", s.ID(), keys[i], plain, rest, err)
		}
		got, rest, err := serde.DecodeKey(s, keys[i])
		if err != nil || !eq(got, v) || !bytes.Equal(rest, suffix[:i%len(suffix)]) {
			t.Fatalf("%s: DecodeKey(%x) = %v, %x, %v; want %v", s.ID(), keys[i], got, rest, err, v)
		}
	}
	for i := range vals {
		for j := range vals {
			want := sign(cmp(vals[i], vals[j]))
			if want == 0 {
				continue // equal values: the suffix decides
			}
			if got := sign(bytes.Compare(keys[i], keys[j])); got != want {
				t.Fatalf("%s: keys of %v and %v compare %d, values %d", s.ID(), vals[i], vals[j], got, want)
			}
		}
	}
}

func TestFixedKeys(t *testing.T) {
	r := newRand(t)
	var i64 []int64
	var u64 []uint64
	var f64 []float64
	for range 60 {
		i64 = append(i64, int64(r.Uint64()), r.Int64N(200)-100)
		u64 = append(u64, r.Uint64(), r.Uint64N(200))
		if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) {
			f64 = append(f64, f, -f)
		}
	}
	i64 = append(i64, math.MinInt64, -1, 0, 1, math.MaxInt64)
	u64 = append(u64, 0, 1, math.MaxUint64)
	f64 = append(f64, math.Inf(-1), math.Copysign(0, -1), 0, math.Inf(1), -1.5, 1.5)
	var i32 []int32
	var u32 []uint32
	var ints []int
	var f32 []float32
	var times []time.Time
	for i := range i64 {
		i32 = append(i32, int32(i64[i]))
		ints = append(ints, int(i64[i]))
		times = append(times, time.Unix(0, i64[i]))
	}
	for _, v := range u64 {
		u32 = append(u32, uint32(v))
	}
	for _, v := range f64 {
		f32 = append(f32, float32(v))
	}
	checkFixedKeys(t, serde.Int64{}, i64, cmpNum[int64], equal)
	checkFixedKeys(t, serde.Int{}, ints, cmpNum[int], equal)
	checkFixedKeys(t, serde.Int32{}, i32, cmpNum[int32], equal)
	checkFixedKeys(t, serde.Uint64{}, u64, cmpNum[uint64], equal)
	checkFixedKeys(t, serde.Uint32{}, u32, cmpNum[uint32], equal)
	checkFixedKeys(t, serde.Float64{}, f64, cmpNum[float64], sameFloat64)
	checkFixedKeys(t, serde.Float32{}, f32, cmpNum[float32], sameFloat32)
	checkFixedKeys(t, serde.Time{}, times, func(a, b time.Time) int { return a.Compare(b) }, sameTime)
	checkFixedKeys(t, serde.Bool{}, []bool{false, true}, func(a, b bool) int {
		if a == b {
			return 0
		}
		if b {
			return -1
		}
		return 1
	}, equal)
}

func TestSplitKeyRejects(t *testing.T) {
	for _, in := range []string{
		"", "a", "abc", // no terminator
		"\x00", "a\x00", // zero at the end
		"\x00\x02", "a\x00\x00", "\x00\xfe", "\x00\x80\x00\x01", // bad escape
		"\x00\xff", "\x00\xff\x00", "a\x00\xffb", // escapes but no terminator
	} {
		for _, split := range []func([]byte) error{
			func(b []byte) error { _, _, err := serde.SplitKey(serde.String{}, b); return err },
			func(b []byte) error { _, _, err := serde.SplitKey(serde.Bytes{}, b); return err },
			func(b []byte) error { _, _, err := serde.DecodeKey(serde.String{}, b); return err },
			func(b []byte) error { _, _, err := serde.DecodeKey(serde.JSON[point]{}, b); return err },
		} {
			if err := split([]byte(in)); !errors.Is(err, serde.ErrDecode) {
				t.Errorf("split of %q: %v, want an error wrapping ErrDecode", in, err)
			}
		}
	}
	// Fixed-size keys need Size() bytes.
	for n := range 8 {
		if _, _, err := serde.SplitKey(serde.Int64{}, make([]byte, n)); !errors.Is(err, serde.ErrDecode) {
			t.Errorf("Int64 SplitKey of %d bytes: %v", n, err)
		}
		if _, _, err := serde.DecodeKey(serde.Time{}, make([]byte, n)); !errors.Is(err, serde.ErrDecode) {
			t.Errorf("Time DecodeKey of %d bytes: %v", n, err)
		}
	}
	// A key that splits but does not decode.
	_, _, err := serde.DecodeKey(serde.Bool{}, []byte{2, 0})
	if !errors.Is(err, serde.ErrDecode) || !strings.HasPrefix(err.Error(), "key: ") {
		t.Errorf("Bool DecodeKey of 0x02: %v", err)
	}
	_, _, err = serde.DecodeKey(serde.JSON[point]{}, []byte("{\x00\x01"))
	if !errors.Is(err, serde.ErrDecode) {
		t.Errorf("JSON DecodeKey of a bad body: %v", err)
	}
}

func TestSplitKeyPlainDoesNotClobberRest(t *testing.T) {
	check := func(name string, in []byte, split func([]byte) ([]byte, []byte, error)) {
		t.Helper()
		in = append(make([]byte, 0, 64), in...) // room to append in place
		plain, rest, err := split(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := string(rest)
		plain = append(plain, "XXXXXXXX"...)
		if string(rest) != want {
			t.Errorf("%s: appending to plain changed rest from %q to %q", name, want, rest)
		}
		if !bytes.HasSuffix(plain, []byte("XXXXXXXX")) {
			t.Errorf("%s: plain is %q", name, plain)
		}
	}
	check("string", []byte("ab\x00\x01rest"), func(b []byte) ([]byte, []byte, error) { return serde.SplitKey(serde.String{}, b) })
	check("int32", []byte("abcdrest"), func(b []byte) ([]byte, []byte, error) { return serde.SplitKey(serde.Int32{}, b) })
}

func TestAppendKeyErrors(t *testing.T) {
	dst := []byte("keep\x00")
	// A fixed-size serializer that fails.
	got, err := serde.AppendKey(serde.Time{}, dst, time.Time{})
	if err == nil || string(got) != "keep\x00" {
		t.Errorf("AppendKey(Time, zero time) = %q, %v; want dst and an error", got, err)
	}
	// An escaped one that fails.
	got, err = serde.AppendKey[any](serde.JSON[any]{}, dst, make(chan int))
	if err == nil || string(got) != "keep\x00" {
		t.Errorf("AppendKey(JSON, chan) = %q, %v; want dst and an error", got, err)
	}
	// JSON keys are escaped and round-trip.
	p := point{X: 1, Name: "k\x00"}
	key := mustKey(t, serde.JSON[point]{}, nil, p)
	v, rest, err := serde.DecodeKey(serde.JSON[point]{}, append(key, 0xff))
	if err != nil || v.X != 1 || v.Name != p.Name || string(rest) != "\xff" {
		t.Errorf("JSON DecodeKey = %#v, %x, %v", v, rest, err)
	}
}

// checkKeyWord checks that KeyWord is the key encoding read as a big-endian word.
func checkKeyWord[T any](t *testing.T, s serde.Serializer[T], vs []T) {
	t.Helper()
	kw, ok := s.(serde.WordKey[T])
	if !ok {
		t.Fatalf("%s: not a serde.WordKey", s.ID())
	}
	for _, v := range vs {
		enc := mustKey(t, s, nil, v)
		if len(enc) != 8 || kw.KeyWord(v) != binary.BigEndian.Uint64(enc) {
			t.Fatalf("%s: KeyWord(%v) = %#x, key encoding %x", s.ID(), v, kw.KeyWord(v), enc)
		}
	}
}

func TestKeyWord(t *testing.T) {
	r := newRand(t)
	i64 := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	f64 := []float64{math.Inf(-1), math.Copysign(0, -1), 0, math.NaN(), math.Inf(1)}
	for range 1000 {
		i64 = append(i64, int64(r.Uint64()))
		f64 = append(f64, math.Float64frombits(r.Uint64()))
	}
	checkKeyWord(t, serde.Int64{}, i64)
	checkKeyWord(t, serde.Uint64{}, []uint64{0, 1 << 63, math.MaxUint64, r.Uint64()})
	checkKeyWord(t, serde.Int{}, []int{math.MinInt, 0, math.MaxInt, int(r.Uint64())})
	checkKeyWord(t, serde.Float64{}, f64)
}
