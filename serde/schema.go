package serde

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/fxamacker/cbor/v2"
)

// SchemaType is the type of a Schema node: a leaf type, or one of SchemaList, SchemaMap,
// SchemaStruct and SchemaRef. The names are part of the encoding recorded in snapshots.
type SchemaType string

// The schema node types. Go integer kinds keep their width (int and uint are recorded as
// int64 and uint64 on every platform); pointers are transparent (a *T field encodes as a T
// does, or as null, which decodes to the zero value), so a schema never holds a pointer node.
const (
	SchemaBool    SchemaType = "bool"
	SchemaInt8    SchemaType = "int8"
	SchemaInt16   SchemaType = "int16"
	SchemaInt32   SchemaType = "int32"
	SchemaInt64   SchemaType = "int64"
	SchemaUint8   SchemaType = "uint8"
	SchemaUint16  SchemaType = "uint16"
	SchemaUint32  SchemaType = "uint32"
	SchemaUint64  SchemaType = "uint64"
	SchemaFloat32 SchemaType = "float32"
	SchemaFloat64 SchemaType = "float64"
	SchemaString  SchemaType = "string"
	// SchemaBytes is a byte string ([]byte; [N]byte in CBOR).
	SchemaBytes SchemaType = "bytes"
	// SchemaTime is a time.Time.
	SchemaTime SchemaType = "time"
	// SchemaAny is an interface: it decodes whatever was encoded.
	SchemaAny SchemaType = "any"
	// SchemaCustom is a type with its own encoding (a json.Marshaler, cbor.Marshaler,
	// encoding.TextMarshaler or encoding.BinaryMarshaler): its shape is its own business.
	SchemaCustom SchemaType = "custom"
	// SchemaUnsupported is a type the codec cannot encode (a channel, a function, a complex
	// number).
	SchemaUnsupported SchemaType = "unsupported"
	// SchemaList is a slice or an array of Elem.
	SchemaList SchemaType = "list"
	// SchemaMap is a map from Key to Elem.
	SchemaMap SchemaType = "map"
	// SchemaStruct is a struct encoded as a map of Fields.
	SchemaStruct SchemaType = "struct"
	// SchemaRef is a recursive type: the node Up levels above (1 is the enclosing list, map
	// or struct), whose type contains itself.
	SchemaRef SchemaType = "ref"
)

// Schema is the canonical, deterministic description of the shape a struct codec (JSON,
// CBOR) encodes a type as: for a struct, its fields under the names they are encoded with
// (after json or cbor tags, embedded-struct promotion and Go's dominance rule), sorted by
// name, each with its own Schema; for lists and maps their elements; for leaves their type.
// It depends neither on Go type names nor on field order, so renaming a type or reordering
// fields keeps it. String is its recorded encoding, and ParseSchema reads it back.
//
// A Schema must not be modified once built; share it freely.
type Schema struct {
	// Type is the node's type.
	Type SchemaType
	// Fields are a struct's fields, sorted by Name, names unique. Empty for other types.
	Fields []SchemaField
	// Key is a map's key schema; nil for other types.
	Key *Schema
	// Elem is a list's element or a map's value schema; nil for other types.
	Elem *Schema
	// Up is how many list, map or struct levels above a SchemaRef node its target is (>= 1).
	Up int
}

// SchemaField is one encoded field of a struct schema.
type SchemaField struct {
	// Name is the field's encoded name (its tag name, else its Go name).
	Name string
	// Schema is the field value's schema.
	Schema *Schema
}

// SchemaSerializer is implemented by serializers that describe the shape of their encoding,
// so that a backend can decide, when a state is registered over recorded state, whether the
// new serializer reads what the old one wrote (see CompareSchemas). JSON and CBOR implement
// it by reflection on T; a custom serializer may implement it too. Schema returns nil when
// the serializer has no schema, and then only its ID is recorded and compared.
type SchemaSerializer interface {
	// Schema returns the serializer's schema, or nil. It must be deterministic and depend
	// only on the serializer's type and ID: serializers of one type with one ID give the same
	// schema, in every process (backends memoize it by type and ID).
	Schema() *Schema
}

// SchemaOf returns s's schema: s.Schema() when s implements SchemaSerializer, else nil.
func SchemaOf(s any) *Schema {
	if ss, ok := s.(SchemaSerializer); ok {
		return ss.Schema()
	}
	return nil
}

// Schema implements SchemaSerializer for the type-erased serializer: the wrapped one's.
func (e erased[T]) Schema() *Schema { return SchemaOf(e.s) }

// Schema implements SchemaSerializer: the shape encoding/json gives T, honouring json tags.
func (JSON[T]) Schema() *Schema { return deriveSchema(reflect.TypeFor[T](), codecJSON) }

// Schema implements SchemaSerializer: the shape CBOR gives T, honouring cbor tags (and json
// tags on fields without one, as the codec does).
func (CBOR[T]) Schema() *Schema { return deriveSchema(reflect.TypeFor[T](), codecCBOR) }

