// Package ttlview is the TTL view of a keyed state, shared by every backend: Flink's TTL state
// decorators (TtlValueState, TtlListState, TtlMapState), written once over the backend SPI.
//
// A backend creates a TTL state's raw state from RawSpec (or RawWordSpec, if it keeps word
// values unboxed): values Stamped with the time they were last written, encoded as
// backend.AppendStamp followed by the user's encoding (StampSerializer). It hands out With's
// view over it, which stamps every write with the subtask's backend.Clock, judges every read
// (an expired entry is removed, and returned only under ttl.ReturnExpiredIfNotCleanedUp),
// renews stamps on read under ttl.OnReadAndWrite, and expires list elements and map entries
// one by one. A raw state that keeps stamps beside its values (StampedValue, StampedWord*)
// lets the view skip the Stamped box. Backends judge stored entries themselves, for full
// snapshots and cleanup, with Expiry: the same rule as the view's reads.
//
// The format of stamps, the clock and registration rewrites (TTL switched on or off) are part
// of the SPI, in package backend; this package only implements the view.
package ttlview
