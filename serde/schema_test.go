package serde

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"testing"
	"time"
)

type schemaAddr struct {
	City string `json:"city"`
	Zip  *int32
}

type schemaBase struct {
	ID      int64 `json:"id"`
	Created time.Time
}

type schemaOrder struct {
	schemaBase
	Items  []string           `json:"items"`
	Addr   *schemaAddr        `json:"addr,omitempty"`
	Totals map[string]float64 `json:"totals"`
	Raw    []byte             `json:"raw"`
	Price  *big.Int           `json:"price"`
	Count  int                `json:"count,string"`
	Skip   string             `json:"-"`
	//lint:ignore SA5008 "-," names the field "-", the case under test
	Dash  string `json:"-,"`
	Extra any    `cbor:"x"`
	//lint:ignore U1000 unexported: not encoded, the case under test
	hidden  int
	Nested  map[int][]*schemaAddr `json:"nested"`
	Arr     [2]byte
	Renamed string `json:"renamed" cbor:"r"`
}

type schemaNode struct {
	Value    int           `json:"v"`
	Next     *schemaNode   `json:"next"`
	Children []*schemaNode `json:"children"`
}

type schemaReordered struct {
	Totals map[string]float64 `json:"totals"`
	Items  []string           `json:"items"`
}

type schemaInOrder struct {
	Items  []string           `json:"items"`
	Totals map[string]float64 `json:"totals"`
}

type schemaTie1 struct{ X int }
type schemaTie2 struct{ X string }
type schemaTies struct {
	schemaTie1
	schemaTie2
	Y int
}

func TestSchemaDerivation(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  *Schema
		want string
	}{
		{"json order", JSON[schemaOrder]{}.Schema(),
			`struct{"-" string;"Arr" [uint8];"Created" time;"Extra" any;"addr" struct{"Zip" int32;"city" string};` +
				`"count" string;"id" int64;"items" [string];"nested" map[int64][struct{"Zip" int32;"city" string}];` +
				`"price" custom;"raw" bytes;"renamed" string;"totals" map[string]float64}`},
		{"cbor order", CBOR[schemaOrder]{}.Schema(),
			`struct{"-" string;"Arr" bytes;"Created" time;"addr" struct{"Zip" int32;"city" string};` +
				`"count" int64;"id" int64;"items" [string];"nested" map[int64][struct{"Zip" int32;"city" string}];` +
				`"price" custom;"r" string;"raw" bytes;"totals" map[string]float64;"x" any}`},
		{"recursive", JSON[schemaNode]{}.Schema(), `struct{"children" [^2];"next" ^1;"v" int64}`},
		{"recursive list", JSON[recList]{}.Schema(), `[^1]`},
		{"tie dropped", JSON[schemaTies]{}.Schema(), `struct{"Y" int64}`},
		{"slice of structs", JSON[[]schemaAddr]{}.Schema(), `[struct{"Zip" int32;"city" string}]`},
		{"plain", JSON[int]{}.Schema(), `int64`},
		{"pointer", CBOR[*time.Time]{}.Schema(), `time`},
		{"empty struct", JSON[struct{}]{}.Schema(), `struct{}`},
		{"json rejects the tag name", JSON[schemaOddTags]{}.Schema(), `struct{"A" int64;"B" int64;"C" int64}`},
		{"cbor takes any tag name", CBOR[schemaOddTags]{}.Schema(), `struct{"\x01" int64;"a\x22b" int64;"\xc3\xa9" int64}`},
		{"cbor details", CBOR[schemaCBOR]{}.Schema(), `struct{"1" int64;"Emb" struct{"X" int64};"Y" string;"z" string}`},
		{"cbor toarray", CBOR[schemaArray]{}.Schema(), `struct{"#0" string;"#1" int64}`},
		{"func", JSON[func()]{}.Schema(), `unsupported`},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, s, tc.want)
		}
	}
	a, b := JSON[schemaReordered]{}.Schema().String(), JSON[schemaInOrder]{Name: "x"}.Schema().String()
	if a != b {
		t.Errorf("field order or name changed the schema: %s vs %s", a, b)
	}
	if s := SchemaOf(Int64{}); s != nil {
		t.Errorf("Int64 has schema %v, want none", s)
	}
	if s := SchemaOf(Erase[schemaAddr](CBOR[schemaAddr]{})); s.String() != `struct{"Zip" int32;"city" string}` {
		t.Errorf("erased CBOR schema %v", s)
	}
}

