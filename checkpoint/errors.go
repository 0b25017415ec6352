package checkpoint

import (
	"errors"
	"fmt"
)

// Sentinel errors of checkpoint storage and formats; check with errors.Is.
var (
	// ErrCorrupt: a file's bytes do not decode (bad magic, checksum, lengths, metadata).
	ErrCorrupt = errors.New("checkpoint: corrupt file")
	// ErrMissing: a file referenced by checkpoint metadata does not exist or is shorter than
	// recorded.
	ErrMissing = errors.New("checkpoint: missing file")
	// ErrStateTooLarge: a state handle exceeds the jobmanager storage's size limit.
	ErrStateTooLarge = errors.New("checkpoint: state too large for jobmanager checkpoint storage")
	// ErrNoCheckpoint: the job has no complete checkpoint at all (its first run, or one that
	// never completed a checkpoint): starting fresh is the right answer.
	ErrNoCheckpoint = errors.New("checkpoint: no complete checkpoint")
	// ErrNoReadableCheckpoint: the job has complete checkpoints, but every one of them is
	// corrupt or misses a file. Unlike ErrNoCheckpoint this must not be taken as "start fresh":
	// the job has made progress (and may have published output) that a fresh start would
	// repeat. The error names every checkpoint tried and why it failed, and also wraps those
	// reasons (ErrCorrupt, ErrMissing). It never wraps ErrNoCheckpoint.
	ErrNoReadableCheckpoint = errors.New("checkpoint: no readable checkpoint")
	// ErrExists: a file written with create-if-not-exists already exists.
	ErrExists = errors.New("checkpoint: file already exists")
)

// FileError reports a problem with one file of a checkpoint: Err is ErrCorrupt or ErrMissing
// (or a storage error), Path the file's name in its storage.
type FileError struct {
	Path   string
	Err    error
	Detail string
}

func (e *FileError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v: %s", e.Err, e.Path)
	}
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Path, e.Detail)
}

func (e *FileError) Unwrap() error { return e.Err }

func corrupt(path, format string, args ...any) error {
	return &FileError{Path: path, Err: ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
}
