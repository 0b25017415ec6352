package lsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// The key layout of every state entry (see the package documentation):
//
//	[key group: 2 bytes BE][state id: 2 bytes BE][uvarint len(key)][key][uvarint len(ns)][ns][user key]
//
// The key arrives in serde.AppendKey form, but whether that form is fixed-size or escaped
// depends on a serializer the backend only knows by ID, so the backend prefixes it with its
// length to split it again. Key and namespace are thus prefix-free, and the entries of one
// (key group), (key group, state) and (key group, state, key, namespace) are contiguous spans.
// The user key of a map entry is its serializer's plain encoding and comes last, so a map is
// iterated in user-key byte order. Key groups are < 1<<15, so every state key starts with a
// byte < 0x80; the backend's own metadata lives under metaPrefix, outside every key-group span.

const (
	kgLen     = 2
	sidLen    = 2
	maxStates = 1<<16 - 1
)

// metaPrefix starts the keys of the backend's metadata (see meta.go).
const metaPrefix = "\xff\xffstreamstate/"

var errBadKey = errors.New("malformed state key")

// appendKGPrefix appends the 2-byte key group.
func appendKGPrefix(dst []byte, kg int) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(kg))
}

// appendStatePrefix appends [kg][sid].
func appendStatePrefix(dst []byte, kg int, sid uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	return binary.BigEndian.AppendUint16(dst, sid)
}

// appendEntryPrefix appends [kg][sid][len key][key][len ns][ns]: the whole key of a value or
// list entry, the prefix of a map's entries.
func appendEntryPrefix(dst []byte, kg int, sid uint16, key, ns []byte) []byte {
	dst = appendStatePrefix(dst, kg, sid)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// keyGroupSpan returns the bounds [lo, hi) of every state key of the key groups in [start, end].
func keyGroupSpan(start, end int) (lo, hi []byte) {
	return appendKGPrefix(nil, start), appendKGPrefix(nil, end+1)
}

// keySID returns the state id of a state key.
func keySID(k []byte) (uint16, error) {
	if len(k) < kgLen+sidLen {
		return 0, fmt.Errorf("%w: %d bytes", errBadKey, len(k))
	}
	return binary.BigEndian.Uint16(k[kgLen:]), nil
}

// decodedKey is a state key split into its parts; the slices alias the key.
type decodedKey struct {
	kg      int
	sid     uint16
	key, ns []byte
	userKey []byte // everything after the namespace (map entries)
}

// decodeKey splits a state key. Bad bytes give an error, never a panic.
func decodeKey(k []byte) (decodedKey, error) {
	var d decodedKey
	if len(k) < kgLen+sidLen {
		return d, fmt.Errorf("%w: %d bytes", errBadKey, len(k))
	}
	d.kg = int(binary.BigEndian.Uint16(k))
	d.sid = binary.BigEndian.Uint16(k[kgLen:])
	rest := k[kgLen+sidLen:]
	var err error
	if d.key, rest, err = splitLen(rest); err != nil {
		return d, fmt.Errorf("%w: key: %v", errBadKey, err)
	}
	if d.ns, rest, err = splitLen(rest); err != nil {
		return d, fmt.Errorf("%w: namespace: %v", errBadKey, err)
	}
	d.userKey = rest
	return d, nil
}

func splitLen(b []byte) (field, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, nil, errors.New("bad length")
	}
	b = b[w:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(b))
	}
	return b[:n:n], b[n:], nil
}

// prefixEnd returns the smallest key greater than every key with the given prefix, or nil if
// there is none (a prefix of 0xFF bytes only).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// List values are their elements, each as uvarint(len) bytes. A list is extended by merging
// the encoding of the new elements, which the merge operator concatenates; the operator is
// associative, as Pebble requires.

// listMergerName is the name of the list merge operator. Pebble records it in the database's
// OPTIONS and refuses to open a database with another one: bump the version whenever the
// list encoding changes.
const listMergerName = "streamstate.list.v1"

var listMerger = &pebble.Merger{
	Name: listMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &listValueMerger{buf: append([]byte(nil), value...)}, nil
	},
}

type listValueMerger struct{ buf []byte }

func (m *listValueMerger) MergeNewer(v []byte) error { m.buf = append(m.buf, v...); return nil }

func (m *listValueMerger) MergeOlder(v []byte) error {
	buf := make([]byte, 0, len(v)+len(m.buf))
	m.buf = append(append(buf, v...), m.buf...)
	return nil
}

func (m *listValueMerger) Finish(bool) ([]byte, io.Closer, error) { return m.buf, nil, nil }

// appendListElement appends one element in list encoding.
func appendListElement(dst, elem []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(elem)))
	return append(dst, elem...)
}

// splitList splits a list value into its elements (aliasing v), appending to dst.
func splitList(dst [][]byte, v []byte) ([][]byte, error) {
	for len(v) > 0 {
		e, rest, err := splitLen(v)
		if err != nil {
			return dst, fmt.Errorf("malformed list value: %v", err)
		}
		dst = append(dst, e)
		v = rest
	}
	return dst, nil
}
