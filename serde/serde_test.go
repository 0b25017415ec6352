package serde_test

import (
	"bytes"
	"errors"
	"math"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/streamstate/streamstate/serde"
)

// testSeed returns the seed of a randomized test: SERDE_SEED if set, else the clock. It is
// logged, so a failure can be replayed with SERDE_SEED=<seed> go test -run <Test> ./serde/.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SERDE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SERDE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with SERDE_SEED=%d)", seed, seed)
	return seed
}

func newRand(t *testing.T) *rand.Rand {
	seed := testSeed(t)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func quickConfig(t *testing.T) *quick.Config {
	return &quick.Config{MaxCount: 300, Rand: mrand.New(mrand.NewSource(int64(testSeed(t))))}
}

// point is a struct for the JSON fallback; hidden is unexported and therefore not kept.
type point struct {
	X, Y   int
	Name   string
	Tags   []string
	Inner  *inner `json:",omitempty"`
	hidden int
}

type inner struct {
	F float64
	B []byte
}

// record has only exported fields, so testing/quick can generate it.
type record struct {
	ID    int64
	Name  string
	Score float64
	Tags  []string
	Flags map[string]bool
	Next  *inner
}

type myInt int64

func mustAppend[T any](t testing.TB, s serde.Serializer[T], dst []byte, v T) []byte {
	t.Helper()
	b, err := s.Append(dst, v)
	if err != nil {
		t.Fatalf("%s: Append(%v): %v", s.ID(), v, err)
	}
	return b
}

// roundTrip encodes v behind a prefix (Append must append, not overwrite), checks the size of
// fixed-size encodings and decodes it back.
func roundTrip[T any](t testing.TB, s serde.Serializer[T], v T, eq func(a, b T) bool) {
	t.Helper()
	prefix := []byte{0xde, 0xad, 0x00}
	b := mustAppend(t, s, append([]byte(nil), prefix...), v)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("%s: Append(%v) overwrote dst: %x", s.ID(), v, b)
	}
	enc := b[len(prefix):]
	if f, ok := s.(serde.Fixed); ok && len(enc) != f.Size() {
		t.Fatalf("%s: Append(%v) gave %d bytes, Size() is %d", s.ID(), v, len(enc), f.Size())
	}
	got, err := s.Decode(enc)
	if err != nil {
		t.Fatalf("%s: Decode(%x) of %v: %v", s.ID(), enc, v, err)
	}
	if !eq(got, v) {
		t.Fatalf("%s: round trip of %#v gave %#v (encoding %x)", s.ID(), v, got, enc)
	}
}

func equal[T comparable](a, b T) bool { return a == b }

func sameFloat64(a, b float64) bool { return a == b || (a != a && b != b) }
func sameFloat32(a, b float32) bool { return a == b || (a != a && b != b) }

func sameTime(a, b time.Time) bool { return a.Equal(b) && a.Location() == time.UTC }

func deepEqual[T any](a, b T) bool { return reflect.DeepEqual(a, b) }

