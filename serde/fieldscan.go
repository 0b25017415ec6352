package serde

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Carried reports which of the fields c.Removed the encoded value src carries: it calls
// found(i) once for each index i into c.Removed whose field src holds with a value other than
// null, in any element of the lists and maps on the field's path. It scans src's encoding
// without decoding it into a Go type, so it works whatever type now reads the state. s is
// the serializer that wrote src: JSON and CBOR (and Erase of either) are scanned; for any
// other serializer ok is false and nothing is known. Bytes that are not a well-formed
// encoding give an error wrapping ErrDecode; Carried never panics.
//
// A backend calls it over every recorded value of a state whose registration dropped fields,
// to report how many values carried each.
func (c SchemaChanges) Carried(s any, src []byte, found func(i int)) (ok bool, err error) {
	sc, isCodec := s.(structCodec)
	if !isCodec || sc.structCodec() < 0 {
		return false, nil
	}
	if c.removed == nil {
		return true, nil
	}
	sn := scanner{src: src, found: found, seen: make([]bool, len(c.Removed))}
	if sc.structCodec() == codecJSON {
		sn.skipSpace()
		err = sn.json(c.removed, 0)
		if sn.skipSpace(); err == nil && sn.pos != len(src) {
			err = sn.errorf("trailing bytes")
		}
	} else {
		err = sn.cbor(c.removed, 0)
		if err == nil && sn.pos != len(src) {
			err = sn.errorf("trailing bytes")
		}
	}
	if err != nil {
		return true, fmt.Errorf("%w: scan for removed fields: %w", ErrDecode, err)
	}
	return true, nil
}

// structCodec is implemented by the serializers Carried scans: the codec of their encoding,
// or -1 when it is not one (an erased serializer of another kind).
type structCodec interface{ structCodec() codec }

func (JSON[T]) structCodec() codec { return codecJSON }
func (CBOR[T]) structCodec() codec { return codecCBOR }
func (e erased[T]) structCodec() codec {
	if sc, ok := any(e.s).(structCodec); ok {
		return sc.structCodec()
	}
	return -1
}

// fieldNode is a node of the tree of removed field paths: the fields below a struct (by
// encoded name; "#i" for a CBOR toarray struct's position i), a list's elements, a map's keys
// and values. hit is the index of the removed field ending here, or -1.
type fieldNode struct {
	fields              map[string]*fieldNode
	elems, keys, values *fieldNode
	hit                 int
}

func newFieldNode() *fieldNode { return &fieldNode{hit: -1} }

// pathStep is one step of a schema path: a struct field (name), or a list's elements, a map's
// keys or values.
type pathStep struct {
	kind byte // 'f' field, 'e' list elements, 'k' map keys, 'v' map values
	name string
}

// addRemoved records that the field at path is c.Removed[i].
func (c *SchemaChanges) addRemoved(path []pathStep, i int) {
	if c.removed == nil {
		c.removed = newFieldNode()
	}
	n := c.removed
	for _, st := range path {
		var next **fieldNode
		switch st.kind {
		case 'e':
			next = &n.elems
		case 'k':
			next = &n.keys
		case 'v':
			next = &n.values
		default:
			if n.fields == nil {
				n.fields = map[string]*fieldNode{}
			}
			child := n.fields[st.name]
			if child == nil {
				child = newFieldNode()
				n.fields[st.name] = child
			}
			n = child
			continue
		}
		if *next == nil {
			*next = newFieldNode()
		}
		n = *next
	}
	n.hit = i
}

// maxScanDepth bounds the nesting Carried follows, so hostile bytes cannot exhaust the stack.
const maxScanDepth = 1000

