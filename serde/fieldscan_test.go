package serde

import (
	"errors"
	"slices"
	"testing"
)

// The recorded version of a type and the current one, which drops a top-level field (Note),
// a field inside a list's structs (Lines[].Sku), one inside a map's values (ByZone[value].Old)
// and one under a renamed tag (Legacy, encoded as "leg&acy").
type (
	scanLineV1 struct {
		Qty int64
		Sku string
	}
	scanZoneV1 struct {
		Old  string
		Kept int64
	}
	scanV1 struct {
		ID     int64
		Note   *string
		Lines  []scanLineV1
		ByZone map[string]scanZoneV1
		Legacy string `json:"leg&acy,omitempty" cbor:"leg&acy,omitempty"`
	}
	scanLineV2 struct{ Qty int64 }
	scanZoneV2 struct{ Kept int64 }
	scanV2     struct {
		ID     int64
		Lines  []scanLineV2
		ByZone map[string]scanZoneV2
	}
)

func TestCarriedRemoved(t *testing.T) {
	note := "n"
	cases := []struct {
		name string
		v    scanV1
		want []string
	}{
		{"none carried", scanV1{ID: 1}, nil},
		{"top-level", scanV1{ID: 1, Note: &note}, []string{"Note"}},
		{"in a list element", scanV1{Lines: []scanLineV1{{Qty: 1}, {Qty: 2, Sku: "x"}}}, []string{"Lines[].Sku"}},
		{"in a map value", scanV1{ByZone: map[string]scanZoneV1{"z": {Old: "o"}}}, []string{"ByZone[value].Old"}},
		{"escaped tag name", scanV1{Legacy: "l"}, []string{"leg&acy"}},
		{"all", scanV1{Note: &note, Lines: []scanLineV1{{Sku: "a"}, {Sku: "b"}}, ByZone: map[string]scanZoneV1{"a": {}, "b": {}}, Legacy: "l"},
			[]string{"ByZone[value].Old", "Lines[].Sku", "Note", "leg&acy"}},
	}
	for _, codec := range []struct {
		name     string
		old, cur any
		enc      func(scanV1) ([]byte, error)
	}{
		{"json", JSON[scanV1]{}, JSON[scanV2]{}, func(v scanV1) ([]byte, error) { return JSON[scanV1]{}.Append(nil, v) }},
		{"cbor", CBOR[scanV1]{}, Erase(CBOR[scanV2]{}), func(v scanV1) ([]byte, error) { return CBOR[scanV1]{}.Append(nil, v) }},
	} {
		c := CompareSchemas(SchemaOf(codec.old), SchemaOf(codec.cur))
		wantRemoved := []string{"ByZone[value].Old", "Lines[].Sku", "Note", "leg&acy"}
		if !slices.Equal(c.Removed, wantRemoved) {
			t.Fatalf("%s: removed %q, want %q", codec.name, c.Removed, wantRemoved)
		}
		for _, tc := range cases {
			b, err := codec.enc(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ok, err := c.Carried(codec.cur, b, func(i int) { got = append(got, c.Removed[i]) })
			if !ok || err != nil {
				t.Fatalf("%s %s: Carried(%s) = %v, %v", codec.name, tc.name, b, ok, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s %s: carried %q, want %q (value %q)", codec.name, tc.name, got, tc.want, b)
			}
		}
	}
}

// A CBOR toarray struct names its fields by position, and a keyasint field by its number.
func TestCarriedCBORPositionsAndIntKeys(t *testing.T) {
	type arrV1 struct {
		_ struct{} `cbor:",toarray"`
		A int64
		B string
	}
	type arrV2 struct {
		_ struct{} `cbor:",toarray"`
		A int64
	}
	c := CompareSchemas(CBOR[arrV1]{}.Schema(), CBOR[arrV2]{}.Schema())
	b, _ := CBOR[arrV1]{}.Append(nil, arrV1{A: 1, B: "b"})
	var got []string
	if ok, err := c.Carried(CBOR[arrV2]{}, b, func(i int) { got = append(got, c.Removed[i]) }); !ok || err != nil || !slices.Equal(got, []string{"#1"}) {
		t.Fatalf("toarray: carried %q, %v, %v; removed %q", got, ok, err, c.Removed)
	}

	type intV1 struct {
		A int64 `cbor:"1,keyasint"`
		B int64 `cbor:"-2,keyasint"`
	}
	type intV2 struct {
		A int64 `cbor:"1,keyasint"`
	}
	c = CompareSchemas(CBOR[intV1]{}.Schema(), CBOR[intV2]{}.Schema())
	b, _ = CBOR[intV1]{}.Append(nil, intV1{A: 1, B: 2})
	got = nil
	if ok, err := c.Carried(CBOR[intV2]{}, b, func(i int) { got = append(got, c.Removed[i]) }); !ok || err != nil || !slices.Equal(got, []string{"-2"}) {
		t.Fatalf("keyasint: carried %q, %v, %v; removed %q", got, ok, err, c.Removed)
	}
}

func TestCarriedUnknownAndBad(t *testing.T) {
	c := CompareSchemas(JSON[scanV1]{}.Schema(), JSON[scanV2]{}.Schema())
	if ok, err := c.Carried(Int64{}, []byte{1}, func(int) { t.Fatal("found") }); ok || err != nil {
		t.Fatalf("Int64: ok %v, err %v; want nothing known", ok, err)
	}
	if ok, err := c.Carried(Erase[int64](Int64{}), []byte{1}, func(int) { t.Fatal("found") }); ok || err != nil {
		t.Fatalf("erased Int64: ok %v, err %v; want nothing known", ok, err)
	}
	for _, bad := range []string{``, `{`, `{"Note":`, `{"Note" 1}`, `{"Note":"x"} x`, `[1,`, `"abc`, `{"Lines":[{"Sku":"a"}`, `@`} {
		if ok, err := c.Carried(JSON[scanV2]{}, []byte(bad), func(int) {}); !ok || !errors.Is(err, ErrDecode) {
			t.Errorf("json %q: ok %v, err %v; want ErrDecode", bad, ok, err)
		}
	}
	cc := CompareSchemas(CBOR[scanV1]{}.Schema(), CBOR[scanV2]{}.Schema())
	for _, bad := range [][]byte{{}, {0xa1}, {0xbf, 0x61}, {0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x1c}, {0xff}, {0xa0, 0x00}, {0x5f, 0x61, 0x61, 0xff}} {
		if ok, err := cc.Carried(CBOR[scanV2]{}, bad, func(int) {}); !ok || !errors.Is(err, ErrDecode) {
			t.Errorf("cbor %x: ok %v, err %v; want ErrDecode", bad, ok, err)
		}
	}
	deep := make([]byte, 0, 2*maxScanDepth+4)
	for range maxScanDepth + 2 {
		deep = append(deep, '[')
	}
	if _, err := c.Carried(JSON[scanV2]{}, deep, func(int) {}); !errors.Is(err, ErrDecode) {
		t.Errorf("deep json: err %v; want ErrDecode", err)
	}
}

// FuzzCarried checks that scanning never panics, that its errors wrap ErrDecode, and that
// every value the codec itself decodes scans without error.
func FuzzCarried(f *testing.F) {
	note := "n"
	for _, v := range []scanV1{{}, {ID: 1, Note: &note, Lines: []scanLineV1{{Sku: "s"}}, ByZone: map[string]scanZoneV1{"z": {Old: "o"}}}} {
		j, _ := JSON[scanV1]{}.Append(nil, v)
		c, _ := CBOR[scanV1]{}.Append(nil, v)
		f.Add(j, false)
		f.Add(c, true)
	}
	cj := CompareSchemas(JSON[scanV1]{}.Schema(), JSON[scanV2]{}.Schema())
	cc := CompareSchemas(CBOR[scanV1]{}.Schema(), CBOR[scanV2]{}.Schema())
	f.Fuzz(func(t *testing.T, b []byte, isCBOR bool) {
		var err error
		if isCBOR {
			_, err = cc.Carried(CBOR[scanV2]{}, b, func(int) {})
			if _, derr := (CBOR[any]{}).Decode(b); derr == nil && err != nil {
				t.Fatalf("cbor %x decodes but does not scan: %v", b, err)
			}
		} else {
			_, err = cj.Carried(JSON[scanV2]{}, b, func(int) {})
			if _, derr := (JSON[any]{}).Decode(b); derr == nil && err != nil {
				t.Fatalf("json %q decodes but does not scan: %v", b, err)
			}
		}
		if err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("error %v does not wrap ErrDecode", err)
		}
	})
}
