// Package checkpoint is where snapshots go and how they are laid out: the contract of
// checkpoint storage (Storage, Writer), Flink's directory layout, the _metadata file,
// retention, restore with fallback, savepoints, and the canonical full snapshot format every
// backend writes and reads.
//
// The storage drivers (jobmanager memory, file://, mem://, s3:// URLs, retries) are in
// package checkpoint/blobstore, which only the composition root (config, cmd) and tests
// import: this package, and so state, stream and the backends that use it, link no cloud SDK.
// It must not import blobstore nor any gocloud.dev or AWS package.
//
// # Layout
//
//	<job-id>/chk-<n>/_metadata   written last, create-if-not-exists: the checkpoint exists
//	                             exactly when its metadata does
//	<job-id>/chk-<n>/...         files of that checkpoint only
//	<job-id>/shared/...          files shared between incremental checkpoints
//	<job-id>/taskowned/...       files owned by tasks
//
// A savepoint is a directory of its own with a _metadata file and its data files, referenced
// relatively, so it can be moved.
//
// # Full snapshot format
//
// A versioned header, then one block per key group, each with a CRC-32C and optional
// Snappy-compatible compression (klauspost/compress/s2). The metadata records every block's
// offset and length, so a restore at another parallelism reads only the key groups it owns.
// See full.go for the byte layout.
//
// # Checksums
//
// Every stored file has its SHA-256 in the metadata (FileRef.SHA256, IncrementalFile.SHA256),
// computed by the OutputStream while the file is written. Whole-file reads verify it (a
// backend restoring all of a handle, an lsm restore downloading its database files, Check);
// reads of some key groups or sections rely on their CRC-32C. Metadata format 1, written
// before checksums, is still read. See checksum.go.
//
// # Object stores
//
// s3:// storage (AWS S3, MinIO, Google Cloud Storage's S3-compatible API; see docs/s3.md) is
// wrapped in blobstore.NewRetryingStorage: transient errors (network, 5xx, throttling) are
// retried with exponential backoff, permanent ones (ErrMissing, ErrExists, ErrCorrupt, access
// denied, a missing bucket) are not, and a canceled context stops the retries. Large reads of a
// Reader run as parallel ranged GETs (ParallelReadChunk, ParallelReadConcurrency). A checkpoint
// that fails leaves no referenced file: Complete deletes its files (and its metadata if the
// write may have reached the store); deletes that fail during an outage are retried after the
// next completed checkpoint, and Open deletes whatever a crashed process left.
//
// # Durability and leftovers
//
// Writer.Commit returns once the object is durable: blobstore's file:// storage fsyncs the
// bytes before fileblob renames them into place, then the directories involved; S3 is durable
// on a successful PUT. Pending.Complete relies on it: a checkpoint's files are committed before
// its _metadata, and retention deletes older checkpoints only once the metadata is committed,
// so a power loss never leaves a job without a complete checkpoint. On file://, deletes remove
// the directories they empty and Open sweeps the temporary files and empty directories a killed
// process left (Storage.Sweep); retention lists only the directories it deletes.
//
// # Errors
//
// Every decoder returns an error wrapping ErrCorrupt (bad bytes) or ErrMissing (absent or
// short file) that names the file, never a panic. Checkpoints.Restore falls back to the
// previous retained checkpoint on either; when none is left it fails with
// ErrNoReadableCheckpoint, naming every checkpoint it tried (ErrNoCheckpoint is only for a
// job without any complete checkpoint).
//
// Storage, Checkpoints and Pending are safe for concurrent use.
package checkpoint