type recList []recList

// schemaOddTags has tag names encoding/json rejects (and CBOR takes as they are).
type schemaOddTags struct {
	//lint:ignore SA5008 a tag name encoding/json rejects, the case under test
	A int `json:"a\"b"`
	B int `cbor:"\u00e9"`
	C int `json:"\x01"`
}

type schemaEmb struct{ X int }

// schemaCBOR: keyasint names normalized, an embedded struct with a tag name kept as a field,
// an empty cbor tag falling back to the json tag.
type schemaCBOR struct {
	K   int       `cbor:"01,keyasint"`
	Emb schemaEmb `cbor:"Emb"`
	Y   string    `cbor:"" json:"Y"`
	Z   string    `json:"z"`
}

// schemaArray is encoded by CBOR as an array: fields by position.
type schemaArray struct {
	_    struct{} `cbor:",toarray"`
	Name string   `json:"name"`
	N    int      `json:"n"`
}

func TestSchemaParseRoundTrip(t *testing.T) {
	for _, s := range []*Schema{
		JSON[schemaOrder]{}.Schema(), CBOR[schemaOrder]{}.Schema(), JSON[schemaNode]{}.Schema(),
		JSON[recList]{}.Schema(), JSON[map[string][]map[int]bool]{}.Schema(),
		CBOR[schemaOddTags]{}.Schema(), CBOR[struct {
			A int `cbor:"\x01\\\u00e9 ;}"`
		}]{}.Schema(),
	} {
		text := s.String()
		p, err := ParseSchema(text)
		if err != nil {
			t.Fatalf("ParseSchema(%q): %v", text, err)
		}
		if !reflect.DeepEqual(p, s) {
			t.Errorf("ParseSchema(%q) = %#v, want %#v", text, p, s)
		}
	}
	if s, err := ParseSchema(""); s != nil || err != nil {
		t.Errorf(`ParseSchema("") = %v, %v`, s, err)
	}
	for _, bad := range []string{"int", "[int64", "map[string]", `struct{"b" int64;"a" int64}`, `struct{"a" int64;"a" int64}`,
		"^1", "[^2]", "[^01]", `struct{"\x41" int64}`, `struct{"\xZZ" int64}`, "int64 ", `struct{"a"int64}`, "\x00",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[int64]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"} {
		if _, err := ParseSchema(bad); !errors.Is(err, ErrSchema) {
			t.Errorf("ParseSchema(%q) = %v, want ErrSchema", bad, err)
		}
	}
}

func TestCompareSchemas(t *testing.T) {
	type v1 struct {
		A int64             `json:"a"`
		B string            `json:"b"`
		C []schemaAddr      `json:"c"`
		M map[string]string `json:"m"`
	}
	type v2added struct {
		A int64             `json:"a"`
		B string            `json:"b"`
		C []schemaAddr      `json:"c"`
		M map[string]string `json:"m"`
		D bool              `json:"d"`
	}
	type v2removed struct {
		A *int64 `json:"a"`
		C []struct {
			City string `json:"city"`
		} `json:"c"`
		M map[string]any `json:"m"`
	}
	type v2changed struct {
		A string `json:"a"`
		B string `json:"b"`
		C []struct {
			City int `json:"city"`
		} `json:"c"`
		M map[int]string `json:"m"`
	}
	old := JSON[v1]{}.Schema()
	renamed := JSON[v1]{Name: "renamed"}
	if c := CompareSchemas(old, renamed.Schema()); !reflect.DeepEqual(c, SchemaChanges{}) {
		t.Errorf("same schema: %+v", c)
	}
	if c := CompareSchemas(old, JSON[v2added]{}.Schema()); !c.Compatible() || !slices.Equal(c.Added, []string{"d"}) || c.Removed != nil {
		t.Errorf("added: %+v", c)
	}
	if c := CompareSchemas(old, JSON[v2removed]{}.Schema()); !c.Compatible() || !slices.Equal(c.Removed, []string{"b", "c[].Zip"}) || c.Added != nil {
		t.Errorf("removed: %+v", c)
	}
	c := CompareSchemas(old, JSON[v2changed]{}.Schema())
	want := []SchemaChange{{"a", "int64", "string"}, {"c[].city", "string", "int64"}, {"m[key]", "string", "int64"}}
	if c.Compatible() || !reflect.DeepEqual(c.Changed, want) || !slices.Equal(c.Removed, []string{"c[].Zip"}) {
		t.Errorf("changed: %+v", c)
	}
	if c := CompareSchemas(old, JSON[int64]{}.Schema()); c.Compatible() || c.Changed[0].Path != "(value)" {
		t.Errorf("root changed: %+v", c)
	}
	if c := CompareSchemas(nil, JSON[int64]{}.Schema()); !c.Compatible() {
		t.Errorf("no recorded schema: %+v", c)
	}
}

