package backend

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Keyed is what a state backend implements for one operator subtask: the working
// keyed state of the key groups in KeyGroupRange, plus snapshots of it. Users reach it through
// the typed state.KeyedBackend[K]; the methods here speak bytes and erased values.
//
// Threading: every method except the asynchronous part of a snapshot (AsyncSnapshot.Run) must
// be called from one goroutine, the task's. AsyncSnapshot.Run may run on another goroutine
// concurrently with those calls.
//
// Keys are passed in the encoding of serde.AppendKey of the key serializer.
type Keyed interface {
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
	// returns a Value, List or Map according to the spec's kind
	// (Reducing and Aggregating state are Values). Registering a name that exists
	// (restored or not) with another kind or serializer fails with ErrStateConflict or
	// ErrIncompatibleSerializer.
	CreateState(spec Spec) (State, error)
	// Keys iterates, in no particular order, every key that has state in the named state
	// under namespace ns. The yielded slices are only valid until the next iteration step.
	// Modifying the state during iteration is not allowed.
	Keys(name string, ns []byte) iter.Seq2[[]byte, error]
	// CreateTimerQueue registers the timer queue of the given name, or returns the one
	// registered under it (restored timers included). A queue name is a state name: it must
	// not collide with a keyed state's. Timers are in every snapshot of the backend.
	CreateTimerQueue(name string) (TimerQueue, error)
	// Snapshot runs the synchronous phase of a snapshot and returns its asynchronous phase.
	// The snapshot holds the state exactly as it is when Snapshot returns.
	Snapshot(checkpointID int64, opts SnapshotOptions) (AsyncSnapshot, error)
	// NotifyCheckpointComplete reports that checkpoint id, which the backend snapshotted,
	// completed: its _metadata is written (Flink's KeyedStateBackend is a CheckpointListener
	// too). A backend whose checkpoints share files (lsm incremental) may reuse only files of
	// completed checkpoints. Notifications may be lost, arrive late or out of order; a backend
	// must stay correct then (at worst it uploads a file again).
	NotifyCheckpointComplete(id int64) error
	// NotifyCheckpointAborted reports that checkpoint id failed or was given up.
	NotifyCheckpointAborted(id int64) error
	// Close releases the backend's resources. A running AsyncSnapshot must finish first.
	Close() error
}

// SnapshotOptions says how a snapshot is written.
type SnapshotOptions struct {
	// Compression compresses each key-group block. Default: snapshot.CompressionNone.
	Compression snapshot.Compression
	// Savepoint marks a savepoint: it is written in SavepointFormat whatever the backend's
	// checkpoint mode.
	Savepoint bool
	// SavepointFormat is the format of a savepoint (Savepoint set; ignored otherwise), Flink's
	// SavepointFormatType. Default: SavepointFormatCanonical.
	SavepointFormat SavepointFormatType
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

// SavepointFormatType is the format of a savepoint's keyed state, as Flink's
// SavepointFormatType (`flink savepoint --type canonical|native`).
type SavepointFormatType uint8

const (
	// SavepointFormatCanonical is the canonical full format (the default): every backend
	// writes and reads it, so a canonical savepoint is the one that changes backends.
	SavepointFormatCanonical SavepointFormatType = iota
	// SavepointFormatNative is the backend's own format: for the lsm backend the database's
	// files as an incremental checkpoint holds them, all of them in the savepoint's own
	// directory (much faster to take and restore for large state); only the same backend
	// restores it. The hashmap backend has one format: its native savepoint is canonical, as
	// in Flink.
	SavepointFormatNative
)

// String returns the name of t as the CLI and Flink spell it: "canonical" or "native".
func (t SavepointFormatType) String() string {
	switch t {
	case SavepointFormatCanonical:
		return "canonical"
	case SavepointFormatNative:
		return "native"
	}
	return fmt.Sprintf("SavepointFormatType(%d)", uint8(t))
}

// ParseSavepointFormatType parses "canonical" or "native" (case-insensitive).
func ParseSavepointFormatType(s string) (SavepointFormatType, error) {
	switch strings.ToLower(s) {
	case "canonical":
		return SavepointFormatCanonical, nil
	case "native":
		return SavepointFormatNative, nil
	}
	return 0, fmt.Errorf("savepoint format type %q is unknown: use canonical or native", s)
}

// AsyncSnapshot is the asynchronous phase of a snapshot. Exactly one of Run or Release must be
// called.
type AsyncSnapshot interface {
	// Run writes the snapshot through out and returns its handle. It may run concurrently with
	// the task's use of the backend. A snapshot without any record (no state entry, no
	// timer) may write nothing and return a nil handle, as Flink does; the key groups of a
	// subtask without a handle then restore empty. Callers leave nil handles out of the
	// metadata.
	Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error)
	// Release drops the snapshot without writing it.
	Release()
}

// Options configures the creation of a keyed backend for one subtask.
type Options struct {
	// OperatorID names the operator (for logs and errors). Default: "operator".
	OperatorID string
	// MaxParallelism is the number of key groups. Required (1..32768).
	MaxParallelism int
	// KeyGroupRange is the key groups owned by the subtask. Required, within [0, MaxParallelism).
	KeyGroupRange keygroup.Range
	// KeySerializerID is the ID of the key serializer. Required.
	KeySerializerID string
	// KeySerializerAliases are the key serializer's alias IDs (serde.AliasIDs): keys restored
	// from a snapshot recorded under one of them are accepted as is, and later snapshots
	// record KeySerializerID. By serde.Aliased's contract an alias encodes every key to the
	// same bytes, so keys keep their key groups; any other change of the key serializer is
	// incompatible (see CheckKeySerializer). Default: none.
	KeySerializerAliases []string
	// Restore holds the keyed state handles to restore from: the handles of every subtask of
	// the previous run whose key groups overlap KeyGroupRange (others are skipped). Empty for
	// a fresh start.
	Restore []*snapshot.KeyedStateHandle
	// Reader reads the restore handles' files. Required when Restore is not empty.
	Reader snapshot.Reader
	// Claim says that this backend's checkpoints may reference the files of the Restore
	// handles, under the paths the handles give (Flink's claim mode, and a job resuming from
	// its own checkpoints): a backend with incremental checkpoints then reuses them, so the
	// first checkpoint after a restore uploads only what changed since. When false (Flink's
	// no-claim mode) no checkpoint of this backend references a restored file: the first one
	// after the restore holds everything itself. The restored snapshot's retention is the
	// caller's business (package checkpoint). Default: false.
	Claim bool
	// Clock is the time TTL states are judged by; the runtime advances its event time.
	// Default: the wall clock, and no event time (event-time TTL states never expire).
	Clock *Clock
}
