package lsm

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// The backend's state writes (value updates, list adds, map puts and removals, timers) go
// into one pending Pebble batch, committed when it holds writeBatchOps writes or
// Backend.batchBytes bytes, and before anything reads the database: a read, an iterator, a
// snapshot, a flush. A commit through Pebble's commit pipeline costs about as much as the
// memtable insert it carries; amortized over a batch, a blind write such as ListState.Add
// costs the insert alone. Reads see every write before them, as without the batch; what
// changes is that an error of a commit is returned by the call that commits, which may come
// after the write. Such an error sticks: the batch's writes are lost, so every later call
// (and every snapshot, so no checkpoint of the damaged state completes) returns it until the
// backend is closed and restored from the last checkpoint. A failure inside Pebble (faults.go:
// a flush that cannot write, corruption) sticks the same way, from the next commit on. Checkpoints, not the database's
// own durability, make state durable (no WAL), so nothing else depends on when a batch lands.
const (
	writeBatchOps   = 256
	writeBatchBytes = 256 << 10
)

// batchBytesFor returns the batch size for memtables of the given size: at most a quarter of
// one, so that a batch never reaches Pebble's large-batch threshold (half a memtable), past
// which each commit would become a memtable of its own and force a flush.
func batchBytesFor(memTableSize uint64) int {
	return int(min(writeBatchBytes, memTableSize/4))
}

// openDB opens the backend's database in dir and sizes the write batch to its memtables.
func (b *Backend) openDB(dir string) (*pebble.DB, error) {
	po := b.opts.pebbleOptions()
	b.batchBytes = batchBytesFor(po.MemTableSize)
	db, err := pebble.Open(dir, po)
	if err != nil {
		if ferr := b.faults.get(); ferr != nil {
			return nil, ferr
		}
		return nil, b.dbErr(err)
	}
	return db, nil
}

// batch returns the pending batch, to which the caller adds one write and then calls wrote,
// or the error of an earlier commit.
func (b *Backend) batch() (*pebble.Batch, error) {
	if b.writeErr != nil {
		return nil, b.writeErr
	}
	if b.pending == nil {
		b.pending = b.db.NewBatch()
	}
	return b.pending, nil
}

// wrote commits the pending batch once it is full.
func (b *Backend) wrote() error {
	if b.pending.Count() >= writeBatchOps || b.pending.Len() >= b.batchBytes {
		return b.commitWrites()
	}
	return nil
}

// commitWrites commits the pending batch, if any: before every read of the database. It
// returns the error of an earlier failed commit, or Pebble's first failure (faults.go), if
// there was one.
func (b *Backend) commitWrites() error {
	if b.writeErr == nil {
		if err := b.faults.get(); err != nil {
			b.writeErr = err
			b.dropWrites()
		}
	}
	if b.writeErr != nil || b.pending == nil {
		return b.writeErr
	}
	p := b.pending
	b.pending = nil
	n := p.Count()
	// With the WAL off a commit does no IO: the disk fails a flush (a fault, above) instead.
	// Pebble fails a commit itself only when misused (a read-only database), and a failure of
	// its commit pipeline goes to Logger.Fatalf, which records the fault that the next call
	// returns (faults.go).
	err := p.Commit(pebble.NoSync)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ferr := b.faults.get(); ferr != nil {
			err = ferr
		}
		b.writeErr = fmt.Errorf("lsm backend: operator %s lost %d state writes, commit failed: %w; "+
			"close the backend and restore it from the last completed checkpoint", b.opID, n, b.dbErr(err))
	}
	return b.writeErr
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
	p, err := b.batch()
	if err != nil {
		return err
	}
	if err := p.Set(k, v, nil); err != nil {
		return err
	}
	return b.wrote()
}

func (b *Backend) merge(k, v []byte) error {
	p, err := b.batch()
	if err != nil {
		return err
	}
	if err := p.Merge(k, v, nil); err != nil {
		return err
	}
	return b.wrote()
}

func (b *Backend) del(k []byte) error {
	p, err := b.batch()
	if err != nil {
		return err
	}
	if err := p.Delete(k, nil); err != nil {
		return err
	}
	return b.wrote()
}

// get and newIter read the database after committing the pending writes.
func (b *Backend) get(k []byte) ([]byte, io.Closer, error) {
	if err := b.commitWrites(); err != nil {
		return nil, nil, err
	}
	v, closer, err := b.db.Get(k)
	return v, closer, b.dbErr(err)
}

func (b *Backend) newIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	if err := b.commitWrites(); err != nil {
		return nil, err
	}
	it, err := b.db.NewIter(o)
	return it, b.dbErr(err)
}