func TestRoundTripTable(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 42, -42, math.MinInt64, math.MaxInt64, math.MinInt64 + 1, math.MaxInt64 - 1, 1 << 32} {
		roundTrip(t, serde.Int64{}, v, equal)
	}
	for _, v := range []int{0, 1, -1, math.MinInt, math.MaxInt, 1 << 31} {
		roundTrip(t, serde.Int{}, v, equal)
	}
	for _, v := range []int32{0, 1, -1, math.MinInt32, math.MaxInt32, 1 << 16} {
		roundTrip(t, serde.Int32{}, v, equal)
	}
	for _, v := range []uint64{0, 1, math.MaxUint64, 1 << 63, 1<<63 - 1} {
		roundTrip(t, serde.Uint64{}, v, equal)
	}
	for _, v := range []uint32{0, 1, math.MaxUint32, 1 << 31, 1<<31 - 1} {
		roundTrip(t, serde.Uint32{}, v, equal)
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, -2.5e-300, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
		math.Float64frombits(0xfff8000000000001)} {
		roundTrip(t, serde.Float64{}, v, sameFloat64)
	}
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN())} {
		roundTrip(t, serde.Float32{}, v, sameFloat32)
	}
	for _, v := range []bool{false, true} {
		roundTrip(t, serde.Bool{}, v, equal)
	}
	for _, v := range []string{"", "a", "\x00", "\x00\x00", "a\x00", "\xff\xfe", "héllo, 世界", "\x80 invalid utf-8", strings.Repeat("x", 1<<16)} {
		roundTrip(t, serde.String{}, v, equal)
	}
	for _, v := range [][]byte{{}, {0}, {0, 0, 0}, {0xff}, {1, 2, 3, 0}, bytes.Repeat([]byte{0xab}, 1<<16)} {
		roundTrip(t, serde.Bytes{}, v, bytes.Equal)
	}
	berlin := time.FixedZone("CEST", 2*3600)
	for _, v := range []time.Time{
		time.Unix(0, 0), time.Unix(0, 1), time.Unix(-1, 0), time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, berlin), time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), // has a monotonic reading, which is dropped
	} {
		roundTrip(t, serde.Time{}, v, func(a, b time.Time) bool { return sameTime(a, b) })
	}
	for _, v := range []point{
		{},
		{X: 1, Y: -2, Name: "n\x00", Tags: []string{"a", ""}},
		{Name: "nested", Tags: []string{}, Inner: &inner{F: -0.5, B: []byte{0, 1, 0xff}}},
	} {
		roundTrip(t, serde.JSON[point]{}, v, deepEqual)
		roundTrip(t, serde.CBOR[point]{}, v, deepEqual)
	}
}

