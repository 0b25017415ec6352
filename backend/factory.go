package backend

import (
	"context"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// StateBackend is a state backend in Flink's sense: a factory, one per job, that creates the
// keyed and the operator state backend of every operator subtask and owns what they share
// (the lsm backend's memory budget and its metrics collector). The composition root (package
// config, or a program's main) creates it and hands it to the runtime in stream.Options; the
// runtime never picks a backend itself.
//
// Create* may be called from several goroutines at once (subtasks start in parallel).
type StateBackend interface {
	// Name is the backend's state.backend.type: "hashmap" or "lsm".
	Name() string
	// CreateKeyedBackend creates the keyed state backend of one operator subtask, restored
	// from opts.Restore. The caller closes it.
	CreateKeyedBackend(ctx context.Context, opts Options) (Keyed, error)
	// CreateOperatorBackend creates the operator state backend of one operator subtask,
	// restored from opts.Restore. The caller closes it.
	CreateOperatorBackend(ctx context.Context, opts OperatorOptions) (Operator, error)
	// Close releases the shared resources. Every backend created must be closed first.
	Close() error
}

// OperatorOptions configures the creation of an operator state backend for one subtask.
type OperatorOptions struct {
	// OperatorID names the operator in file names, logs and errors. Default: "operator".
	OperatorID string
	// SubtaskIndex is this subtask's index, in [0, Parallelism). Default: 0.
	SubtaskIndex int
	// Parallelism is the operator's parallelism. Required (>= 1).
	Parallelism int
	// Restore holds the operator state handles of all subtasks of the previous run of this
	// operator, in any order. Empty for a fresh start.
	Restore []*snapshot.OperatorStateHandle
	// Reader reads the restore handles' files. Required when Restore is not empty.
	Reader snapshot.Reader
}
