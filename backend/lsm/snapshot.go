package lsm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Snapshot implements backend.Keyed. A full snapshot (the default, and every canonical
// savepoint) takes a Pebble snapshot in the synchronous phase, O(1); the asynchronous phase
// writes it key group by key group in the canonical format, with the timers of heap timer
// queues (frozen copy-on-write in the synchronous phase, O(key groups)). With Options.Incremental, a
// checkpoint flushes the memtables and hard-links the database files instead (see
// incremental.go), bounded by opts.Deadline. A native savepoint (opts.SavepointFormat
// backend.SavepointFormatNative) is written as an incremental checkpoint that reuses nothing,
// in either checkpoint mode (nativeSavepoint).
func (b *Backend) Snapshot(checkpointID int64, opts backend.SnapshotOptions) (backend.AsyncSnapshot, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	if err := b.commitWrites(); err != nil {
		return nil, err
	}
	// The TTL clock's watermark as of this synchronous phase goes on the handle, so that a
	// restore judges event-time TTL at least as this snapshot did (backend.Clock.Restore).
	wm := b.opts.Clock.SnapshotWatermark()
	if opts.Savepoint && opts.SavepointFormat == backend.SavepointFormatNative {
		if err := b.flush(opts.Deadline); err != nil {
			return nil, fmt.Errorf("lsm backend: native savepoint %d of operator %s: flush: %w", checkpointID, b.opID, err)
		}
		return b.nativeSavepoint(checkpointID, wm)
	}
	if b.inc != nil && !opts.Savepoint {
		// The flush is bounded by the checkpoint's deadline and by Pebble's failures:
		// DB.Flush would wait forever for a flush Pebble retries on a full disk.
		if err := b.flush(opts.Deadline); err != nil {
			return nil, fmt.Errorf("lsm backend: checkpoint %d of operator %s: flush: %w", checkpointID, b.opID, err)
		}
		return b.inc.snapshot(checkpointID, wm)
	}
	s := &fullSnapshot{b: b, id: checkpointID, opID: b.opID, rng: b.rng, keySer: b.keySer, comp: opts.Compression,
		dbDir: b.dbDir, index: map[uint16]int{}, workers: opts.Workers, ttlWM: wm}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	for _, e := range b.orderedStates() {
		if q, ok := e.st.(*heapTimerQueue); ok {
			s.heapTimers = append(s.heapTimers, frozenHeapTimers{idx: len(s.metas), f: q.q.Freeze()})
		}
		s.index[e.id] = len(s.metas)
		s.metas = append(s.metas, e.meta)
		s.expire = append(s.expire, ttlview.ExpiryAt(e.ttl, b.opts.Clock))
	}
	s.snap = b.db.NewSnapshot()
	b.mu.Lock()
	b.snaps[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

// orderedStates returns every known state, registered or only restored, by id.
func (b *Backend) orderedStates() []*stateEntry {
	out := make([]*stateEntry, 0, len(b.byID))
	for _, e := range b.byID {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y *stateEntry) int { return int(x.id) - int(y.id) })
	return out
}

type fullSnapshot struct {
	b       *Backend
	id      int64
	opID    string
	dbDir   string
	rng     keygroup.Range
	keySer  string
	comp    snapshot.Compression
	metas   []snapshot.StateMeta
	index   map[uint16]int // state id -> index in metas
	workers int
	// expire says, per state of metas, which entries the snapshot leaves out: those of a
	// registered TTL state expired at the time of the synchronous phase.
	expire []ttlview.Expiry
	// heapTimers are the timer queues kept in memory (Options.TimerService heap), frozen in
	// the synchronous phase; the database has none of their timers.
	heapTimers []frozenHeapTimers
	// ttlWM is the TTL clock's watermark at the synchronous phase (nil: none), recorded on
	// the handle.
	ttlWM *int64

	once sync.Once
	snap *pebble.Snapshot
}

// Release implements backend.AsyncSnapshot.
func (s *fullSnapshot) Release() {
	s.once.Do(func() {
		_ = s.snap.Close()
		s.b.mu.Lock()
		delete(s.b.snaps, s)
		s.b.mu.Unlock()
	})
}

func (s *fullSnapshot) released() bool {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	_, ok := s.b.snaps[s]
	return !ok
}

// Run implements backend.AsyncSnapshot. A snapshot without any record (no state entry and no
// timer in the key-group range) writes no file and returns a nil handle, as Flink does: a
// restore without a handle for some key groups starts them empty.
func (s *fullSnapshot) Run(ctx context.Context, out snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error) {
	if s.released() {
		return nil, fmt.Errorf("lsm backend: snapshot %d of operator %s was released", s.id, s.opID)
	}
	defer s.Release()
	if empty, err := s.empty(); err != nil || empty {
		if err != nil {
			err = fmt.Errorf("lsm backend: snapshot %d of operator %s: %w", s.id, s.opID, err)
		}
		return nil, err
	}
	f, err := out.Create(ctx, fmt.Sprintf("%s-keyed-%d-%d", sanitize(s.opID), s.rng.Start, s.rng.End))
	if err != nil {
		return nil, fmt.Errorf("lsm backend: snapshot %d: %w", s.id, err)
	}
	h, err := snapshot.WriteFull(ctx, f, s.rng, s.keySer, s.metas, s.comp, s.workers, s.writeKeyGroup)
	if err == nil {
		// What Pebble wrote after a fault was not written (faultfs.go): a snapshot that may
		// have read it fails.
		err = s.b.faults.get()
	}
	if err != nil {
		return nil, fmt.Errorf("lsm backend: snapshot %d of operator %s: %w", s.id, s.opID, s.b.dbErr(err))
	}
	h.TTLWatermark = s.ttlWM
	return h, nil
}

// empty reports whether the snapshot holds no record: no key in its key-group range and no
// heap timer.
func (s *fullSnapshot) empty() (bool, error) {
	for _, f := range s.heapTimers {
		for i := range s.rng.Len() {
			if f.f.Len(i) > 0 {
				return false, nil
			}
		}
	}
	lo, hi := keyGroupSpan(s.rng.Start, s.rng.End)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	found := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, err
	}
	return !found, nil
}

// writeKeyGroup writes the records of one key group. WriteFull calls it from several
// goroutines at once, for distinct key groups: each call has its own iterator.
func (s *fullSnapshot) writeKeyGroup(kg int, w *snapshot.BlockBuilder) error {
	lo, hi := keyGroupSpan(kg, kg)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	var elems [][]byte
	var ts []byte
	for valid := it.First(); valid; valid = it.Next() {
		sid, err := keySID(it.Key())
		if err != nil {
			return s.b.corruptKey(it.Key(), err)
		}
		idx, ok := s.index[sid]
		if !ok {
			return s.b.corruptKey(it.Key(), fmt.Errorf("%w: unknown state id %d", errBadKey, sid))
		}
		if s.metas[idx].Kind == backend.KindTimers {
			_, t, err := decodeTimerKey(it.Key())
			if err != nil {
				return s.b.corruptKey(it.Key(), err)
			}
			ts = timerValue(ts[:0], t.Timestamp)
			w.Value(idx, t.Key, t.Namespace, ts)
			continue
		}
		d, err := decodeKey(it.Key())
		if err != nil {
			return s.b.corruptKey(it.Key(), err)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		cut := s.expire[idx]
		switch s.metas[idx].Kind {
		case backend.KindList:
			if elems, err = splitList(elems[:0], v); err != nil {
				return s.b.corruptKey(it.Key(), err)
			}
			if elems, err = cut.LiveBytes(elems); err != nil {
				return s.b.corruptKey(it.Key(), err)
			}
			if len(elems) == 0 {
				continue
			}
			w.List(idx, d.key, d.ns, len(elems))
			for _, e := range elems {
				w.ListElement(e)
			}
			continue
		}
		if expired, err := cut.ExpiredBytes(v); err != nil {
			return s.b.corruptKey(it.Key(), err)
		} else if expired {
			continue
		}
		switch s.metas[idx].Kind {
		case backend.KindMap:
			w.MapEntry(idx, d.key, d.ns, d.userKey, v)
		default:
			w.Value(idx, d.key, d.ns, v)
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	for _, f := range s.heapTimers {
		ts = f.write(w, kg-s.rng.Start, ts)
	}
	return nil
}