func TestRoundTripRandom(t *testing.T) {
	cfg := quickConfig(t)
	check := func(name string, f any) {
		t.Helper()
		if err := quick.Check(f, cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// roundTrip fails the test itself; quick only drives the values.
	check("int64", func(v int64) bool { roundTrip(t, serde.Int64{}, v, equal); return true })
	check("int", func(v int) bool { roundTrip(t, serde.Int{}, v, equal); return true })
	check("int32", func(v int32) bool { roundTrip(t, serde.Int32{}, v, equal); return true })
	check("uint64", func(v uint64) bool { roundTrip(t, serde.Uint64{}, v, equal); return true })
	check("uint32", func(v uint32) bool { roundTrip(t, serde.Uint32{}, v, equal); return true })
	check("bool", func(v bool) bool { roundTrip(t, serde.Bool{}, v, equal); return true })
	check("string", func(v string) bool { roundTrip(t, serde.String{}, v, equal); return true })
	check("bytes", func(v []byte) bool { roundTrip(t, serde.Bytes{}, v, bytes.Equal); return true })
	check("json", func(v record) bool { roundTrip(t, serde.JSON[record]{}, v, deepEqual); return true })
	check("cbor", func(v record) bool { roundTrip(t, serde.CBOR[record]{}, v, deepEqual); return true })

	r := newRand(t)
	for range 2000 {
		f64 := math.Float64frombits(r.Uint64()) // every bit pattern, NaNs and subnormals included
		roundTrip(t, serde.Float64{}, f64, sameFloat64)
		f32 := math.Float32frombits(r.Uint32())
		roundTrip(t, serde.Float32{}, f32, sameFloat32)
		ns := int64(r.Uint64())
		roundTrip(t, serde.Time{}, time.Unix(0, ns).In(time.FixedZone("z", r.IntN(48*1800)-24*1800)), sameTime)
	}
}

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		got, want any
	}{
		{serde.Of[int64](), serde.Int64{}},
		{serde.Of[int](), serde.Int{}},
		{serde.Of[int32](), serde.Int32{}},
		{serde.Of[uint64](), serde.Uint64{}},
		{serde.Of[uint32](), serde.Uint32{}},
		{serde.Of[float64](), serde.Float64{}},
		{serde.Of[float32](), serde.Float32{}},
		{serde.Of[bool](), serde.Bool{}},
		{serde.Of[string](), serde.String{}},
		{serde.Of[[]byte](), serde.Bytes{}},
		{serde.Of[time.Time](), serde.Time{}},
		// No built-in: the JSON fallback.
		{serde.Of[point](), serde.JSON[point]{}},
		{serde.Of[*point](), serde.JSON[*point]{}},
		{serde.Of[myInt](), serde.JSON[myInt]{}},
		{serde.Of[[]string](), serde.JSON[[]string]{}},
		{serde.Of[map[string]int](), serde.JSON[map[string]int]{}},
		{serde.Of[int16](), serde.JSON[int16]{}},
		{serde.Of[any](), serde.JSON[any]{}},
	} {
		if reflect.TypeOf(tc.got) != reflect.TypeOf(tc.want) {
			t.Errorf("Of gave %T, want %T", tc.got, tc.want)
		}
	}
	// What Of picks works end to end.
	roundTrip(t, serde.Of[[]byte](), []byte("x\x00"), bytes.Equal)
	roundTrip(t, serde.Of[point](), point{X: 3, Name: "p"}, deepEqual)
	roundTrip(t, serde.Of[myInt](), myInt(-7), equal)
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{serde.Int64{}.ID(), "int64"},
		{serde.Int{}.ID(), "int64"}, // same format as Int64, so interchangeable in snapshots
		{serde.Int32{}.ID(), "int32"},
		{serde.Uint64{}.ID(), "uint64"},
		{serde.Uint32{}.ID(), "uint32"},
		{serde.Float64{}.ID(), "float64"},
		{serde.Float32{}.ID(), "float32"},
		{serde.Bool{}.ID(), "bool"},
		{serde.String{}.ID(), "string"},
		{serde.Bytes{}.ID(), "bytes"},
		{serde.Time{}.ID(), "time-unixnano"},
		{serde.JSON[point]{}.ID(), "json:serde_test.point"},
		{serde.JSON[*point]{}.ID(), "json:*serde_test.point"},
		{serde.JSON[map[string]int]{}.ID(), "json:map[string]int"},
		{serde.Erase[int32](serde.Int32{}).ID(), "int32"},
	} {
		if tc.got != tc.want {
			t.Errorf("ID() = %q, want %q", tc.got, tc.want)
		}
	}
	if a, b := (serde.JSON[point]{}).ID(), (serde.JSON[record]{}).ID(); a == b {
		t.Errorf("JSON IDs of different types are equal: %q", a)
	}
}

func TestFixedSizes(t *testing.T) {
	for _, tc := range []struct {
		f    serde.Fixed
		size int
	}{
		{serde.Int64{}, 8}, {serde.Int{}, 8}, {serde.Int32{}, 4}, {serde.Uint64{}, 8}, {serde.Uint32{}, 4},
		{serde.Float64{}, 8}, {serde.Float32{}, 4}, {serde.Bool{}, 1}, {serde.Time{}, 8},
	} {
		if got := tc.f.Size(); got != tc.size {
			t.Errorf("%T.Size() = %d, want %d", tc.f, got, tc.size)
		}
	}
	// Variable-length serializers must not claim a fixed size: AppendKey would not escape them.
	for _, s := range []any{serde.String{}, serde.Bytes{}, serde.JSON[point]{}} {
		if _, ok := s.(serde.Fixed); ok {
			t.Errorf("%T implements Fixed", s)
		}
	}
}

type decodeCase struct {
	id     string
	decode func([]byte) error
}

func dec[T any](s serde.Serializer[T]) decodeCase {
	return decodeCase{s.ID(), func(b []byte) error { _, err := s.Decode(b); return err }}
}

