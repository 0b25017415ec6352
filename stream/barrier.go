package stream

import (
	"context"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// checkpointBarrier is Flink's CheckpointBarrier with its CheckpointOptions: everything a
// subtask needs to take its part of one checkpoint or savepoint. The coordinator's driver
// makes one when it triggers the checkpoint and never changes it afterwards; a source
// subtask gets it with the trigger, and every other subtask from the barrier element it
// aligns on, which carries it downstream. No subtask reads the coordinator's state: the
// coordinator alone owns what is in flight.
//
// A checkpoint the coordinator gives up (a decline, its timeout, the job's stop) stays
// safe for a subtask that still snapshots for it: ctx is done by then, the asynchronous
// phase stops, out refuses new files and discards those committed late (checkpoint.Pending
// after Abort), and the coordinator ignores the ack of a checkpoint it no longer holds.
type checkpointBarrier struct {
	id int64
	// timestampMs is the trigger time, recorded in the metadata and given to
	// CheckpointedFunction.SnapshotState.
	timestampMs int64
	savepoint   bool
	// format is a savepoint's format (canonical unless asked otherwise).
	format backend.SavepointFormatType
	// stop: a stop-with-savepoint; a source emits nothing after its barrier.
	stop bool
	// deadline is when the coordinator gives the checkpoint up
	// (execution.checkpointing.timeout): a synchronous phase must not wait past it. Zero: no
	// timeout.
	deadline time.Time
	// out creates the snapshot's files: the checkpoint.Pending of the checkpoint or savepoint.
	out snapshot.StreamFactory
	// ctx is done once the coordinator has given the checkpoint up or committed it. It
	// bounds the asynchronous phases; a subtask whose barrier's ctx is done takes no snapshot.
	ctx context.Context
}

// live reports whether the coordinator still waits for the subtasks' snapshots of b.
func (b *checkpointBarrier) live() bool { return b.ctx.Err() == nil }
