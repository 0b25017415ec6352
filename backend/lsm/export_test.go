package lsm

// CommitWrites commits the backend's batched writes, for tests that work on its database
// directly (flushes and compactions that must see every write).
func (b *Backend) CommitWrites() error { return b.commitWrites() }

// FailCommits makes every later commit of batched writes fail with err, as a commit of
// Pebble's can (out of memory for a memtable, a closed database).
func (b *Backend) FailCommits(err error) { b.failCommit = err }

// BatchBytes is the size at which the backend commits its batched writes.
func (b *Backend) BatchBytes() int { return b.batchBytes }
