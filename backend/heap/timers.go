package heap

import (
	"encoding/binary"
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/internal/timerheap"
)

// timerSerializerID names the encoding of a timer's timestamp in snapshots.
const timerSerializerID = "timer-ts-v1"

// CreateTimerQueue implements backend.Keyed: a key-group-partitioned heap priority
// queue, as Flink's heap timers (internal/timerheap). Each key group has its own binary heap
// (and a set for uniqueness); a heap of the key groups' heads gives the overall minimum. Like
// keyed state, a key group's queue is copy-on-write after a snapshot, so the synchronous phase
// stays O(key groups).
func (b *Backend) CreateTimerQueue(name string) (backend.TimerQueue, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	meta := snapshot.StateMeta{Name: name, Kind: backend.KindTimers, Value: timerSerializerID}
	if t, ok := b.states[name]; ok {
		if err := backend.CheckCompatible(b.opID, t.meta(), meta); err != nil {
			return nil, err
		}
		if q, ok := t.(*timerQueue); ok {
			return q, nil
		}
		q := b.newTimerQueue(meta)
		for i, recs := range t.(*restored).recs {
			for j := range recs {
				if err := q.restore(i, &recs[j]); err != nil {
					return nil, fmt.Errorf("heap backend: restore timers %q of operator %s: %w", name, b.opID, err)
				}
			}
		}
		b.states[name] = q
		b.track(name, q)
		return q, nil
	}
	q := b.newTimerQueue(meta)
	b.states[name] = q
	b.order = append(b.order, name)
	b.track(name, q)
	return q, nil
}

func (b *Backend) newTimerQueue(meta snapshot.StateMeta) *timerQueue {
	return &timerQueue{b: b, m: meta, q: timerheap.New(b.rng.Len())}
}

// timerQueue adapts a timerheap.Queue to backend.TimerQueue and to the backend's table
// interface.
type timerQueue struct {
	b *Backend
	m snapshot.StateMeta
	q *timerheap.Queue
	d *dirtyLog // see stateBase.d
}

// mark records a change of key group index i in the dirty log, if any.
func (q *timerQueue) mark(i int, changed bool) bool {
	if changed && q.d != nil {
		q.d.markKeyGroup(i)
	}
	return changed
}

func (q *timerQueue) index(kg int) (int, error) {
	if !q.b.rng.Contains(kg) {
		return 0, fmt.Errorf("%w: timer of key group %d in operator %s, whose range is %v", backend.ErrKeyGroupNotOwned, kg, q.b.opID, q.b.rng)
	}
	return kg - q.b.rng.Start, nil
}

// Add implements backend.TimerQueue.
func (q *timerQueue) Add(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	return q.mark(i, q.q.Add(i, timerheap.Timer(t))), nil
}

// Remove implements backend.TimerQueue.
func (q *timerQueue) Remove(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	return q.mark(i, q.q.Remove(i, timerheap.Timer(t))), nil
}

// Peek implements backend.TimerQueue.
func (q *timerQueue) Peek() (backend.Timer, bool, error) {
	t, ok := q.q.Peek()
	return backend.Timer(t), ok, nil
}

// Poll implements backend.TimerQueue.
func (q *timerQueue) Poll() (backend.Timer, int, bool, error) {
	t, i, ok := q.q.Poll()
	q.mark(i, ok)
	return backend.Timer(t), q.b.rng.Start + i, ok, nil
}

// Len implements backend.TimerQueue.
func (q *timerQueue) Len() int { return q.q.Len() }

// The table interface, for snapshots, restore and Keys.

func (q *timerQueue) meta() snapshot.StateMeta { return q.m }
func (q *timerQueue) registered() bool         { return true }
func (q *timerQueue) internal() backend.State  { return nil }

func (q *timerQueue) eachKey(fn func(key, ns []byte) bool) {
	for i := range q.q.KeyGroups() {
		seen := map[string]bool{}
		stop := false
		q.q.Each(i, func(t timerheap.Timer) bool {
			k := string(appendMapKey(nil, t.Key, t.Namespace))
			if seen[k] {
				return true
			}
			seen[k] = true
			stop = !fn(t.Key, t.Namespace)
			return !stop
		})
		if stop {
			return
		}
	}
}

func (q *timerQueue) freeze() frozen { return &frozenTimers{f: q.q.Freeze()} }

func (q *timerQueue) restore(kgIdx int, r *rawRecord) error {
	if len(r.value) != 8 {
		return fmt.Errorf("timer timestamp has %d bytes, want 8", len(r.value))
	}
	ts := int64(binary.BigEndian.Uint64(r.value) ^ (1 << 63))
	q.q.Add(kgIdx, timerheap.Timer{Timestamp: ts, Key: r.key, Namespace: r.ns})
	return nil
}

type frozenTimers struct{ f *timerheap.Frozen }

func (f *frozenTimers) empty(kgs int) bool {
	for i := range kgs {
		if f.f.Len(i) > 0 {
			return false
		}
	}
	return true
}

func (f *frozenTimers) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	f.f.Each(kgIdx, func(t timerheap.Timer) bool {
		scratch = binary.BigEndian.AppendUint64(scratch[:0], uint64(t.Timestamp)^(1<<63))
		w.Value(idx, t.Key, t.Namespace, scratch)
		return true
	})
	return scratch, nil
}
