package state

// CheckpointListener is implemented by backends that must learn the fate of the checkpoints
// they took part in, like Flink's CheckpointListener: the lsm backend's incremental
// checkpoints reuse only files that a completed checkpoint references. The checkpoint
// coordinator calls it on the task's goroutine after the checkpoint's _metadata is written
// (complete) or after it was given up (aborted). Notifications may be lost, arrive late or
// out of order; a listener must stay correct then (at worst it uploads a file again).
type CheckpointListener interface {
	// NotifyCheckpointComplete reports that checkpoint id completed.
	NotifyCheckpointComplete(id int64) error
	// NotifyCheckpointAborted reports that checkpoint id failed or was aborted.
	NotifyCheckpointAborted(id int64) error
}
