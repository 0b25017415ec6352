package operator_test

import (
	"context"
	"fmt"

	"github.com/streamstate/streamstate/backend/operator"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// bufferingSink writes elements out in batches. Elements it has not written yet are operator
// state: a checkpoint holds them, and a restore hands them to whichever subtask gets them.
type bufferingSink struct {
	subtask, threshold int
	buffer             []string
	checkpointed       state.OperatorListState[string]
}

// initContext is the context the runtime gives InitializeState.
type initContext struct{ b *operator.Backend }

func (c initContext) IsRestored() bool                             { return c.b.IsRestored() }
func (c initContext) OperatorStateStore() state.OperatorStateStore { return c.b }

func (s *bufferingSink) Invoke(v string) {
	s.buffer = append(s.buffer, v)
	if len(s.buffer) >= s.threshold {
		fmt.Printf("subtask %d writes %v\n", s.subtask, s.buffer)
		s.buffer = nil
	}
}

func (s *bufferingSink) SnapshotState(ctx state.FunctionSnapshotContext) error {
	return s.checkpointed.Update(s.buffer)
}

func (s *bufferingSink) InitializeState(ctx state.FunctionInitializationContext) error {
	var err error
	s.checkpointed, err = state.GetOperatorListState(ctx.OperatorStateStore(), state.ListDescriptor[string]{Name: "buffered-elements"})
	if err != nil || !ctx.IsRestored() {
		return err
	}
	for v, err := range s.checkpointed.Get() {
		if err != nil {
			return err
		}
		s.buffer = append(s.buffer, v)
	}
	return nil
}

// A buffering sink runs at parallelism 2, is checkpointed, and is restored at parallelism 3:
// the buffered elements of both old subtasks are dealt out among the three new ones.
func ExampleBackend_Snapshot() {
	ctx := context.Background()
	st, _ := blobstore.OpenURL(ctx, "mem://")
	cps, _ := checkpoint.Open(ctx, st, "sink-job", checkpoint.Options{})

	input := [][]string{{"a", "b", "c", "d", "e"}, {"f", "g", "h"}}
	pending, _ := cps.Begin(1)
	var handles []*snapshot.OperatorStateHandle
	for i, elements := range input {
		backend, _ := operator.New(ctx, operator.Options{OperatorID: "sink", SubtaskIndex: i, Parallelism: 2})
		sink := &bufferingSink{subtask: i, threshold: 4}
		_ = sink.InitializeState(initContext{backend})
		for _, e := range elements {
			sink.Invoke(e)
		}
		_ = sink.SnapshotState(nil) // what the runtime does at a barrier, before the backend's snapshot
		snap, _ := backend.Snapshot(1)
		h, _ := snap.Run(ctx, pending)
		handles = append(handles, h)
	}
	_ = pending.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "sink", Parallelism: 2, MaxParallelism: 128, Operator: handles}}})

	md, _ := cps.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	for i := range 3 {
		backend, _ := operator.New(ctx, operator.Options{OperatorID: "sink", SubtaskIndex: i, Parallelism: 3,
			Restore: md.Operator("sink").Operator, Reader: cps.Reader()})
		sink := &bufferingSink{subtask: i, threshold: 4}
		_ = sink.InitializeState(initContext{backend})
		fmt.Printf("restored subtask %d buffers %v\n", i, sink.buffer)
	}
	// Output:
	// subtask 0 writes [a b c d]
	// restored subtask 0 buffers [e f]
	// restored subtask 1 buffers [g]
	// restored subtask 2 buffers [h]
}
