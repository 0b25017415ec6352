package lsm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/timerheap"
)

// TimerServiceFactory says where the backend keeps timers
// (state.backend.lsm.timer-service.factory, as Flink's
// state.backend.rocksdb.timer-service.factory).
type TimerServiceFactory string

// The timer stores.
const (
	// TimerServiceLSM keeps timers in the database, with each key group's smallest timer
	// cached in memory. The default.
	TimerServiceLSM TimerServiceFactory = "lsm"
	// TimerServiceHeap keeps timers in memory, in the key-group-partitioned heap priority
	// queue the hashmap backend uses. Faster, but the timers take Go heap; full snapshots and
	// savepoints write them in the canonical format with the keyed state.
	TimerServiceHeap TimerServiceFactory = "heap"
)

func (f TimerServiceFactory) valid() bool { return f == TimerServiceLSM || f == TimerServiceHeap }

// heapTimerQueue is a backend.TimerQueue of an lsm backend with heap timers. It is in the
// backend's states so that snapshots find it; its timers are not in the database.
type heapTimerQueue struct {
	b    *Backend
	name string
	sid  uint16
	q    *timerheap.Queue
}

// The queue is a backend.State only so that the backend can keep it with the states.
func (q *heapTimerQueue) SetNamespace([]byte) {}
func (q *heapTimerQueue) Clear() error        { return nil }

// newHeapTimerQueue creates the queue of state e and moves into it the timers that a restore
// wrote to the database (of any snapshot format: restore stores timers as lsm timers).
func (b *Backend) newHeapTimerQueue(name string, e *stateEntry) (*heapTimerQueue, error) {
	q := &heapTimerQueue{b: b, name: name, sid: e.id, q: timerheap.New(b.rng.Len())}
	wrap := func(err error) error {
		return fmt.Errorf("lsm backend: restore timers %q of operator %s: %w", name, b.opID, err)
	}
	it, err := b.newIter(nil)
	if err != nil {
		return nil, wrap(err)
	}
	batch := b.db.NewBatch()
	defer batch.Close()
	for kg := range b.rng.All() {
		lo := appendStatePrefix(nil, kg, e.id)
		hi := prefixEnd(lo)
		it.SetBounds(lo, hi)
		found := false
		for valid := it.First(); valid; valid = it.Next() {
			_, t, err := decodeTimerKey(it.Key())
			if err != nil {
				it.Close()
				return nil, b.corruptKey(it.Key(), err)
			}
			q.q.Add(kg-b.rng.Start, timerheap.Timer(t))
			found = true
		}
		if found {
			if err := batch.DeleteRange(lo, hi, nil); err != nil {
				it.Close()
				return nil, wrap(err)
			}
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, wrap(err)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return nil, wrap(err)
	}
	return q, nil
}

func (q *heapTimerQueue) index(kg int) (int, error) {
	if q.b.closed {
		return 0, backend.ErrClosed
	}
	if !q.b.rng.Contains(kg) {
		return 0, fmt.Errorf("%w: timer of key group %d in operator %s, whose range is %v", backend.ErrKeyGroupNotOwned, kg, q.b.opID, q.b.rng)
	}
	return kg - q.b.rng.Start, nil
}

// Add implements backend.TimerQueue.
func (q *heapTimerQueue) Add(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	return q.q.Add(i, timerheap.Timer(t)), nil
}

// Remove implements backend.TimerQueue.
func (q *heapTimerQueue) Remove(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	return q.q.Remove(i, timerheap.Timer(t)), nil
}

// Peek implements backend.TimerQueue.
func (q *heapTimerQueue) Peek() (backend.Timer, bool, error) {
	if q.b.closed {
		return backend.Timer{}, false, backend.ErrClosed
	}
	t, ok := q.q.Peek()
	return backend.Timer(t), ok, nil
}

// Poll implements backend.TimerQueue.
func (q *heapTimerQueue) Poll() (backend.Timer, int, bool, error) {
	if q.b.closed {
		return backend.Timer{}, 0, false, backend.ErrClosed
	}
	t, i, ok := q.q.Poll()
	return backend.Timer(t), q.b.rng.Start + i, ok, nil
}

// Len implements backend.TimerQueue.
func (q *heapTimerQueue) Len() int { return q.q.Len() }

// keys yields the keys with timers in namespace ns, once each, key group by key group.
func (q *heapTimerQueue) keys(ns []byte, yield func([]byte, error) bool) {
	for i := range q.q.KeyGroups() {
		seen := map[string]bool{}
		stop := false
		q.q.Each(i, func(t timerheap.Timer) bool {
			if !bytes.Equal(t.Namespace, ns) || seen[string(t.Key)] {
				return true
			}
			seen[string(t.Key)] = true
			stop = !yield(t.Key, nil)
			return !stop
		})
		if stop {
			return
		}
	}
}

// frozenHeapTimers is a heap timer queue's part of a full snapshot.
type frozenHeapTimers struct {
	idx int // index of the queue's state in the snapshot's metas
	f   *timerheap.Frozen
}

// write adds key group kg's timers to a snapshot block.
func (f frozenHeapTimers) write(w *snapshot.BlockBuilder, kgIdx int, scratch []byte) []byte {
	f.f.Each(kgIdx, func(t timerheap.Timer) bool {
		scratch = timerValue(scratch[:0], t.Timestamp)
		w.Value(f.idx, t.Key, t.Namespace, scratch)
		return true
	})
	return scratch
}
