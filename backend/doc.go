// Package backend is the contract a state backend implements: streamstate's backend SPI.
// Job authors never import it; they use package state. Backend authors (backend/heap,
// backend/lsm, backend/operator) implement it, and the runtime (package stream) drives it.
//
// A StateBackend is a factory, Flink's word: it owns what the subtasks of a job share (the lsm
// backend's memory budget and metrics) and creates, per subtask, a Keyed backend (keyed state
// and timers of the subtask's key groups) and an Operator backend (non-keyed list and broadcast
// state). Both take snapshots in two phases: a synchronous phase on the task's goroutine that
// must not grow with state size, then an asynchronous phase (AsyncSnapshot.Run) that writes
// while processing goes on. What a snapshot holds never changes after its synchronous phase.
//
// A keyed backend also learns the fate of the checkpoints it took part in
// (NotifyCheckpointComplete/Aborted), as Flink's KeyedStateBackend does. SnapshotOperator
// drives the whole protocol (synchronous phases, asynchronous phases, metadata, notifications)
// for callers outside the stream runtime: benchmarks and the conformance suite.
//
// States speak serialized keys and erased (boxed) values; package state's typed wrappers
// convert. A value type that fits in a machine word may be served unboxed (Word*).
//
// # TTL and registration
//
// A Spec may carry a TTL (package state/ttl): the backend stores each value behind its stamp
// (AppendStamp, the format) and hands out the one TTL view both backends share (package
// backend/ttlview), judged by the subtask's Clock; it leaves expired entries out of full
// snapshots and cleans up entries nobody reads. When a descriptor is registered over recorded state, CheckRegistration
// decides, the same way for every backend, whether the recorded values are read as they are,
// rewritten first (a Rewrite: a Migration, TTL switched on or off) or refused.
//
// # Contracts
//
// Threading: every method is called from the task's goroutine, except AsyncSnapshot.Run and
// OperatorAsyncSnapshot.Run, which run beside it. Errors: sentinels in errors.go, checked with
// errors.Is; corrupt checkpoint bytes are snapshot.ErrCorrupt, never a panic. Every backend
// passes the conformance suite in backend/backendtest.
//
// This package imports only the checkpoint formats, keygroup and serde: no storage driver, no
// Pebble, no cloud SDK, and never a concrete backend or the runtime.
package backend
