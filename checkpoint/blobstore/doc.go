// Package blobstore provides the checkpoint storage drivers: the implementations of
// checkpoint.Storage behind a checkpoint directory URL, built on gocloud.dev/blob.
//
//   - OpenURL opens file:///dir (durable commits: it adds the fsyncs fileblob never does),
//     mem://name (a fresh in-memory bucket) and s3://bucket/prefix?region=... (AWS S3, MinIO,
//     Google Cloud Storage's S3-compatible API; see docs/s3.md).
//   - NewJobManagerStorage is Flink's JobManagerCheckpointStorage: this process's memory,
//     with a size limit per state handle.
//   - NewRetryingStorage wraps any Storage so that transient errors (IsTransient) are retried
//     with backoff; OpenURL wraps s3:// storage in it.
//   - RedactURL makes a storage URL fit for a message or a log (no credentials).
//
// The contract the drivers implement (checkpoint.Storage, checkpoint.Writer, the sentinel
// errors) and everything that uses storage (the checkpoint lifecycle, the snapshot formats)
// live in package checkpoint, which does not import this one; checkpointtest.RunStorageSuite
// is the conformance suite every driver here passes.
//
// # Who may import it
//
// Only the composition root (config, cmd/streamstate) and tests. It links the cloud SDKs
// (gocloud's s3blob pulls in the AWS SDK), so the user API (state), the runtime (stream) and
// the backends (backend/...) must not import it: they take a checkpoint.Storage that the
// composition root opened (their test harness, backendtest, uses checkpointtest.MemStorage).
// `go list -deps ./state ./stream ./backend/...` holds no AWS package.
//
// # Example
//
//	st, err := blobstore.OpenURL(ctx, "file:///var/lib/streamstate/checkpoints")
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	cps, err := checkpoint.Open(ctx, st, jobID, checkpoint.Options{NumRetained: 3})
//
// Every Storage returned here is safe for concurrent use.
package blobstore
