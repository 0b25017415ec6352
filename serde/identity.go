package serde

import (
	"reflect"
	"slices"
)

// Aliased is implemented by serializers that read, as is, data recorded under IDs other than
// their own: the IDs a serializer had before it was renamed (a Go type or package renamed, a
// serializer given a Name). A checkpoint records the ID of each state's serializers; a restore
// accepts the state when the recorded ID is the registered serializer's ID or one of its
// AliasIDs (see Compatible), and every later checkpoint records the state under the new ID.
//
// An alias is a promise about bytes: the serializer encodes every value to exactly the bytes
// the serializer recorded under the alias did, and decodes those bytes to the same value. No
// conversion happens on restore. Because the bytes are identical by contract, aliases apply
// to key serializers too (a key's bytes decide its key group, and they do not change); a key
// serializer whose bytes differ is incompatible, whatever it declares. Declaring an alias
// whose bytes differ is a bug the restore cannot detect: values then fail to decode on read.
type Aliased interface {
	// AliasIDs returns the IDs, besides ID(), of data the serializer reads as is.
	AliasIDs() []string
}

// Compatible reports whether s reads data recorded under recordedID as is: recordedID is
// s.ID() or one of s's AliasIDs (when s implements Aliased). It is the one rule every state
// backend applies when a descriptor's serializer meets state written earlier.
func Compatible(s interface{ ID() string }, recordedID string) bool {
	if s.ID() == recordedID {
		return true
	}
	return slices.Contains(AliasIDs(s), recordedID)
}

// AliasIDs returns s's AliasIDs, or nil when s does not implement Aliased.
func AliasIDs(s any) []string {
	if a, ok := s.(Aliased); ok {
		return a.AliasIDs()
	}
	return nil
}

// AliasIDs implements Aliased for the type-erased serializer: the wrapped serializer's.
func (e erased[T]) AliasIDs() []string { return AliasIDs(e.s) }

// namedID returns prefix + name, or prefix + T's Go type when name is empty.
func namedID[T any](prefix, name string) string {
	if name == "" {
		return prefix + reflect.TypeFor[T]().String()
	}
	return prefix + name
}

// namedAliases returns the alias IDs of a JSON or CBOR serializer: the Go-type ID when the
// serializer is named (what it was recorded as before it had a Name), then prefix + each
// alias, without the serializer's own ID or duplicates.
func namedAliases[T any](prefix, name string, aliases []string) []string {
	id := namedID[T](prefix, name)
	var out []string
	add := func(a string) {
		if a != id && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if name != "" {
		add(namedID[T](prefix, ""))
	}
	for _, a := range aliases {
		add(prefix + a)
	}
	return out
}

// AliasIDs implements Aliased: "json:" + each of Aliases, and, when Name is set,
// "json:" + the Go type of T (the ID the serializer had without a Name).
func (s JSON[T]) AliasIDs() []string { return namedAliases[T]("json:", s.Name, s.Aliases) }

// AliasIDs implements Aliased: "cbor:" + each of Aliases, and, when Name is set,
// "cbor:" + the Go type of T (the ID the serializer had without a Name).
func (s CBOR[T]) AliasIDs() []string { return namedAliases[T]("cbor:", s.Name, s.Aliases) }
