// Package keygroup holds the key-group arithmetic that makes state rescalable.
//
// Every key belongs to one of maxParallelism key groups, chosen by a 32-bit murmur3 hash of the
// key's serialized bytes (Of). Each parallel subtask of an operator owns a contiguous Range of key
// groups (RangeFor), and a key group always maps back to the subtask that owns it
// (OperatorIndex). The formulas are Apache Flink's KeyGroupRangeAssignment, so a Flink user can
// reason about placement the same way. The hash is part of the checkpoint format and never changes.
//
// All functions are pure and safe for concurrent use.
//
// It imports only the standard library: every layer may import it.
package keygroup
