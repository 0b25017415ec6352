package snapshot

import (
	"errors"
	"fmt"
)

// Sentinel errors of the formats; check with errors.Is. The messages keep the "checkpoint:"
// prefix they have always had.
var (
	// ErrCorrupt: a file's bytes do not decode (bad magic, checksum, lengths, metadata).
	ErrCorrupt = errors.New("checkpoint: corrupt file")
	// ErrMissing: a file referenced by checkpoint metadata does not exist or is shorter than
	// recorded.
	ErrMissing = errors.New("checkpoint: missing file")
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

// Corrupt returns a *FileError wrapping ErrCorrupt for the file at path, with a detail.
func Corrupt(path, format string, args ...any) error {
	return &FileError{Path: path, Err: ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
}
