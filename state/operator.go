package state

import (
	"iter"

	"github.com/streamstate/streamstate/backend"
)

// OperatorListState is a list of operator state: ListState without namespaces.
type OperatorListState[V any] interface {
	// Get iterates the elements in insertion order.
	Get() iter.Seq2[V, error]
	// Add appends v. The backend may keep v: do not modify it afterwards.
	Add(v V) error
	// AddAll appends vs in order.
	AddAll(vs []V) error
	// Update replaces the list with vs (clears it when vs is empty).
	Update(vs []V) error
	// Clear empties the list.
	Clear() error
}

// BroadcastState is a map of operator state that is identical on every subtask: MapState
// without namespaces. Flink's BroadcastState.
type BroadcastState[UK comparable, UV any] interface {
	Get(k UK) (v UV, ok bool, err error)
	// Put sets k's value. The backend may keep k and v: do not modify them afterwards.
	Put(k UK, v UV) error
	PutAll(m map[UK]UV) error
	Remove(k UK) error
	Contains(k UK) (bool, error)
	IsEmpty() (bool, error)
	// Keys, Values and All iterate the entries in no particular order. Do not modify the
	// map while iterating.
	Keys() iter.Seq2[UK, error]
	Values() iter.Seq2[UV, error]
	All() iter.Seq2[Entry[UK, UV], error]
	// Clear removes every entry.
	Clear() error
}

// OperatorStateStore registers and returns the operator states of one subtask, like Flink's
// OperatorStateStore. The methods take the erased backend.Spec of a ListDescriptor (list states) or a
// MapDescriptor (broadcast states); users call the typed GetOperatorListState,
// GetUnionListState and GetBroadcastState instead.
//
// Operator state is Flink's non-keyed state: state of one operator subtask rather than of a
// key. It is small (source offsets, buffered output, rules) and is redistributed when a job is
// restored at another parallelism, according to the mode it was registered with:
//
//   - split list state (GetOperatorListState): the lists of all old subtasks are concatenated
//     and dealt out in even chunks; at unchanged parallelism each subtask gets its own list.
//   - union list state (GetUnionListState): every subtask gets all elements of all old
//     subtasks. Its size is multiplied by the parallelism on restore: keep it small.
//   - broadcast state (GetBroadcastState): a map that is the same on every subtask (the
//     operator must keep it so); every new subtask gets one copy.
//
// Operator state has no key and no namespace.
//
// Asking again for a registered name returns the same state. A name registered (or restored)
// with another mode or kind fails with ErrStateConflict; with another serializer, with
// ErrIncompatibleSerializer. Used from the task's goroutine only.
type OperatorStateStore interface {
	// GetListState returns the split-distribute list state of spec (kind backend.KindList).
	GetListState(spec backend.Spec) (backend.OperatorList, error)
	// GetUnionListState returns the union list state of spec (kind backend.KindList).
	GetUnionListState(spec backend.Spec) (backend.OperatorList, error)
	// GetBroadcastState returns the broadcast map state of spec (kind backend.KindMap).
	GetBroadcastState(spec backend.Spec) (backend.Broadcast, error)
}

// CheckpointedFunction is implemented by user functions that keep operator state, like
// Flink's CheckpointedFunction. InitializeState is called once, before the first element,
// both on a fresh start and on restore: the function registers its states there and, when
// ctx.IsRestored(), reads what was restored. SnapshotState is called on the task's goroutine
// when a checkpoint or savepoint is taken, before the backend's synchronous phase: the
// function writes into its states what the snapshot must hold.
type CheckpointedFunction interface {
	SnapshotState(ctx FunctionSnapshotContext) error
	InitializeState(ctx FunctionInitializationContext) error
}

// FunctionSnapshotContext describes the snapshot a CheckpointedFunction takes part in.
type FunctionSnapshotContext interface {
	// CheckpointID is the id of the checkpoint or savepoint.
	CheckpointID() int64
	// CheckpointTimestamp is when the checkpoint was triggered, in Unix milliseconds.
	CheckpointTimestamp() int64
}

// FunctionInitializationContext is what InitializeState gets. A function on a keyed stream
// reaches its keyed states through its runtime context (stream.RuntimeContext.State).
type FunctionInitializationContext interface {
	// IsRestored reports whether the function is being restored from a snapshot, as opposed
	// to starting fresh. A restored subtask may still find its states empty (after a rescale).
	IsRestored() bool
	// OperatorStateStore registers the function's operator states.
	OperatorStateStore() OperatorStateStore
}

// GetOperatorListState returns the split-distribute list state d describes, registering it
// on first use.
func GetOperatorListState[V any](s OperatorStateStore, d ListDescriptor[V]) (OperatorListState[V], error) {
	return operatorList[V](d, s.GetListState)
}

// GetUnionListState returns the union list state d describes, registering it on first use.
func GetUnionListState[V any](s OperatorStateStore, d ListDescriptor[V]) (OperatorListState[V], error) {
	return operatorList[V](d, s.GetUnionListState)
}

func operatorList[V any](d ListDescriptor[V], get func(backend.Spec) (backend.OperatorList, error)) (OperatorListState[V], error) {
	spec := d.Spec()
	if err := validateName(spec.Name); err != nil {
		return nil, err
	}
	in, err := get(spec)
	if err != nil {
		return nil, err
	}
	return &operatorListState[V]{in: in}, nil
}

// GetBroadcastState returns the broadcast state d describes, registering it on first use.
func GetBroadcastState[UK comparable, UV any](s OperatorStateStore, d MapDescriptor[UK, UV]) (BroadcastState[UK, UV], error) {
	spec := d.Spec()
	if err := validateName(spec.Name); err != nil {
		return nil, err
	}
	in, err := s.GetBroadcastState(spec)
	if err != nil {
		return nil, err
	}
	return &mapOps[UK, UV]{in: in}, nil
}

type operatorListState[V any] struct{ in backend.OperatorList }

func (s *operatorListState[V]) Get() iter.Seq2[V, error] { return elements[V](s.in.Get) }

func (s *operatorListState[V]) Add(v V) error { return s.in.Add(v) }

func (s *operatorListState[V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	return s.in.AddAll(boxAll(vs))
}

func (s *operatorListState[V]) Update(vs []V) error { return s.in.Update(boxAll(vs)) }
func (s *operatorListState[V]) Clear() error        { return s.in.Clear() }
