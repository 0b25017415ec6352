package checkpoint

import "errors"

// Sentinel errors of the checkpoint lifecycle and storage; check with errors.Is. Errors about
// one file's bytes are snapshot.ErrCorrupt and snapshot.ErrMissing (in a *snapshot.FileError).
var (
	// ErrStateTooLarge: a state handle exceeds the jobmanager storage's size limit.
	ErrStateTooLarge = errors.New("checkpoint: state too large for jobmanager checkpoint storage")
	// ErrNoCheckpoint: the job has no complete checkpoint at all (its first run, or one that
	// never completed a checkpoint): starting fresh is the right answer.
	ErrNoCheckpoint = errors.New("checkpoint: no complete checkpoint")
	// ErrNoReadableCheckpoint: the job has complete checkpoints, but every one of them is
	// corrupt or misses a file. Unlike ErrNoCheckpoint this must not be taken as "start fresh":
	// the job has made progress (and may have published output) that a fresh start would
	// repeat. The error names every checkpoint tried and why it failed, and also wraps those
	// reasons (snapshot.ErrCorrupt, snapshot.ErrMissing). It never wraps ErrNoCheckpoint.
	ErrNoReadableCheckpoint = errors.New("checkpoint: no readable checkpoint")
	// ErrExists: a file written with create-if-not-exists already exists.
	ErrExists = errors.New("checkpoint: file already exists")
)
