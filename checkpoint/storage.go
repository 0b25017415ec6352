package checkpoint

import (
	"context"
	"io"
)

// Storage is a flat namespace of immutable objects ("files"): where checkpoints, savepoints and
// shared files go. Names use '/' as separator and are relative to the storage's root; a name
// is never both an object and the "directory" of others (a filesystem cannot hold both).
// Implementations are safe for concurrent use. An implementation is done when
// checkpointtest.RunStorageSuite passes.
type Storage interface {
	// Create starts writing a new object. Nothing is visible until Commit; Abort discards.
	// With ifNotExist, Commit fails with ErrExists if the object exists (atomically where
	// the store supports conditional writes).
	Create(ctx context.Context, name string, ifNotExist bool) (Writer, error)
	// ReadRange reads length bytes at offset (length < 0: to the end). A missing object
	// gives an error wrapping snapshot.ErrMissing; a short object returns fewer bytes.
	ReadRange(ctx context.Context, name string, offset, length int64) ([]byte, error)
	// Size returns an object's size, or an error wrapping snapshot.ErrMissing.
	Size(ctx context.Context, name string) (int64, error)
	// Delete removes an object; deleting a missing object is not an error. A storage with
	// directories (file://) also removes the directories the delete left empty, up to but
	// not including its root; a concurrent Create in such a directory still succeeds. A
	// delete need not be durable when Delete returns.
	Delete(ctx context.Context, name string) error
	// List returns the names of all objects under prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Sweep removes the debris that writes which never committed (a process killed while
	// writing) leave under dir, a name prefix ending in '/' ("" for the whole storage):
	// on file://, fileblob's temporary files and then the directories under dir left
	// empty (dir itself stays). Committed objects are never touched. The caller guarantees
	// that no write under dir is in progress, in this process or another (for checkpoints:
	// one process writes a job's checkpoints, and Open sweeps before it writes). Storages
	// without such debris (mem://, jobmanager, S3, where an abandoned multipart upload is
	// invisible and expires by the bucket's lifecycle rule) do nothing.
	Sweep(ctx context.Context, dir string) error
	// String describes the storage without credentials, for messages.
	String() string
	Close() error
}

// Writer writes one object.
type Writer interface {
	io.Writer
	// Commit makes the object visible and returns its size. When it returns nil the object
	// is as durable as the storage can make it: on file:// its bytes, its name in its
	// directory and every directory created for it have been fsynced, so it survives a
	// power loss; on S3 a successful PUT is durable; mem:// and jobmanager storage live in
	// this process's memory. Commit's error may leave the object visible.
	Commit() (int64, error)
	// Abort discards the object. Safe to call after Commit (then it does nothing).
	Abort()
}
