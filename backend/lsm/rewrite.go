package lsm

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
)

// rewriteBatchBytes is the size at which a registration rewrite commits its writes; bounded so
// that a rewrite of any state size holds at most this much in memory besides Pebble's.
const rewriteBatchBytes = 4 << 20

// rewriteLogEvery is how often a registration rewrite logs its progress.
const rewriteLogEvery = 5 * time.Second

// rewrite applies rw to every stored value of the restored state e (each value, each list
// element, each map value) before it is registered, key group by key group, in batches of
// at most rewriteBatchBytes, and logs its progress on Options.Logger every rewriteLogEvery
// (entries and key groups done) and when it ends. An error names the state and the key group.
// A failure leaves some key groups rewritten and others not: the backend must not be used
// then (New's caller closes it and restores again), as for any failed registration.
func (b *Backend) rewrite(e *stateEntry, rw *backend.Rewrite) error {
	if err := b.commitWrites(); err != nil {
		return err
	}
	log := b.opts.Logger
	start := time.Now()
	last := start
	log.Info("lsm backend: rewriting restored state", "operator", b.opID, "rewrite", rw.String(), "keyGroups", b.rng.Len())
	it, err := b.newIter(nil)
	if err != nil {
		return fmt.Errorf("lsm backend: rewrite %s: %w", rw, err)
	}
	defer it.Close()
	batch := b.db.NewBatch()
	defer func() { batch.Close() }()
	commit := func() error {
		if batch.Empty() {
			return nil
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			return err
		}
		batch.Close()
		batch = b.db.NewBatch()
		return nil
	}
	var val []byte
	var elems [][]byte
	entries, kgsDone := 0, 0
	for kg := range b.rng.All() {
		lo := appendStatePrefix(nil, kg, e.id)
		it.SetBounds(lo, prefixEnd(lo))
		for valid := it.First(); valid; valid = it.Next() {
			old, err := it.ValueAndErr()
			if err == nil {
				val, elems, err = rewriteStored(val[:0], elems, e.meta.Kind, old, rw)
			}
			if err == nil {
				err = batch.Set(it.Key(), val, nil)
			}
			if err == nil && batch.Len() >= rewriteBatchBytes {
				err = commit()
			}
			if err != nil {
				return fmt.Errorf("lsm backend: operator %s: rewrite key group %d: %w", b.opID, kg, b.dbErr(err))
			}
			entries++
			if entries%4096 == 0 && time.Since(last) >= rewriteLogEvery {
				last = time.Now()
				log.Info("lsm backend: rewriting restored state", "operator", b.opID, "state", e.meta.Name,
					"entries", entries, "keyGroupsDone", kgsDone, "keyGroups", b.rng.Len(), "elapsed", time.Since(start).Round(time.Millisecond))
			}
		}
		if err := it.Error(); err != nil {
			return fmt.Errorf("lsm backend: operator %s: rewrite %s: key group %d: %w", b.opID, rw, kg, b.dbErr(err))
		}
		kgsDone++
	}
	if err := commit(); err != nil {
		return fmt.Errorf("lsm backend: operator %s: rewrite %s: %w", b.opID, rw, b.dbErr(err))
	}
	log.Info("lsm backend: rewrote restored state", "operator", b.opID, "state", e.meta.Name, "entries", entries,
		"elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// rewriteStored appends the rewritten form of the stored value old of a state of kind to dst:
// each element of a list, the value of anything else. elems is scratch.
func rewriteStored(dst []byte, elems [][]byte, kind backend.Kind, old []byte, rw *backend.Rewrite) ([]byte, [][]byte, error) {
	if kind != backend.KindList {
		out, err := rw.Value(dst, old)
		return out, elems, err
	}
	elems, err := splitList(elems[:0], old)
	if err != nil {
		return dst, elems, err
	}
	var elem []byte
	for i, el := range elems {
		// The element's length comes first: rewrite it into a scratch slice of its own.
		if elem, err = rw.Value(elem[:0], el); err != nil {
			return dst, elems, fmt.Errorf("list element %d: %w", i, err)
		}
		dst = appendListElement(dst, elem)
	}
	return dst, elems, nil
}