func checkDecodeErr(t *testing.T, c decodeCase, in []byte) {
	t.Helper()
	err := c.decode(in)
	if err == nil {
		t.Errorf("%s: Decode(%x) succeeded, want an error", c.id, in)
		return
	}
	if !errors.Is(err, serde.ErrDecode) {
		t.Errorf("%s: Decode(%x): %v does not wrap ErrDecode", c.id, in, err)
	}
	if !strings.Contains(err.Error(), c.id) {
		t.Errorf("%s: Decode(%x): %q does not name the serializer", c.id, in, err)
	}
}

func TestDecodeRejectsWrongLength(t *testing.T) {
	for _, tc := range []struct {
		c    decodeCase
		size int
	}{
		{dec[int64](serde.Int64{}), 8}, {dec[int](serde.Int{}), 8}, {dec[int32](serde.Int32{}), 4},
		{dec[uint64](serde.Uint64{}), 8}, {dec[uint32](serde.Uint32{}), 4}, {dec[float64](serde.Float64{}), 8},
		{dec[float32](serde.Float32{}), 4}, {dec[bool](serde.Bool{}), 1}, {dec[time.Time](serde.Time{}), 8},
	} {
		for _, n := range []int{0, 1, tc.size - 1, tc.size + 1, 2 * tc.size, 100} {
			if n == tc.size {
				continue
			}
			checkDecodeErr(t, tc.c, make([]byte, n))
		}
		checkDecodeErr(t, tc.c, nil)
		if err := tc.c.decode(make([]byte, tc.size)); tc.c.id != "bool" && err != nil {
			t.Errorf("%s: Decode of %d zero bytes: %v", tc.c.id, tc.size, err)
		}
	}
}

