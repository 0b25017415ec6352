// Package serde holds serializers: the byte formats of keys, namespaces and values.
//
// A Serializer[T] turns a T into bytes and back; its ID is recorded in every snapshot so that a
// restore with an incompatible serializer fails loudly instead of misreading bytes. Built-ins
// cover integers, floats, bool, string, []byte and time.Time; JSON[T] is the fallback for structs.
// Of[T]() picks the built-in for T. CBOR[T] is a binary alternative to JSON for structs, a few
// times faster; choose it on the descriptor for state that is touched per record.
//
// JSON and CBOR take their IDs from T's Go type unless given a Name, which keeps state readable
// when the type or its package is renamed; a serializer lists the IDs it had before in its
// aliases (Aliased), and Compatible is the rule every backend applies to a recorded ID: the
// serializer's own, or an alias, whose bytes are the same by contract.
//
// JSON and CBOR also describe the shape they encode T as (Schema, by reflection: field names
// as encoded and their types, recursively): a checkpoint records it, and a backend compares
// it with the registering serializer's (CompareSchemas) to accept added and removed fields
// and refuse a changed field type when the state is registered, not when a value is read.
// Any serializer can provide one by implementing SchemaSerializer.
//
// Keys need more than a value encoding: AppendKey gives a self-delimiting, order-preserving
// encoding, so keys can be concatenated with a namespace and a map user key and still compare in
// value order (the LSM backend relies on this for prefix scans).
//
// Decoders never panic: bad bytes give an error wrapping ErrDecode.
//
// It imports no package of the module: every layer may import it.
package serde
