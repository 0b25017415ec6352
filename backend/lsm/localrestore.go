package lsm

import (
	"context"
	"os"
	"reflect"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// Local recovery (checkpoint.Options.LocalRecovery) on the lsm backend: its immutable
// database files (SSTs, blob files) are hard links, never second copies, both ways.
//
//   - Checkpoint: a file uploaded from the hard-linked local checkpoint directory is linked
//     into the checkpoint's local copy (the stream's LinkLocalCopy) instead of being written
//     there byte by byte.
//   - Restore: a file whose local copy the checkpoint's reader has verified against its
//     recorded size and SHA-256 (LocalFile) is linked into the database directory instead of
//     downloaded.
//
// Only where both ends are the operating system's filesystem (Options.FS is vfs.Default, not
// a wrapper of it, so fault injection still sees every byte) and on one device; anything else
// copies, as without local recovery. Only SSTs and blob files: Pebble never writes to them
// after they are complete, whereas it may reuse a WAL (log recycling) and rotates the
// MANIFEST, so the private files are always copied (they are small).

// osFS reports whether fsys is the operating system's filesystem itself, whose paths are the
// os package's.
func osFS(fsys vfs.FS) bool {
	// Types, not values, are compared: an FS of an uncomparable type would make == panic.
	return reflect.TypeOf(fsys) == reflect.TypeOf(vfs.Default)
}

// localLinker is implemented by the checkpoint's output streams (checkpoint.Pending's) when
// the job keeps a local copy.
type localLinker interface {
	LinkLocalCopy(src string) bool
}

// linkLocalCopy asks the stream w, before anything is written to it, to make the local copy of
// the database file src (a path of fsys) a hard link of it.
func linkLocalCopy(fsys vfs.FS, w snapshot.OutputStream, name, src string) {
	if !isShared(name) || !osFS(fsys) {
		return
	}
	if l, ok := w.(localLinker); ok {
		l.LinkLocalCopy(src)
	}
}

// localFiles is implemented by the checkpoint's restore reader (checkpoint.LocalReader).
type localFiles interface {
	LocalFile(ctx context.Context, ref snapshot.FileRef) (string, bool)
}

// linkRestored links the verified local copy of f to dst, a path of Options.FS in a directory
// of the backend's own, and reports whether it did; false leaves dst absent, for the download.
func (b *Backend) linkRestored(ctx context.Context, f snapshot.IncrementalFile, dst string) bool {
	lf, ok := b.opts.Reader.(localFiles)
	if !ok || !isShared(f.Name) || !osFS(b.opts.FS) {
		return false
	}
	src, ok := lf.LocalFile(ctx, f.Ref())
	if !ok {
		return false
	}
	if err := os.Link(src, dst); err != nil {
		// Another device (the working directory and the local copy on different disks): the
		// reader serves the verified local copy's bytes to the download.
		b.opts.Logger.Debug("lsm backend: restore copies a local file it cannot link", "file", src, "error", err)
		return false
	}
	return true
}
