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
	// ErrNoCheckpoint: there is no complete, readable checkpoint to restore.
	ErrNoCheckpoint = errors.New("checkpoint: no complete checkpoint")
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
