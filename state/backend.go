package state

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/keygroup"
)

// KeyedStateBackend is what a state backend implements for one operator subtask: the working
// keyed state of the key groups in KeyGroupRange, plus snapshots of it. Users reach it through
// the typed KeyedBackend[K]; the methods here speak bytes and erased values.
//
// Threading: every method except the asynchronous part of a snapshot (AsyncSnapshot.Run) must
// be called from one goroutine, the task's. AsyncSnapshot.Run may run on another goroutine
// concurrently with those calls.
//
// Keys are passed in the encoding of serde.AppendKey of the key serializer.
type KeyedStateBackend interface {
	// MaxParallelism is the number of key groups of the job.
	MaxParallelism() int
	// KeyGroupRange is the key groups this backend owns.
	KeyGroupRange() keygroup.Range
	// KeySerializerID is the ID of the key serializer the backend was created (or restored) for.
	KeySerializerID() string
	// SetCurrentKey makes key, whose key group is kg, the scope of every state of this
	// backend. It returns ErrKeyGroupNotOwned if kg is outside KeyGroupRange, and then the
	// backend has no current key (state access fails with ErrNoCurrentKey) rather than
	// silently keeping the previous one. The backend copies key.
	SetCurrentKey(key []byte, kg int) error
	// CreateState registers a state, or returns the one registered under the same name. It
	// returns an InternalValue, InternalList or InternalMap according to the spec's kind
	// (Reducing and Aggregating state are InternalValues). Registering a name that exists
	// (restored or not) with another kind or serializer fails with ErrStateConflict or
	// ErrIncompatibleSerializer.
	CreateState(spec Spec) (InternalState, error)
	// Keys iterates, in no particular order, every key that has state in the named state
	// under namespace ns. The yielded slices are only valid until the next iteration step.
	// Modifying the state during iteration is not allowed.
	Keys(name string, ns []byte) iter.Seq2[[]byte, error]
	// Snapshot runs the synchronous phase of a snapshot and returns its asynchronous phase.
	// The snapshot holds the state exactly as it is when Snapshot returns.
	Snapshot(checkpointID int64, opts SnapshotOptions) (AsyncSnapshot, error)
	// Close releases the backend's resources. A running AsyncSnapshot must finish first.
	Close() error
}

// SnapshotOptions says how a snapshot is written.
type SnapshotOptions struct {
	// Compression compresses each key-group block. Default: checkpoint.CompressionNone.
	Compression checkpoint.Compression
	// Savepoint asks for the canonical full format whatever the backend's checkpoint mode.
	Savepoint bool
	// Workers is how many goroutines the asynchronous phase may use to serialize and
	// compress key groups in parallel. Default (0): GOMAXPROCS.
	Workers int
	// Deadline, if not zero, is when the checkpoint is given up (its trigger time plus
	// execution.checkpointing.timeout). A synchronous phase that waits for IO (the lsm
	// backend's flush of an incremental checkpoint) returns an error instead of waiting past
	// it, so a disk that does not take writes fails the task instead of hanging it.
	// Default: no deadline.
	Deadline time.Time
}

// AsyncSnapshot is the asynchronous phase of a snapshot. Exactly one of Run or Release must be
// called.
type AsyncSnapshot interface {
	// Run writes the snapshot through out and returns its handle. It may run concurrently with
	// the task's use of the backend.
	Run(ctx context.Context, out checkpoint.StreamFactory) (*checkpoint.KeyedStateHandle, error)
	// Release drops the snapshot without writing it.
	Release()
}

// BackendOptions configures the creation of a keyed backend for one subtask.
type BackendOptions struct {
	// OperatorID names the operator (for logs and errors). Default: "operator".
	OperatorID string
	// MaxParallelism is the number of key groups. Required (1..32768).
	MaxParallelism int
	// KeyGroupRange is the key groups owned by the subtask. Required, within [0, MaxParallelism).
	KeyGroupRange keygroup.Range
	// KeySerializerID is the ID of the key serializer. Required.
	KeySerializerID string
	// Restore holds the keyed state handles to restore from: the handles of every subtask of
	// the previous run whose key groups overlap KeyGroupRange (others are skipped). Empty for
	// a fresh start.
	Restore []*checkpoint.KeyedStateHandle
	// Reader reads the restore handles' files. Required when Restore is not empty.
	Reader checkpoint.Reader
}

// InternalState is the part of every backend state object: the current namespace and Clear.
// The key is the backend's current key.
type InternalState interface {
	// SetNamespace sets the namespace later calls act on. The void namespace is empty. The
	// state copies ns.
	SetNamespace(ns []byte)
	// Clear removes the state of the current key and namespace.
	Clear() error
}

// InternalValue is a single value per key and namespace. Values are the spec's serializer's
// type, boxed; the backend may keep a value it was given, so callers must not mutate it.
type InternalValue interface {
	InternalState
	Value() (v any, ok bool, err error)
	Update(v any) error
}

// InternalList is a list per key and namespace.
type InternalList interface {
	InternalState
	// Get returns the elements; the slice must not be modified. Empty means no state.
	Get() ([]any, error)
	Add(v any) error
	AddAll(vs []any) error
	// Update replaces the list; an empty vs clears it.
	Update(vs []any) error
}

// InternalMap is a map per key and namespace.
type InternalMap interface {
	InternalState
	Get(uk any) (v any, ok bool, err error)
	Put(uk, v any) error
	Remove(uk any) error
	Contains(uk any) (bool, error)
	IsEmpty() (bool, error)
	// All iterates the entries; during iteration the map may only lose the entry just
	// yielded (Remove), and every other entry is still yielded exactly once.
	All() iter.Seq2[MapEntry, error]
}

// MapEntry is one erased map entry.
type MapEntry struct{ Key, Value any }

// CheckCompatible is the check every backend makes when a state is registered over data
// written earlier (restored, or registered before): same kind (else ErrStateConflict) and same
// serializer IDs (else ErrIncompatibleSerializer, naming the state and both serializers).
func CheckCompatible(operatorID string, have, want checkpoint.StateMeta) error {
	if have.Kind != want.Kind {
		return fmt.Errorf("%w: state %q of operator %s is %s state, requested as %s state", ErrStateConflict, want.Name, operatorID, have.Kind, want.Kind)
	}
	if have.Value != want.Value || have.UserKey != want.UserKey {
		h, w := have.Value, want.Value
		if have.Value == want.Value {
			h, w = "user key "+have.UserKey, "user key "+want.UserKey
		}
		return fmt.Errorf("%w: state %q of operator %s was written with serializer %q but is registered with %q; register it with %q or migrate the state",
			ErrIncompatibleSerializer, want.Name, operatorID, h, w, h)
	}
	return nil
}
