// Package checkpointtest helps test code that uses checkpoint storage: a conformance suite
// every checkpoint.Storage implementation runs, FaultStorage, a wrapper that injects failures
// and counts reads, and MemStorage, storage in memory for tests that must not link the drivers
// of checkpoint/blobstore (and with them a cloud SDK). It imports no storage driver.
//
// # Conformance
//
// A Storage is done when RunStorageSuite passes, not when it compiles:
//
//	func TestStorageConformance(t *testing.T) {
//		checkpointtest.RunStorageSuite(t, func(t *testing.T) checkpoint.Storage {
//			st, err := blobstore.OpenURL(context.Background(), "file://"+t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return st
//		})
//	}
//
// The suite checks that nothing is visible before Commit, that Abort leaves nothing,
// create-if-not-exists (also with concurrent writers of one name), byte ranges, missing
// objects (errors wrapping snapshot.ErrMissing that name the object), Size, Delete, List by
// prefix, concurrent writers of different objects (run it with -race), deletes that leave
// nothing behind while other writers create objects next to them, and Sweep, which never
// touches committed objects.
//
// # Fault injection
//
// FaultStorage fails the n-th Create, Write, Commit, ReadRange, Size, Delete, List or Sweep
// whose object name (for List: prefix; for Sweep: directory) contains a given substring
// (FailNth, or FailNthWith and an error of the test's choice, e.g. a permanent one), makes
// objects read as if they were truncated, slows operations down (Slow), lets a hook run (or
// fail) before every operation (the tests of real faults stop a MinIO server from it), and
// counts calls and the bytes ReadRange returned per object name, so a test can prove, for
// example, that a rescaled restore read only part of a snapshot file:
//
//	fs := checkpointtest.NewFaultStorage(st)
//	fs.FailNth(checkpointtest.OpCommit, "/_metadata", 1) // the next metadata write fails
//	...
//	if got := fs.Reads("job/chk-1/op-0-…"); got.Bytes >= size { ... }
//
// Injected errors wrap ErrInjected, which blobstore.IsTransient counts as transient: under
// blobstore.NewRetryingStorage they are retried. FaultStorage is safe for concurrent use.
//
// # Where things are
//
// suite.go holds RunStorageSuite and the helpers its cases share; the cases are grouped by
// what they exercise: suite_write.go (CreateCommit, EmptyObject, Abort, Overwrite, IfNotExist,
// LargeObject), suite_read.go (ReadRange, Missing, List, String), suite_delete.go (Delete,
// DeleteLeavesNothing, Sweep) and suite_concurrent.go (IfNotExistConcurrent,
// ConcurrentWriters, CreateWhileDeleting). fault.go holds FaultStorage, mem.go MemStorage,
// lifecycle.go the helpers that write handles and take checkpoints for tests of the
// checkpoint lifecycle.
//
// Nothing in this package is meant for production code.
package checkpointtest
