package lsm

import "github.com/cockroachdb/pebble/v2"

// WorkingDir returns the backend's working directory (removed on Close), a directory of
// Options.Dir.
func (b *Backend) WorkingDir() string { return b.workDir }

// DB returns the backend's Pebble database, for tests and benchmarks on the task's
// goroutine (nil after Close). Writes the backend has batched are not in it until the
// backend's next read or snapshot (writes.go). Writing to it directly corrupts the backend's
// state.
func (b *Backend) DB() *pebble.DB { return b.db }

// CommitWrites commits the backend's batched writes, for tests that work on its database
// directly (flushes and compactions that must see every write).
func (b *Backend) CommitWrites() error { return b.commitWrites() }

// BatchBytes is the size at which the backend commits its batched writes.
func (b *Backend) BatchBytes() int { return b.batchBytes }

// SweepStep runs one step of the TTL cleanup with the given budget, as the access hook does.
func (b *Backend) SweepStep(budget int) error { return b.sweep.step(budget) }