func TestDecodeRejectsBadBytes(t *testing.T) {
	for _, b := range []byte{2, 3, 0x80, 0xff} {
		checkDecodeErr(t, dec[bool](serde.Bool{}), []byte{b})
	}
	js := dec[point](serde.JSON[point]{})
	for _, in := range []string{"", " ", "{", "nul", `{"X":1}x`, `{"X":1} {}`, `{"X":"str"}`, `[1,2]`, `{"X":1e400}`, "\x00"} {
		checkDecodeErr(t, js, []byte(in))
	}
	// JSON null and unknown fields are accepted (encoding/json semantics).
	if v, err := (serde.JSON[point]{}).Decode([]byte(`null`)); err != nil || !reflect.DeepEqual(v, point{}) {
		t.Errorf("JSON Decode(null) = %#v, %v", v, err)
	}
	// Time wraps the Int64 error, so it is still ErrDecode.
	_, err := serde.Time{}.Decode([]byte{1})
	if !errors.Is(err, serde.ErrDecode) || !strings.Contains(err.Error(), "time-unixnano") {
		t.Errorf("Time.Decode of 1 byte: %v", err)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	outside := []time.Time{{}, time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, v := range outside {
		dst := []byte("keep")
		got, err := serde.Time{}.Append(dst, v)
		if err == nil {
			t.Errorf("Time.Append(%v) succeeded with %x, want an error", v, got)
		}
		if string(got) != "keep" {
			t.Errorf("Time.Append(%v) changed dst to %q", v, got)
		}
	}
}

func TestStringAndBytesAreVerbatim(t *testing.T) {
	in := []byte{0, 'a', 0xff, 0}
	if got := mustAppend(t, serde.String{}, nil, string(in)); !bytes.Equal(got, in) {
		t.Errorf("String encoding %x, want %x", got, in)
	}
	if got := mustAppend(t, serde.Bytes{}, nil, in); !bytes.Equal(got, in) {
		t.Errorf("Bytes encoding %x, want %x", got, in)
	}
	// Bytes.Decode returns a copy: the caller may reuse its buffer.
	src := []byte{1, 2, 3}
	v, err := serde.Bytes{}.Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	src[0] = 9
	if v[0] != 1 {
		t.Errorf("Bytes.Decode aliases its input")
	}
	if v, err := (serde.Bytes{}).Decode(nil); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Bytes.Decode(nil) = %#v, %v; want an empty non-nil slice", v, err)
	}
}

// sign reduces a comparison result to -1, 0 or +1.
func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// checkOrder checks that the encodings of every pair of vals compare as the values do.
func checkOrder[T any](t *testing.T, s serde.Serializer[T], vals []T, cmp func(a, b T) int) {
	t.Helper()
	encs := make([][]byte, len(vals))
	for i, v := range vals {
		encs[i] = mustAppend(t, s, nil, v)
	}
	bad := 0
	for i := range vals {
		for j := range vals {
			if got, want := sign(bytes.Compare(encs[i], encs[j])), sign(cmp(vals[i], vals[j])); got != want && bad < 10 {
				bad++
				t.Errorf("%s: bytes.Compare(enc(%v), enc(%v)) = %d, numeric order says %d (%x vs %x)",
					s.ID(), vals[i], vals[j], got, want, encs[i], encs[j])
			}
		}
	}
}

func cmpNum[T int64 | int | int32 | uint64 | uint32 | float64 | float32](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0 // equal, including -0 == +0
}

func TestIntOrder(t *testing.T) {
	r := newRand(t)
	i64 := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -256, -255, -1, 0, 1, 255, 256, 1 << 32, math.MaxInt64 - 1, math.MaxInt64}
	i32 := []int32{math.MinInt32, math.MinInt32 + 1, -256, -1, 0, 1, 256, math.MaxInt32}
	u64 := []uint64{0, 1, 255, 256, 1<<63 - 1, 1 << 63, math.MaxUint64}
	u32 := []uint32{0, 1, 255, 256, 1<<31 - 1, 1 << 31, math.MaxUint32}
	for range 150 {
		i64 = append(i64, int64(r.Uint64()), r.Int64N(1000)-500, int64(r.Uint64())>>r.IntN(64))
		i32 = append(i32, int32(r.Uint32()), int32(r.IntN(1000)-500))
		u64 = append(u64, r.Uint64(), r.Uint64()>>r.IntN(64))
		u32 = append(u32, r.Uint32(), r.Uint32()>>r.IntN(32))
	}
	ints := make([]int, len(i64))
	times := make([]time.Time, len(i64))
	for i, v := range i64 {
		ints[i] = int(v)
		times[i] = time.Unix(0, v)
	}
	checkOrder(t, serde.Int64{}, i64, cmpNum[int64])
	checkOrder(t, serde.Int{}, ints, cmpNum[int])
	checkOrder(t, serde.Int32{}, i32, cmpNum[int32])
	checkOrder(t, serde.Uint64{}, u64, cmpNum[uint64])
	checkOrder(t, serde.Uint32{}, u32, cmpNum[uint32])
	checkOrder(t, serde.Time{}, times, func(a, b time.Time) int { return a.Compare(b) })
	checkOrder(t, serde.Bool{}, []bool{false, true}, func(a, b bool) int {
		return cmpNum(map[bool]int{false: 0, true: 1}[a], map[bool]int{false: 0, true: 1}[b])
	})
}

