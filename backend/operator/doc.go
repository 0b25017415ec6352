// Package operator is the operator state backend: the non-keyed state of one operator
// subtask (Flink's DefaultOperatorStateBackend), kept on the Go heap, snapshotted into one
// file per subtask in the checkpoint package's operator state format, and redistributed on
// restore as Flink's RoundRobinOperatorStateRepartitioner does.
//
// # States
//
// A Backend implements backend.Operator. Users register states through the typed
// functions of package state: state.GetOperatorListState (split-distribute list state),
// state.GetUnionListState (union list state) and state.GetBroadcastState (broadcast map state).
// Functions that keep operator state implement state.CheckpointedFunction; the runtime
// (package stream) calls them with a Backend as their state.OperatorStateStore.
//
// # Redistribution on restore
//
// Options.Restore holds the operator state handles of every subtask of the previous run
// (p subtasks, the handles' Parallelism); the backend is subtask SubtaskIndex of
// Parallelism (q). Each state is redistributed by the mode it was registered with:
//
//   - split: if q == p every subtask gets its own list back. Otherwise the lists of the old
//     subtasks are concatenated in subtask order and cut into q contiguous chunks whose sizes
//     differ by at most one. The larger chunks go to the subtasks from a starting subtask on,
//     and the starting subtask rotates from state to state (states taken in name order), so
//     the extra elements of several states do not all land on subtask 0.
//   - union: every subtask gets the concatenation of all old lists, in subtask order. When
//     that exceeds Options.UnionSizeWarningBytes a warning names the state and its size:
//     union state is shipped whole to every subtask, so it grows with the parallelism.
//   - broadcast: every subtask gets the map of the lowest old subtask that has it (all
//     copies are identical).
//
// Every subtask computes its share from the handles' metadata alone and reads only the file
// sections it needs. A restored state stays serialized until it is registered, which checks
// it against the descriptor: another mode fails with backend.ErrStateConflict; then the
// rules of keyed state apply (backend.CheckOperatorRegistration): another serializer ID, not
// declared as an alias, or a value schema whose field types changed fails with
// backend.ErrIncompatibleSerializer unless the descriptor carries a migration
// (state.MigrateFrom) that reads the recorded values, which then migrates every element or
// entry value before the state is returned; added and removed fields are compatible, the
// removed ones logged on Options.Logger with the number of values that carried them; a
// broadcast state's user key type cannot change at all (its schema must be the recorded
// one: entries are found by their key's encoding). A state restored under an alias or
// migrated is recorded under the new ID (and schema) from then on. States restored but never
// registered are carried into later snapshots unchanged.
//
// # Contracts
//
// Threading: a Backend and its states are used from one goroutine, the task's. Only
// backend.OperatorAsyncSnapshot.Run may run on another goroutine, concurrently with the task.
//
// Snapshots: the synchronous phase (Snapshot) is O(number of states). A list is captured as
// it is, because lists are append-only (Update and Clear replace the list instead of
// rewriting it); a broadcast map is frozen and copied by the first write after the snapshot.
// Operator state is meant to be small, so a copy is cheap. The asynchronous phase serializes
// and writes one file through a snapshot.StreamFactory.
//
// Ownership: values handed to Add, Update or Put are kept as they are and serialized later,
// possibly by the asynchronous phase: do not modify them afterwards.
//
// Errors: bad restore files give errors wrapping snapshot.ErrCorrupt or snapshot.ErrMissing
// that name the file; state misuse gives the sentinels of package state.
//
// This package implements package backend; it must not import the runtime (stream), config,
// or a storage driver.
package operator