type codec int

const (
	codecJSON codec = iota
	codecCBOR
)

var (
	timeType     = reflect.TypeFor[time.Time]()
	customIfaces = []reflect.Type{
		reflect.TypeFor[json.Marshaler](),
		reflect.TypeFor[cbor.Marshaler](),
		reflect.TypeFor[encoding.TextMarshaler](),
		reflect.TypeFor[encoding.BinaryMarshaler](),
	}
)

// deriveSchema returns the schema of values of t as encoded by c.
func deriveSchema(t reflect.Type, c codec) *Schema {
	d := deriver{c: c}
	return d.of(t)
}

// deriver walks a type; stack holds the composite types enclosing the current one, so that a
// recursive type becomes a SchemaRef instead of an endless walk.
type deriver struct {
	c     codec
	stack []reflect.Type
}

func (d *deriver) of(t reflect.Type) *Schema {
	for t.Kind() == reflect.Pointer && (t.Elem() == timeType || !isCustom(t)) {
		t = t.Elem()
	}
	if t == timeType {
		return &Schema{Type: SchemaTime}
	}
	if isCustom(t) || isCustom(reflect.PointerTo(t)) {
		return &Schema{Type: SchemaCustom}
	}
	switch t.Kind() {
	case reflect.Bool:
		return &Schema{Type: SchemaBool}
	case reflect.Int8:
		return &Schema{Type: SchemaInt8}
	case reflect.Int16:
		return &Schema{Type: SchemaInt16}
	case reflect.Int32:
		return &Schema{Type: SchemaInt32}
	case reflect.Int, reflect.Int64:
		return &Schema{Type: SchemaInt64}
	case reflect.Uint8:
		return &Schema{Type: SchemaUint8}
	case reflect.Uint16:
		return &Schema{Type: SchemaUint16}
	case reflect.Uint32:
		return &Schema{Type: SchemaUint32}
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return &Schema{Type: SchemaUint64}
	case reflect.Float32:
		return &Schema{Type: SchemaFloat32}
	case reflect.Float64:
		return &Schema{Type: SchemaFloat64}
	case reflect.String:
		return &Schema{Type: SchemaString}
	case reflect.Interface:
		return &Schema{Type: SchemaAny}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && !isCustom(t.Elem()) && (t.Kind() == reflect.Slice || d.c == codecCBOR) {
			return &Schema{Type: SchemaBytes}
		}
	case reflect.Map, reflect.Struct:
	default:
		return &Schema{Type: SchemaUnsupported}
	}
	if i := slices.Index(d.stack, t); i >= 0 {
		return &Schema{Type: SchemaRef, Up: len(d.stack) - i}
	}
	d.stack = append(d.stack, t)
	defer func() { d.stack = d.stack[:len(d.stack)-1] }()
	switch t.Kind() {
	case reflect.Map:
		return &Schema{Type: SchemaMap, Key: d.of(t.Key()), Elem: d.of(t.Elem())}
	case reflect.Struct:
		return &Schema{Type: SchemaStruct, Fields: d.fields(t)}
	}
	return &Schema{Type: SchemaList, Elem: d.of(t.Elem())}
}

// isCustom reports whether t has its own encoding.
func isCustom(t reflect.Type) bool {
	for _, i := range customIfaces {
		if t.Implements(i) {
			return true
		}
	}
	return false
}

// field is a candidate encoded field of a struct: the Go field (by index path), its encoded
// name, its embedding depth and whether its name came from a tag.
type field struct {
	name     string
	index    []int
	typ      reflect.Type
	depth    int
	tagged   bool
	asString bool
}

// fields returns t's encoded fields, resolved as encoding/json does (and fxamacker/cbor,
// which follows it): exported fields under their tag names, "-" skipped, embedded structs
// without a tag name promoted, and among fields with one name the shallowest wins, a tagged
// one among equals, and none when that leaves a tie. The codecs differ in details mirrored
// here: JSON ignores tag names with characters encoding/json rejects and quotes scalars with
// ",string"; CBOR reads the json tag when the cbor tag is empty, counts any tag as tagged,
// normalizes "keyasint" names, and encodes a struct with the "toarray" option (on its "_"
// field) as an array, whose fields are then named by position ("#0", "#1", ...).
func (d *deriver) fields(t reflect.Type) []SchemaField {
	var cands []field
	d.collect(t, nil, 0, map[reflect.Type]bool{}, &cands)
	byName := map[string][]field{}
	var names []string
	for _, f := range cands {
		if _, ok := byName[f.name]; !ok {
			names = append(names, f.name)
		}
		byName[f.name] = append(byName[f.name], f)
	}
	var kept []field
	for _, n := range names {
		if f, ok := dominant(byName[n]); ok {
			kept = append(kept, f)
		}
	}
	if d.c == codecCBOR && toArray(t) {
		slices.SortFunc(kept, func(a, b field) int { return slices.Compare(a.index, b.index) })
		for i := range kept {
			kept[i].name = "#" + strconv.Itoa(i)
		}
	}
	slices.SortFunc(kept, func(a, b field) int { return strings.Compare(a.name, b.name) })
	out := make([]SchemaField, 0, len(kept))
	for _, f := range kept {
		s := d.of(f.typ)
		if f.asString && isScalar(s.Type) {
			s = &Schema{Type: SchemaString}
		}
		out = append(out, SchemaField{Name: f.name, Schema: s})
	}
	return out
}

