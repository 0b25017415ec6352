// Package checkpoint is the checkpoint lifecycle: the contract of checkpoint storage
// (Storage, Writer), Flink's directory layout, beginning and completing a checkpoint or
// savepoint (Checkpoints.Begin, Pending.Complete), retention, restore with fallback, loading
// savepoints, and listing and checking what storage holds (Scan, Check).
//
// What the bytes are — the _metadata file, state handles, the canonical full snapshot and
// operator state formats, checksums, snapshot.ErrCorrupt — is package checkpoint/snapshot, which the
// backends import without this package: a backend writes a snapshot through a
// snapshot.StreamFactory (a Pending here) and reads one through a snapshot.Reader.
//
// The storage drivers (jobmanager memory, file://, mem://, s3:// URLs, retries) are in
// package checkpoint/blobstore, which only the composition root (config, cmd) and tests
// import: this package, and so state, stream and the backends that use it, link no cloud SDK.
// It must not import blobstore nor any gocloud.dev or AWS package, nor a backend.
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
// # Object stores
//
// s3:// storage (AWS S3, MinIO, Google Cloud Storage's S3-compatible API; see docs/s3.md) is
// wrapped in blobstore.NewRetryingStorage: transient errors (network, 5xx, throttling) are
// retried with exponential backoff, permanent ones (snapshot.ErrMissing, ErrExists,
// snapshot.ErrCorrupt, access denied, a missing bucket) are not, and a canceled context stops
// the retries. Large reads of a snapshot.Reader run as parallel ranged GETs
// (snapshot.ParallelReadChunk, snapshot.ParallelReadConcurrency). A checkpoint
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
// # Local recovery
//
// With Options.LocalRecovery (Flink's execution.state-recovery.from-local) the job's storage is
// wrapped so that every checkpoint file is also written to a local copy under Options.LocalDirs
// and deleted with it; Open sweeps what no complete checkpoint references. A restore reads
// through RestoreReader, which serves a file from its local copy only once the copy's size and
// SHA-256 match the metadata, else from storage (logged, never an error by itself); Restore
// logs where the files came from (LastRestoreStats). A writer holding a file's bytes as a local
// file links it (the stream's LinkLocalCopy); a reader may link a verified file
// (LocalReader.LocalFile). DiscardLocal drops the copy when the job has ended. See local.go.
//
// # Errors
//
// Every decoder returns an error wrapping snapshot.ErrCorrupt (bad bytes) or
// snapshot.ErrMissing (absent or short file) that names the file, never a panic. Checkpoints.Restore falls back to the
// previous retained checkpoint on either; when none is left it fails with
// ErrNoReadableCheckpoint, naming every checkpoint it tried (ErrNoCheckpoint is only for a
// job without any complete checkpoint).
//
// Storage, Checkpoints and Pending are safe for concurrent use.
package checkpoint
