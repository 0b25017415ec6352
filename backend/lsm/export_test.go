package lsm

// CommitWrites commits the backend's batched writes, for tests that work on its database
// directly (flushes and compactions that must see every write).
func (b *Backend) CommitWrites() error { return b.commitWrites() }

// FailCommits makes every later commit of batched writes fail with err. Pebble's own commit
// errors (a read-only or failing database) cannot be provoked on demand with the WAL off.
func (b *Backend) FailCommits(err error) { b.failCommit = err }

// BatchBytes is the size at which the backend commits its batched writes.
func (b *Backend) BatchBytes() int { return b.batchBytes }