// toArray reports whether CBOR encodes t as an array: its "_" field has the toarray option.
func toArray(t reflect.Type) bool {
	f, ok := t.FieldByName("_")
	if !ok {
		return false
	}
	_, opts, _ := strings.Cut(f.Tag.Get("cbor"), ",")
	return slices.Contains(strings.Split(opts, ","), "toarray")
}

// collect appends t's candidate fields, descending into embedded structs without a tag name;
// seen stops an embedding cycle through pointers.
func (d *deriver) collect(t reflect.Type, index []int, depth int, seen map[reflect.Type]bool, out *[]field) {
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		if ft.Kind() == reflect.Pointer && ft.Name() == "" {
			ft = ft.Elem()
		}
		if sf.Anonymous {
			if !sf.IsExported() && ft.Kind() != reflect.Struct {
				continue
			}
		} else if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if d.c == codecCBOR {
			if ct := sf.Tag.Get("cbor"); ct != "" {
				tag = ct
			}
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		optList := strings.Split(opts, ",")
		tagged := tag != ""
		if d.c == codecJSON {
			if !validJSONName(name) {
				name = ""
			}
			tagged = name != ""
		} else if slices.Contains(optList, "keyasint") {
			if n, err := strconv.Atoi(name); err == nil {
				name = strconv.Itoa(n)
			}
		}
		idx := append(slices.Clone(index), i)
		if sf.Anonymous && ft.Kind() == reflect.Struct && name == "" {
			d.collect(ft, idx, depth+1, seen, out)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		*out = append(*out, field{name: name, index: idx, typ: sf.Type, depth: depth, tagged: tagged,
			asString: d.c == codecJSON && slices.Contains(optList, "string")})
	}
}

// validJSONName reports whether encoding/json accepts name as a field name from a tag: not
// empty, and only letters, digits and the punctuation it allows.
func validJSONName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case unicode.IsLetter(c), unicode.IsDigit(c):
		default:
			return false
		}
	}
	return true
}

// dominant picks the field a name resolves to among fs, as encoding/json does.
func dominant(fs []field) (field, bool) {
	min := fs[0].depth
	for _, f := range fs {
		min = minInt(min, f.depth)
	}
	var top []field
	for _, f := range fs {
		if f.depth == min {
			top = append(top, f)
		}
	}
	if len(top) == 1 {
		return top[0], true
	}
	var tagged []field
	for _, f := range top {
		if f.tagged {
			tagged = append(tagged, f)
		}
	}
	if len(tagged) == 1 {
		return tagged[0], true
	}
	return field{}, false
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// isScalar reports whether a json ",string" option applies to a field of type t.
func isScalar(t SchemaType) bool {
	switch t {
	case SchemaBool, SchemaInt8, SchemaInt16, SchemaInt32, SchemaInt64, SchemaUint8, SchemaUint16,
		SchemaUint32, SchemaUint64, SchemaFloat32, SchemaFloat64, SchemaString:
		return true
	}
	return false
}

// String returns the schema's canonical encoding, the text recorded in snapshots:
//
//	leaf    the type's name: int64, string, time, ...
//	list    "[" elem "]"
//	map     "map[" key "]" elem
//	struct  "struct{" name " " schema (";" name " " schema)* "}", names quoted and sorted
//	ref     "^" up
//
// Names are quoted with '"', their bytes '"', '\\', below 0x20 and from 0x7f escaped as
// \xHH (lower-case hex), every other byte as is. The encoding uses no Go library's
// formatting, so it is the same with every Go version. A nil schema encodes as "".
func (s *Schema) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	s.write(&b)
	return b.String()
}

func (s *Schema) write(b *strings.Builder) {
	switch s.Type {
	case SchemaList:
		b.WriteByte('[')
		s.Elem.write(b)
		b.WriteByte(']')
	case SchemaMap:
		b.WriteString("map[")
		s.Key.write(b)
		b.WriteByte(']')
		s.Elem.write(b)
	case SchemaStruct:
		b.WriteString("struct{")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(';')
			}
			writeName(b, f.Name)
			b.WriteByte(' ')
			f.Schema.write(b)
		}
		b.WriteByte('}')
	case SchemaRef:
		b.WriteByte('^')
		b.WriteString(strconv.Itoa(s.Up))
	default:
		b.WriteString(string(s.Type))
	}
}

const hexDigits = "0123456789abcdef"

func writeName(b *strings.Builder, name string) {
	b.WriteByte('"')
	for i := range len(name) {
		c := name[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}
