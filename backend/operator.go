package backend

import (
	"context"
	"iter"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// OperatorList is an operator list state with erased elements (the spec's Value
// serializer's type, boxed).
type OperatorList interface {
	// Get returns the elements; the slice must not be modified.
	Get() ([]any, error)
	Add(v any) error
	AddAll(vs []any) error
	// Update replaces the list; an empty vs clears it.
	Update(vs []any) error
	Clear() error
}

// Broadcast is a broadcast map state with erased keys and values.
type Broadcast interface {
	Get(uk any) (v any, ok bool, err error)
	Put(uk, v any) error
	Remove(uk any) error
	Contains(uk any) (bool, error)
	IsEmpty() (bool, error)
	// All iterates the entries; the map must not be modified during iteration.
	All() iter.Seq2[MapEntry, error]
	Clear() error
}

// Operator is what an operator state backend implements for one subtask: its
// operator states plus snapshots of them. Like Keyed, every method is called from
// the task's goroutine; only OperatorAsyncSnapshot.Run runs beside them.
type Operator interface {
	// GetListState returns the split-distribute list state of spec (kind KindList).
	GetListState(spec Spec) (OperatorList, error)
	// GetUnionListState returns the union list state of spec (kind KindList).
	GetUnionListState(spec Spec) (OperatorList, error)
	// GetBroadcastState returns the broadcast map state of spec (kind KindMap).
	GetBroadcastState(spec Spec) (Broadcast, error)
	// IsRestored reports whether the backend was restored from operator state handles.
	IsRestored() bool
	// Snapshot runs the synchronous phase of a snapshot and returns its asynchronous phase.
	// The snapshot holds the operator state exactly as it is when Snapshot returns.
	Snapshot(checkpointID int64) (OperatorAsyncSnapshot, error)
	// Close releases the backend. A running OperatorAsyncSnapshot must finish first.
	Close() error
}

// OperatorAsyncSnapshot is the asynchronous phase of an operator state snapshot. Exactly one
// of Run or Release must be called.
type OperatorAsyncSnapshot interface {
	// Run writes the snapshot through out and returns its handle. It may run concurrently
	// with the task's use of the backend. A backend without any state writes nothing and
	// returns a nil handle (as Flink does); a restore simply gets fewer handles.
	Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.OperatorStateHandle, error)
	// Release drops the snapshot without writing it.
	Release()
}