type scanner struct {
	src   []byte
	pos   int
	found func(int)
	seen  []bool
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

// hit reports the field of n as carried, once per value.
func (s *scanner) hit(n *fieldNode) {
	if n.hit >= 0 && !s.seen[n.hit] {
		s.seen[n.hit] = true
		s.found(n.hit)
	}
}

// child returns the node of field name below n, or nil.
func (n *fieldNode) child(name string) *fieldNode {
	if n == nil || n.fields == nil {
		return nil
	}
	return n.fields[name]
}

// --- JSON ---

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// json scans one JSON value at s.pos for the fields of n (nil: skip it).
func (s *scanner) json(n *fieldNode, depth int) error {
	if depth > maxScanDepth {
		return s.errorf("nested deeper than %d", maxScanDepth)
	}
	if s.pos >= len(s.src) {
		return s.errorf("unexpected end")
	}
	switch c := s.src[s.pos]; {
	case c == '{':
		s.pos++
		s.skipSpace()
		if s.pos < len(s.src) && s.src[s.pos] == '}' {
			s.pos++
			return nil
		}
		for {
			s.skipSpace()
			key, err := s.jsonString()
			if err != nil {
				return err
			}
			s.skipSpace()
			if s.pos >= len(s.src) || s.src[s.pos] != ':' {
				return s.errorf("want ':'")
			}
			s.pos++
			s.skipSpace()
			next := n.child(key)
			if next != nil && s.pos < len(s.src) && s.src[s.pos] != 'n' {
				s.hit(next)
			}
			if next == nil && n != nil {
				next = n.values
			}
			if err := s.json(next, depth+1); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos >= len(s.src) {
				return s.errorf("unterminated object")
			}
			s.pos++
			if s.src[s.pos-1] == '}' {
				return nil
			}
			if s.src[s.pos-1] != ',' {
				return s.errorf("want ',' or '}'")
			}
		}
	case c == '[':
		s.pos++
		s.skipSpace()
		if s.pos < len(s.src) && s.src[s.pos] == ']' {
			s.pos++
			return nil
		}
		var elems *fieldNode
		if n != nil {
			elems = n.elems
		}
		for {
			s.skipSpace()
			if err := s.json(elems, depth+1); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos >= len(s.src) {
				return s.errorf("unterminated array")
			}
			s.pos++
			if s.src[s.pos-1] == ']' {
				return nil
			}
			if s.src[s.pos-1] != ',' {
				return s.errorf("want ',' or ']'")
			}
		}
	case c == '"':
		_, err := s.jsonString()
		return err
	default:
		start := s.pos
		for s.pos < len(s.src) && (s.src[s.pos] == '-' || s.src[s.pos] == '+' || s.src[s.pos] == '.' ||
			s.src[s.pos] >= '0' && s.src[s.pos] <= '9' || s.src[s.pos] >= 'a' && s.src[s.pos] <= 'z' || s.src[s.pos] == 'E') {
			s.pos++
		}
		if start == s.pos {
			return s.errorf("unexpected byte %#x", c)
		}
		return nil
	}
}

// jsonString reads a JSON string at s.pos and returns its value.
func (s *scanner) jsonString() (string, error) {
	if s.pos >= len(s.src) || s.src[s.pos] != '"' {
		return "", s.errorf("want a string")
	}
	start, escaped := s.pos, false
	for s.pos++; s.pos < len(s.src); s.pos++ {
		switch s.src[s.pos] {
		case '\\':
			escaped = true
			s.pos++
		case '"':
			s.pos++
			if !escaped {
				return string(s.src[start+1 : s.pos-1]), nil
			}
			var v string
			if err := json.Unmarshal(s.src[start:s.pos], &v); err != nil {
				return "", s.errorf("bad string: %v", err)
			}
			return v, nil
		}
	}
	return "", s.errorf("unterminated string")
}

// --- CBOR ---

// cborHead reads an item's head at s.pos: its major type, its argument, and whether its
// length is indefinite.
func (s *scanner) cborHead() (major byte, arg uint64, indefinite bool, err error) {
	if s.pos >= len(s.src) {
		return 0, 0, false, s.errorf("unexpected end")
	}
	b := s.src[s.pos]
	s.pos++
	major, info := b>>5, b&31
	switch {
	case info < 24:
		return major, uint64(info), false, nil
	case info <= 27:
		n := 1 << (info - 24)
		if len(s.src)-s.pos < n {
			return 0, 0, false, s.errorf("unexpected end")
		}
		var buf [8]byte
		copy(buf[8-n:], s.src[s.pos:s.pos+n])
		s.pos += n
		return major, binary.BigEndian.Uint64(buf[:]), false, nil
	case info == 31 && major >= 2 && major <= 5 || info == 31 && major == 7:
		return major, 0, true, nil
	}
	return 0, 0, false, s.errorf("reserved additional information %d", info)
}

// cborBreak consumes a break byte if one is next.
func (s *scanner) cborBreak() bool {
	if s.pos < len(s.src) && s.src[s.pos] == 0xff {
		s.pos++
		return true
	}
	return false
}

// cbor scans one CBOR item at s.pos for the fields of n (nil: skip it).
func (s *scanner) cbor(n *fieldNode, depth int) error {
	_, err := s.cborItem(n, depth)
	return err
}

// cborItem scans one item; key is its value as a struct field name when it is a text
// string or an integer (keyasint), else "".
func (s *scanner) cborItem(n *fieldNode, depth int) (key string, err error) {
	if depth > maxScanDepth {
		return "", s.errorf("nested deeper than %d", maxScanDepth)
	}
	major, arg, indef, err := s.cborHead()
	if err != nil {
		return "", err
	}
	switch major {
	case 0:
		return strconv.FormatUint(arg, 10), nil
	case 1:
		if arg > math.MaxInt64 {
			return "", nil
		}
		return strconv.FormatInt(-1-int64(arg), 10), nil
	case 2, 3:
		if !indef {
			if arg > uint64(len(s.src)-s.pos) {
				return "", s.errorf("string of %d bytes overruns the value", arg)
			}
			v := s.src[s.pos : s.pos+int(arg)]
			s.pos += int(arg)
			if major == 3 {
				return string(v), nil
			}
			return "", nil
		}
		var text []byte
		for !s.cborBreak() {
			chunk := s.pos
			m, _, in, err := s.cborHead()
			if err != nil {
				return "", err
			}
			if m != major || in {
				return "", s.errorf("bad chunk of an indefinite-length string")
			}
			s.pos = chunk
			k, err := s.cborItem(nil, depth+1)
			if err != nil {
				return "", err
			}
			text = append(text, k...)
		}
		if major == 3 {
			return string(text), nil
		}
		return "", nil
	case 4:
		var elems *fieldNode
		if n != nil {
			elems = n.elems
		}
		for i := uint64(0); indef || i < arg; i++ {
			if indef && s.cborBreak() {
				break
			}
			if !indef && arg-i > uint64(len(s.src)-s.pos) { // every item takes a byte at least
				return "", s.errorf("array of %d items overruns the value", arg)
			}
			next := elems
			if f := n.child("#" + strconv.FormatUint(i, 10)); f != nil { // a toarray struct
				if s.pos < len(s.src) && s.src[s.pos] != 0xf6 && s.src[s.pos] != 0xf7 {
					s.hit(f)
				}
				next = f
			}
			if _, err := s.cborItem(next, depth+1); err != nil {
				return "", err
			}
		}
		return "", nil
	case 5:
		var keys *fieldNode
		if n != nil {
			keys = n.keys
		}
		for i := uint64(0); indef || i < arg; i++ {
			if indef && s.cborBreak() {
				break
			}
			if !indef && arg-i > uint64(len(s.src)-s.pos)/2 { // every entry takes two bytes at least
				return "", s.errorf("map of %d entries overruns the value", arg)
			}
			k, err := s.cborItem(keys, depth+1)
			if err != nil {
				return "", err
			}
			next := n.child(k)
			if next != nil && s.pos < len(s.src) && s.src[s.pos] != 0xf6 && s.src[s.pos] != 0xf7 {
				s.hit(next)
			}
			if next == nil && n != nil {
				next = n.values
			}
			if _, err := s.cborItem(next, depth+1); err != nil {
				return "", err
			}
		}
		return "", nil
	case 6:
		return s.cborItem(n, depth+1) // a tag's content is the value
	default: // 7: simple values and floats; the head held them
		if indef {
			return "", s.errorf("unexpected break")
		}
		return "", nil
	}
}