func TestFloatOrder(t *testing.T) {
	r := newRand(t)
	negZero := math.Copysign(0, -1)
	f64 := []float64{math.Inf(-1), -math.MaxFloat64, -1e300, -1, -math.SmallestNonzeroFloat64, negZero, 0,
		math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 1, 1e300, math.MaxFloat64, math.Inf(1)}
	for range 150 {
		var v float64
		switch r.IntN(4) {
		case 0:
			v = math.Float64frombits(r.Uint64()) // any magnitude, subnormals included
		case 1:
			v = r.NormFloat64() * 1000
		case 2:
			v = float64(r.IntN(21) - 10) // many ties
		default:
			v = []float64{0, negZero, math.Inf(1), math.Inf(-1)}[r.IntN(4)]
		}
		if !math.IsNaN(v) {
			f64 = append(f64, v)
		}
	}
	f32 := make([]float32, 0, len(f64))
	for _, v := range f64 {
		f32 = append(f32, float32(v)) // rounds to ±Inf, ±0 and subnormals too
	}
	for range 50 {
		if v := math.Float32frombits(r.Uint32()); !math.IsNaN(float64(v)) {
			f32 = append(f32, v)
		}
	}
	checkOrder(t, serde.Float64{}, f64, cmpNum[float64])
	checkOrder(t, serde.Float32{}, f32, cmpNum[float32])

	// -0 and +0 are equal, so they have one encoding (one key).
	if a, b := mustAppend(t, serde.Float64{}, nil, negZero), mustAppend(t, serde.Float64{}, nil, 0); !bytes.Equal(a, b) {
		t.Errorf("Float64: -0 encodes as %x, +0 as %x", a, b)
	}
	if a, b := mustAppend(t, serde.Float32{}, nil, float32(negZero)), mustAppend(t, serde.Float32{}, nil, 0); !bytes.Equal(a, b) {
		t.Errorf("Float32: -0 encodes as %x, +0 as %x", a, b)
	}

	// NaNs, whatever their sign and payload, sort after +Inf.
	inf64 := mustAppend(t, serde.Float64{}, nil, math.Inf(1))
	for _, bits := range []uint64{0x7ff8000000000000, 0xfff8000000000000, 0x7ff0000000000001, 0xffffffffffffffff} {
		if enc := mustAppend(t, serde.Float64{}, nil, math.Float64frombits(bits)); bytes.Compare(enc, inf64) <= 0 {
			t.Errorf("Float64: NaN %#x encodes as %x, not after +Inf %x", bits, enc, inf64)
		}
	}
	inf32 := mustAppend(t, serde.Float32{}, nil, float32(math.Inf(1)))
	for _, bits := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0xffffffff} {
		if enc := mustAppend(t, serde.Float32{}, nil, math.Float32frombits(bits)); bytes.Compare(enc, inf32) <= 0 {
			t.Errorf("Float32: NaN %#x encodes as %x, not after +Inf %x", bits, enc, inf32)
		}
	}
}

func TestErased(t *testing.T) {
	e := serde.Erase[int64](serde.Int64{})
	b, err := e.AppendAny([]byte("p"), int64(-3))
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.DecodeAny(b[1:])
	if err != nil || v != any(int64(-3)) {
		t.Errorf("DecodeAny = %#v, %v; want int64(-3)", v, err)
	}
	if got, err := e.AppendAny([]byte("p"), "not an int64"); err == nil || string(got) != "p" {
		t.Errorf("AppendAny of a string = %q, %v; want an error and dst unchanged", got, err)
	}
	if _, err := e.AppendAny(nil, 3); err == nil {
		t.Errorf("AppendAny of an int into an int64 serializer succeeded")
	}
	if _, err := e.DecodeAny([]byte{1}); !errors.Is(err, serde.ErrDecode) {
		t.Errorf("DecodeAny of 1 byte: %v", err)
	}
	// A nil interface stands for T's zero value (a nil slice for Bytes).
	eb := serde.Erase[[]byte](serde.Bytes{})
	if got, err := eb.AppendAny([]byte("p"), nil); err != nil || string(got) != "p" {
		t.Errorf("Bytes AppendAny(nil) = %q, %v", got, err)
	}
}

func TestJSONDropsUnexportedFields(t *testing.T) {
	s := serde.JSON[point]{}
	b, err := s.Append(nil, point{X: 1, hidden: 7})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.X != 1 || got.hidden != 0 {
		t.Fatalf("decoded %+v: want X kept and hidden dropped", got)
	}
}

// BenchmarkStruct compares the two struct serializers on a small record: encode then decode.
func BenchmarkStruct(b *testing.B) {
	v := record{ID: 42, Name: "auction-42", Score: 1.5, Tags: []string{"a", "bb"}, Next: &inner{F: 2, B: []byte("xyz")}}
	for _, s := range []serde.Serializer[record]{serde.JSON[record]{}, serde.CBOR[record]{}} {
		b.Run(s.ID()[:4], func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = s.Append(buf[:0], v); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