// FuzzParseSchema checks that ParseSchema never panics and that what it accepts is canonical:
// it encodes back to the same text.
func FuzzParseSchema(f *testing.F) {
	for _, s := range []*Schema{JSON[schemaOrder]{}.Schema(), CBOR[schemaOrder]{}.Schema(), JSON[schemaNode]{}.Schema()} {
		f.Add(s.String())
	}
	f.Add(`map[string][^1]`)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSchema(text)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v does not wrap ErrSchema", err)
			}
			return
		}
		if got := s.String(); got != text {
			t.Fatalf("ParseSchema(%q).String() = %q", text, got)
		}
		if c := CompareSchemas(s, s); !reflect.DeepEqual(c, SchemaChanges{}) {
			t.Fatalf("a schema differs from itself: %+v", c)
		}
	})
}

// TestSchemaDeterministic is a property test: a schema is the same whenever it is derived,
// and encoding, parsing and encoding again gives the same text.
func TestSchemaDeterministic(t *testing.T) {
	for range 50 {
		for _, s := range []func() *Schema{JSON[schemaOrder]{}.Schema, CBOR[schemaOrder]{}.Schema, JSON[schemaNode]{}.Schema} {
			a, b := s(), s()
			if a.String() != b.String() || !reflect.DeepEqual(a, b) {
				t.Fatalf("schema differs between derivations: %s vs %s", a, b)
			}
		}
	}
}

// TestSchemaFieldNamesMatchEncoding checks the derived field names against the codecs
// themselves: the keys of a value's JSON and CBOR encodings are the schema's fields.
func TestSchemaFieldNamesMatchEncoding(t *testing.T) {
	n := int32(3)
	order := schemaOrder{schemaBase: schemaBase{ID: 1}, Items: []string{"a"}, Addr: &schemaAddr{City: "c", Zip: &n},
		Price: big.NewInt(5), Extra: 1}
	for name, v := range map[string]any{"order": order, "odd tags": schemaOddTags{}, "cbor": schemaCBOR{}, "ties": schemaTies{}} {
		check := func(codec string, s *Schema, enc func(any) ([]byte, error), dec func([]byte, *map[string]any) error) {
			b, err := enc(v)
			if err != nil {
				t.Fatalf("%s %s: %v", name, codec, err)
			}
			var m map[string]any
			if err := dec(b, &m); err != nil {
				t.Fatalf("%s %s: %v", name, codec, err)
			}
			var keys, fields []string
			for k := range m {
				keys = append(keys, k)
			}
			for _, f := range s.Fields {
				fields = append(fields, f.Name)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, fields) {
				t.Errorf("%s %s: encoded keys %q, schema fields %q", name, codec, keys, fields)
			}
		}
		rt := reflect.TypeOf(v)
		check("json", deriveSchema(rt, codecJSON), json.Marshal, func(b []byte, m *map[string]any) error { return json.Unmarshal(b, m) })
		check("cbor", deriveSchema(rt, codecCBOR), cborEnc.Marshal, func(b []byte, m *map[string]any) error {
			var raw map[any]any
			if err := cborDec.Unmarshal(b, &raw); err != nil {
				return err
			}
			*m = map[string]any{}
			for k, x := range raw {
				(*m)[fmt.Sprint(k)] = x
			}
			return nil
		})
	}
}
