package lsm

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// The backend's state writes (value updates, list adds, map puts and removals, timers) go
// into one pending Pebble batch, committed when it holds writeBatchOps writes or
// writeBatchBytes bytes, and before anything reads the database: a read, an iterator, a
// snapshot, a flush. A commit through Pebble's commit pipeline costs about as much as the
// memtable insert it carries; amortized over a batch, a blind write such as ListState.Add
// costs the insert alone. Reads see every write before them, as without the batch; what
// changes is that an error of a commit (Pebble closed, out of disk) is returned by the call
// that commits, which may come after the write. Checkpoints, not the database's own
// durability, make state durable (no WAL), so nothing else depends on when a batch lands.
const (
	writeBatchOps   = 256
	writeBatchBytes = 256 << 10
)

// batch returns the pending batch, to which the caller adds one write and then calls wrote.
func (b *Backend) batch() *pebble.Batch {
	if b.pending == nil {
		b.pending = b.db.NewBatch()
	}
	return b.pending
}

// wrote commits the pending batch once it is full.
func (b *Backend) wrote() error {
	if b.pending.Count() >= writeBatchOps || b.pending.Len() >= writeBatchBytes {
		return b.commitWrites()
	}
	return nil
}

// commitWrites commits the pending batch, if any: before every read of the database.
func (b *Backend) commitWrites() error {
	if b.pending == nil {
		return nil
	}
	p := b.pending
	b.pending = nil
	err := p.Commit(pebble.NoSync)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lsm backend: commit writes of operator %s: %w", b.opID, err)
	}
	return nil
}

// dropWrites discards the pending batch (on Close: the state goes away with the database).
func (b *Backend) dropWrites() {
	if b.pending != nil {
		_ = b.pending.Close()
		b.pending = nil
	}
}

// set, merge and del add a write to the pending batch.
func (b *Backend) set(k, v []byte) error {
	if err := b.batch().Set(k, v, nil); err != nil {
		return err
	}
	return b.wrote()
}

func (b *Backend) merge(k, v []byte) error {
	if err := b.batch().Merge(k, v, nil); err != nil {
		return err
	}
	return b.wrote()
}

func (b *Backend) del(k []byte) error {
	if err := b.batch().Delete(k, nil); err != nil {
		return err
	}
	return b.wrote()
}

// get and newIter read the database after committing the pending writes.
func (b *Backend) get(k []byte) ([]byte, io.Closer, error) {
	if err := b.commitWrites(); err != nil {
		return nil, nil, err
	}
	return b.db.Get(k)
}

func (b *Backend) newIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	if err := b.commitWrites(); err != nil {
		return nil, err
	}
	return b.db.NewIter(o)
}
