package lsm

// CommitWrites commits the backend's batched writes, for tests that work on its database
// directly (flushes and compactions that must see every write).
func (b *Backend) CommitWrites() error { return b.commitWrites() }
