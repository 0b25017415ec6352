package lsm

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// rewriteBatchBytes is the size at which a registration rewrite commits its writes; bounded so
// that a rewrite of any state size holds at most this much in memory besides Pebble's.
const rewriteBatchBytes = 4 << 20

// rewriteLogEvery is how often a registration rewrite logs its progress.
const rewriteLogEvery = 5 * time.Second

// rewrite applies rw to every stored value of the restored state e (each value, each list
// element, each map value) before it is registered, and records the state as meta from then
// on. It reads the state once, key group by key group: when ev counts dropped fields, it
// passes each recorded value to ev.Count in the same pass. It logs its progress on
// Options.Logger every rewriteLogEvery (entries and key groups done) and when it ends.
//
// The rewrite is atomic for the state: the rewritten values go under a fresh state id (the
// shadow), committed in batches of at most rewriteBatchBytes, and only once every value is
// rewritten does one batch record the state under the shadow's id (its metadata record, which
// incremental checkpoints carry) and delete the old id's key ranges. On failure the shadow's
// ranges are deleted and the state is as it was: registered again with its recorded
// descriptor, it reads its recorded values. An error names the state and the key group;
// stored bytes that do not decode (a value without its stamp, a list that does not split, a
// value the migration's serializer cannot read) wrap snapshot.ErrCorrupt, a failing migration
// function does not.
func (b *Backend) rewrite(e *stateEntry, rw *backend.Rewrite, ev *backend.Evolution, meta snapshot.StateMeta) error {
	if err := b.commitWrites(); err != nil {
		return err
	}
	if b.nextID == 0 || int(b.nextID) > maxStates {
		return fmt.Errorf("lsm backend: operator %s: rewrite %s: no state id left for the rewritten state (%d in use)", b.opID, rw, maxStates)
	}
	shadow := b.nextID
	// Consumed even on failure: a shadow range whose deletion failed is never read as a state.
	b.nextID++
	log := b.opts.Logger
	start := time.Now()
	log.Info("lsm backend: rewriting restored state", "operator", b.opID, "rewrite", rw.String(), "keyGroups", b.rng.Len())
	entries, kgs, err := b.rewriteInto(e, shadow, rw, ev, start)
	if err != nil {
		if derr := b.deleteState(shadow, kgs, nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("lsm backend: operator %s: delete the partly rewritten copy of state %q: %w", b.opID, e.meta.Name, b.dbErr(derr)))
		}
		return err
	}
	// The switch: the state's record names the shadow id, the old id's entries go.
	switched := &stateEntry{id: shadow, meta: meta}
	rec, err := stateRecordOf(switched)
	if err == nil {
		err = b.deleteState(e.id, kgs, func(batch *pebble.Batch) error {
			return batch.Set([]byte(metaStatePrefix+meta.Name), rec, nil)
		})
	}
	if err != nil {
		err = fmt.Errorf("lsm backend: operator %s: rewrite %s: switch to the rewritten state: %w", b.opID, rw, b.dbErr(err))
		if derr := b.deleteState(shadow, kgs, nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("lsm backend: operator %s: delete the rewritten copy of state %q: %w", b.opID, e.meta.Name, b.dbErr(derr)))
		}
		return err
	}
	delete(b.byID, e.id)
	e.id, e.meta = shadow, meta
	b.byID[shadow] = e
	log.Info("lsm backend: rewrote restored state", "operator", b.opID, "state", e.meta.Name, "entries", entries,
		"elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// rewriteInto writes the rewritten values of state e under state id shadow, counting dropped
// fields into ev, and returns the number of entries and the key groups that hold any (also on
// error: those the shadow may hold entries of).
func (b *Backend) rewriteInto(e *stateEntry, shadow uint16, rw *backend.Rewrite, ev *backend.Evolution, start time.Time) (entries int, kgs []int, err error) {
	it, err := b.newIter(nil)
	if err != nil {
		return 0, nil, fmt.Errorf("lsm backend: operator %s: rewrite %s: %w", b.opID, rw, b.dbErr(err))
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
	var val, key []byte
	var elems [][]byte
	kgsDone, last := 0, start
	for kg := range b.rng.All() {
		lo := appendStatePrefix(nil, kg, e.id) // fresh bounds: Pebble keeps the slices
		it.SetBounds(lo, prefixEnd(lo))
		for valid := it.First(); valid; valid = it.Next() {
			if len(kgs) == 0 || kgs[len(kgs)-1] != kg {
				kgs = append(kgs, kg)
			}
			old, err := it.ValueAndErr()
			if err != nil {
				return entries, kgs, fmt.Errorf("lsm backend: operator %s: rewrite %s: key group %d: %w", b.opID, rw, kg, b.dbErr(err))
			}
			val, elems, err = rewriteStored(val[:0], elems, e.meta.Kind, old, rw, ev)
			if err != nil {
				if errors.Is(err, snapshot.ErrCorrupt) {
					err = b.corruptKey(it.Key(), err)
				}
				return entries, kgs, fmt.Errorf("lsm backend: operator %s: state %q: rewrite key group %d: %w", b.opID, e.meta.Name, kg, err)
			}
			key = append(appendStatePrefix(key[:0], kg, shadow), it.Key()[kgLen+sidLen:]...)
			err = batch.Set(key, val, nil)
			if err == nil && batch.Len() >= rewriteBatchBytes {
				err = commit()
			}
			if err != nil {
				return entries, kgs, fmt.Errorf("lsm backend: operator %s: state %q: rewrite key group %d: %w", b.opID, e.meta.Name, kg, b.dbErr(err))
			}
			entries++
			if entries%4096 == 0 && time.Since(last) >= rewriteLogEvery {
				last = time.Now()
				b.opts.Logger.Info("lsm backend: rewriting restored state", "operator", b.opID, "state", e.meta.Name,
					"entries", entries, "keyGroupsDone", kgsDone, "keyGroups", b.rng.Len(), "elapsed", time.Since(start).Round(time.Millisecond))
			}
		}
		if err := it.Error(); err != nil {
			return entries, kgs, fmt.Errorf("lsm backend: operator %s: rewrite %s: key group %d: %w", b.opID, rw, kg, b.dbErr(err))
		}
		kgsDone++
	}
	if err := commit(); err != nil {
		return entries, kgs, fmt.Errorf("lsm backend: operator %s: rewrite %s: %w", b.opID, rw, b.dbErr(err))
	}
	return entries, kgs, nil
}

// deleteState deletes every entry of state id sid in key groups kgs (one range deletion
// each: only those that hold entries, as a range deletion costs reads until it is compacted
// away), with also (if not nil) adding its writes to the same batch, and commits it.
func (b *Backend) deleteState(sid uint16, kgs []int, also func(*pebble.Batch) error) error {
	batch := b.db.NewBatch()
	defer batch.Close()
	for _, kg := range kgs {
		lo := appendStatePrefix(nil, kg, sid)
		if err := batch.DeleteRange(lo, prefixEnd(lo), nil); err != nil {
			return err
		}
	}
	if also != nil {
		if err := also(batch); err != nil {
			return err
		}
	}
	return batch.Commit(pebble.NoSync)
}

// rewriteStored appends the rewritten form of the stored value old of a state of kind to dst:
// each element of a list, the value of anything else, passing each recorded value to ev.Count.
// elems is scratch. Bytes that do not decode give an error wrapping snapshot.ErrCorrupt.
func rewriteStored(dst []byte, elems [][]byte, kind backend.Kind, old []byte, rw *backend.Rewrite, ev *backend.Evolution) ([]byte, [][]byte, error) {
	if kind != backend.KindList {
		out, err := rewriteValue(dst, old, rw, ev)
		return out, elems, err
	}
	elems, err := splitList(elems[:0], old)
	if err != nil {
		return dst, elems, fmt.Errorf("%w: %w", snapshot.ErrCorrupt, err)
	}
	var elem []byte
	for i, el := range elems {
		// The element's length comes first: rewrite it into a scratch slice of its own.
		if elem, err = rewriteValue(elem[:0], el, rw, ev); err != nil {
			return dst, elems, fmt.Errorf("list element %d: %w", i, err)
		}
		dst = appendListElement(dst, elem)
	}
	return dst, elems, nil
}

// rewriteValue appends the rewritten form of one recorded value to dst. backend.Rewrite.Value
// reports bytes that do not decode (a missing stamp, a value From cannot read) as
// snapshot.ErrCorrupt.
func rewriteValue(dst, old []byte, rw *backend.Rewrite, ev *backend.Evolution) ([]byte, error) {
	ev.Count(old)
	return rw.Value(dst, old)
}
