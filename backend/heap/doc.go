// Package heap is the hashmap state backend: keyed state lives on the Go heap as plain Go
// values, in one map per state and key group, like Flink's HashMapStateBackend. StateBackend
// is its backend.StateBackend (a job's factory of keyed and operator backends); New creates one
// keyed backend alone.
//
// # Snapshots
//
// Snapshots are copy-on-write at two levels. The synchronous phase marks every state's
// key-group tables frozen: O(states x key groups), whatever the amount of state. A frozen
// table is never modified again; the first write to a key group after a snapshot puts an
// empty layer on top of it (O(1)), folded back once no snapshot runs, and a cell (a list or
// map of one key and namespace) is copied before its first modification in the new layer.
// The asynchronous phase serializes the frozen tables in the canonical full format while the
// task keeps reading and writing.
//
// Values are stored as given, and a read returns the stored value itself. A task may change
// what it read in place and write it back (Flink's mutable accumulators: an AggregateFunction
// or Reduce function that changes its accumulator and returns it): while a snapshot runs, the
// first read of a value, list or map that the snapshot holds copies it through its serializer
// (serde.Erased.Copy) into the live layer and returns the copy, so the snapshot keeps what it
// held at its synchronous phase, as Flink's CopyOnWriteStateMap does. Values whose type is
// immutable (numbers, strings, structs without pointers, serde.Immutable) are never copied.
// What a write hands to the state belongs to it: do not modify a value after Update, Add or
// Put; read it again instead (a snapshot taken in between holds the object itself). Values,
// list elements and map user keys of word-sized types (int64, float64, time.Duration, …) are
// the exception: they are kept unboxed, as uint64 words (backend.Word), so that reading and
// writing them allocates nothing. The Backend also takes 8-byte keys as words
// (backend.WordKeyed), and reads and writes on such a key in the void namespace go
// straight to the key group's map[uint64] while no snapshot layer is on it.
//
// A map state whose user keys are serde.WordKey types and whose values are words
// (backend.WordMap) keeps each key's map as up to 16 unboxed entries in a slice, then a
// map[uint64]uint64, and, for 8-byte keys in the void namespace, every entry once more in a
// per-key-group open-addressing index from (key, user key) to value: a Get or Contains probes
// one slot. The index holds the live state only (it is not copy-on-write; snapshots read the
// cells), at about 43 bytes per entry.
//
// # Incremental checkpoints
//
// A backend created with NewIncremental (StateBackend.Incremental, Flink's
// state.backend.incremental) writes only what changed since the last confirmed checkpoint
// (the last NotifyCheckpointComplete of its latest synchronous phase): each write marks its
// (key, namespace) in the state's dirty log, one set per key group and generation, and the
// synchronous phase freezes the current generation in O(states x key groups). A checkpoint's
// handle is a chain (snapshot.IncrementalHandle.Chain, Backend snapshot.HashmapChainBackend):
// a base in the canonical full format and deltas after it, whose blocks hold a tombstone and
// the current content of every changed cell, all under shared/ so that later checkpoints
// reference them. IncrementalOptions bound the chain; a checkpoint beyond the bounds writes a
// new base. Aborted checkpoints and lost notifications only make the next delta larger. A
// restore reads the chain newest first, only the key groups it owns; with
// backend.Options.Claim it continues the restored chain. Savepoints stay full. See
// incremental.go and chain.go, and docs/design.md.
//
// # State TTL
//
// A state whose descriptor has a TTL (package state/ttl) is served through ttlview.With
// over a table of stamped values: a value state keeps each stamp in its cell beside the value,
// list elements and map values are ttlview.Stamped. Word values (ttlview.RawWordSpec) stay
// words with the stamp beside them (ttlview.StampedWord, stampedwords.go and stampedmap.go):
// a value table of stamped words, lists of them, and word maps whose cells and point index
// hold them, so that the view (a backend.WordValue, WordList or WordMap) boxes nothing.
// Three things keep expired entries from piling up without the user doing anything. Reads
// remove what they find expired. Every
// access of the state checks ttl.Config.Cleanup() more of its entries, going round all key
// groups and namespaces (cleanup.go: a copy of one key group's keys at a time is the cursor,
// since Go maps have none), removes the expired ones through the copy-on-write write paths
// and stamps unstamped ones once the time is known; after a lap that found nothing that can
// expire before some time, accesses only read the clock until then. Full snapshots leave out
// what expired at their synchronous phase. A restored state not yet registered is written
// unchanged: its TTL is on the descriptor.
//
// # Restore
//
// A restored state stays serialized until its descriptor is registered (only then are its
// serializers known); unregistered states are carried into later snapshots unchanged.
//
// # Files
//
// backend.go holds the Backend (state registration, the current key, Close) and the base every
// state shares, factory.go the StateBackend, table.go the copy-on-write key-group tables,
// cleanup.go the TTL states' incremental cleanup,
// mkey.go their keys. One file per state kind: value.go
// (value, reducing and aggregating state), list.go, map.go, and their unboxed forms words.go
// (word values and lists, word-keyed maps), wordmap.go and wordindex.go (word maps and their
// point-lookup index), stampedwords.go and stampedmap.go (the same for TTL states). timers.go holds the timer queues, snapshot.go and restore.go the two
// directions of a checkpoint, incremental.go the dirty logs and chain.go the incremental
// checkpoints' files and restore.
//
// This package implements package backend; it must not import the runtime (stream), config,
// or a storage driver.
package heap
