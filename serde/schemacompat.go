package serde

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSchema is wrapped by every error ParseSchema returns.
var ErrSchema = errors.New("serde: bad schema")

// MaxSchemaDepth is the deepest nesting of lists, maps and structs ParseSchema accepts.
const MaxSchemaDepth = 64

// leafType returns the leaf schema type named name.
func leafType(name string) (SchemaType, bool) {
	for _, t := range [...]SchemaType{SchemaBool, SchemaInt8, SchemaInt16, SchemaInt32, SchemaInt64, SchemaUint8,
		SchemaUint16, SchemaUint32, SchemaUint64, SchemaFloat32, SchemaFloat64, SchemaString, SchemaBytes,
		SchemaTime, SchemaAny, SchemaCustom, SchemaUnsupported} {
		if string(t) == name {
			return t, true
		}
	}
	return "", false
}

// ParseSchema reads a schema from its canonical encoding (Schema.String). The empty string
// is no schema (nil, nil). Text that is not the canonical encoding of a schema (unknown
// types, unsorted or duplicate field names, a reference above the root, nesting deeper than
// MaxSchemaDepth, needless escapes) gives an error wrapping ErrSchema; it never panics, and
// ParseSchema(s).String() == s whenever it succeeds.
func ParseSchema(text string) (*Schema, error) {
	if text == "" {
		return nil, nil
	}
	p := schemaParser{src: text}
	s, err := p.schema(0)
	if err == nil && p.pos != len(p.src) {
		err = p.errorf("trailing text")
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

type schemaParser struct {
	src string
	pos int
}

func (p *schemaParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d of %q: %s", ErrSchema, p.pos, p.src, fmt.Sprintf(format, args...))
}

func (p *schemaParser) eat(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

// schema parses one node; depth is the number of enclosing lists, maps and structs.
func (p *schemaParser) schema(depth int) (*Schema, error) {
	if depth > MaxSchemaDepth {
		return nil, p.errorf("nested deeper than %d", MaxSchemaDepth)
	}
	switch {
	case p.eat("["):
		e, err := p.schema(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat("]") {
			return nil, p.errorf("want ]")
		}
		return &Schema{Type: SchemaList, Elem: e}, nil
	case p.eat("map["):
		k, err := p.schema(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat("]") {
			return nil, p.errorf("want ]")
		}
		e, err := p.schema(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Schema{Type: SchemaMap, Key: k, Elem: e}, nil
	case p.eat("struct{"):
		return p.structBody(depth)
	case p.eat("^"):
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.Atoi(p.src[start:p.pos])
		if err != nil || n < 1 || n > depth || strconv.Itoa(n) != p.src[start:p.pos] {
			return nil, p.errorf("bad reference %q (depth %d)", p.src[start:p.pos], depth)
		}
		return &Schema{Type: SchemaRef, Up: n}, nil
	}
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] >= 'a' && p.src[p.pos] <= 'z' || p.src[p.pos] >= '0' && p.src[p.pos] <= '9') {
		p.pos++
	}
	t, ok := leafType(p.src[start:p.pos])
	if !ok {
		return nil, p.errorf("unknown type %q", p.src[start:p.pos])
	}
	return &Schema{Type: t}, nil
}

func (p *schemaParser) structBody(depth int) (*Schema, error) {
	s := &Schema{Type: SchemaStruct}
	if p.eat("}") {
		return s, nil
	}
	for {
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		if n := len(s.Fields); n > 0 && s.Fields[n-1].Name >= name {
			return nil, p.errorf("field %q is not after %q", name, s.Fields[n-1].Name)
		}
		if !p.eat(" ") {
			return nil, p.errorf("want a space after a field name")
		}
		fs, err := p.schema(depth + 1)
		if err != nil {
			return nil, err
		}
		s.Fields = append(s.Fields, SchemaField{Name: name, Schema: fs})
		if p.eat("}") {
			return s, nil
		}
		if !p.eat(";") {
			return nil, p.errorf("want ; or }")
		}
	}
}

// name parses a quoted field name.
func (p *schemaParser) name() (string, error) {
	if !p.eat(`"`) {
		return "", p.errorf(`want "`)
	}
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", p.errorf("unterminated name")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			if p.pos+4 > len(p.src) || p.src[p.pos+1] != 'x' {
				return "", p.errorf(`bad escape`)
			}
			hi, lo := strings.IndexByte(hexDigits, p.src[p.pos+2]), strings.IndexByte(hexDigits, p.src[p.pos+3])
			v := byte(hi<<4 | lo)
			if hi < 0 || lo < 0 || !(v == '"' || v == '\\' || v < 0x20 || v >= 0x7f) {
				return "", p.errorf(`bad escape %q`, p.src[p.pos:p.pos+4])
			}
			b.WriteByte(v)
			p.pos += 4
		case c < 0x20 || c >= 0x7f:
			return "", p.errorf("unescaped byte %#x in a name", c)
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// SchemaChanges is how a schema differs from the schema of recorded data: the outcome of
// CompareSchemas. Paths name fields from the root, joined by "."; "[]" stands for a list's
// elements, "[key]" for a map's keys and "[value]" for its values; the root is "(value)".
type SchemaChanges struct {
	// Added are fields the new schema has and the recorded one does not: recorded values
	// decode with their zero value.
	Added []string
	// Removed are fields the recorded schema has and the new one does not: their values are
	// dropped when recorded values are decoded (and gone once re-written).
	Removed []string
	// Changed are fields whose type changed: recorded values cannot be read as is.
	Changed []SchemaChange

	// removed is the tree of the paths of Removed, for Carried; nil when none.
	removed *fieldNode
}

// SchemaChange is one field whose type changed.
type SchemaChange struct {
	// Path names the field (see SchemaChanges).
	Path string
	// Recorded and New are the field's recorded and new schemas, encoded (Schema.String).
	Recorded, New string
}

// Compatible reports whether data recorded with the old schema is read as is by the new one:
// no field changed its type (added and removed fields are compatible).
func (c SchemaChanges) Compatible() bool { return len(c.Changed) == 0 }

// CompareSchemas compares recorded, the schema data was written with, with current, the
// schema it is now read with. A node whose type differs is a changed field, except that a
// current SchemaAny reads anything; structs are compared field by field, lists and maps by
// their keys and elements. Either schema nil compares as unknown: no changes.
func CompareSchemas(recorded, current *Schema) SchemaChanges {
	var c SchemaChanges
	if recorded != nil && current != nil {
		compareSchemas(&c, "", nil, recorded, current)
	}
	return c
}

// compareSchemas compares old and cur at path, whose steps are steps.
func compareSchemas(c *SchemaChanges, path string, steps []pathStep, old, cur *Schema) {
	if cur.Type == SchemaAny {
		return
	}
	if old.Type != cur.Type || old.Type == SchemaRef && old.Up != cur.Up {
		p := path
		if p == "" {
			p = "(value)"
		}
		c.Changed = append(c.Changed, SchemaChange{Path: p, Recorded: old.String(), New: cur.String()})
		return
	}
	switch old.Type {
	case SchemaList:
		compareSchemas(c, path+"[]", append(steps, pathStep{kind: 'e'}), old.Elem, cur.Elem)
	case SchemaMap:
		compareSchemas(c, path+"[key]", append(steps, pathStep{kind: 'k'}), old.Key, cur.Key)
		compareSchemas(c, path+"[value]", append(steps, pathStep{kind: 'v'}), old.Elem, cur.Elem)
	case SchemaStruct:
		i, j := 0, 0
		for i < len(old.Fields) || j < len(cur.Fields) {
			switch {
			case j == len(cur.Fields) || i < len(old.Fields) && old.Fields[i].Name < cur.Fields[j].Name:
				c.Removed = append(c.Removed, joinPath(path, old.Fields[i].Name))
				c.addRemoved(append(steps, pathStep{kind: 'f', name: old.Fields[i].Name}), len(c.Removed)-1)
				i++
			case i == len(old.Fields) || cur.Fields[j].Name < old.Fields[i].Name:
				c.Added = append(c.Added, joinPath(path, cur.Fields[j].Name))
				j++
			default:
				compareSchemas(c, joinPath(path, cur.Fields[j].Name), append(steps, pathStep{kind: 'f', name: cur.Fields[j].Name}), old.Fields[i].Schema, cur.Fields[j].Schema)
				i++
				j++
			}
		}
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
