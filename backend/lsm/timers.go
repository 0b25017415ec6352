package lsm

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// timerSerializerID names the encoding of a timer's timestamp in snapshots (the hashmap
// backend's, so that timers move between the backends with savepoints).
const timerSerializerID = "timer-ts-v1"

// Timers live in the database like keyed state, in the key group of their key, but with a
// layout ordered as timers fire:
//
//	[key group][state id][timestamp: 8 bytes BE, sign bit flipped][esc(key)][esc(namespace)]
//
// with an empty value. esc is the escaping of serde's keys (0x00 -> 0x00 0xFF, then a 0x00
// 0x01 terminator), which keeps byte order, so within a key group the database order is
// backend.Timer.Less. The queue keeps each key group's smallest timer in memory, and a heap of
// key groups by their smallest timer, as Flink's RocksDB timer service does.

func appendEscaped(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			dst = append(dst, b...)
			break
		}
		dst = append(dst, b[:i]...)
		dst = append(dst, 0x00, 0xFF)
		b = b[i+1:]
	}
	return append(dst, 0x00, 0x01)
}

func splitEscaped(b []byte) (field, rest []byte, err error) {
	var out []byte
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], 0)
		if j < 0 || i+j+1 >= len(b) {
			return nil, nil, errors.New("unterminated field")
		}
		j += i
		switch b[j+1] {
		case 0x01:
			return append(out, b[i:j]...), b[j+2:], nil
		case 0xFF:
			out = append(append(out, b[i:j]...), 0)
			i = j + 2
		default:
			return nil, nil, fmt.Errorf("bad escape %#x", b[j+1])
		}
	}
}

func appendTimerKey(dst []byte, kg int, sid uint16, t backend.Timer) []byte {
	dst = appendStatePrefix(dst, kg, sid)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Timestamp)^(1<<63))
	dst = appendEscaped(dst, t.Key)
	return appendEscaped(dst, t.Namespace)
}

// decodeTimerKey parses a timer key; the returned slices do not alias k.
func decodeTimerKey(k []byte) (kg int, t backend.Timer, err error) {
	if len(k) < kgLen+sidLen+8 {
		return 0, t, fmt.Errorf("%w: timer key of %d bytes", errBadKey, len(k))
	}
	kg = int(binary.BigEndian.Uint16(k))
	rest := k[kgLen+sidLen:]
	t.Timestamp = int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
	if t.Key, rest, err = splitEscaped(rest[8:]); err != nil {
		return 0, t, fmt.Errorf("%w: timer key: %v", errBadKey, err)
	}
	if t.Namespace, rest, err = splitEscaped(rest); err != nil || len(rest) != 0 {
		return 0, t, fmt.Errorf("%w: timer namespace: %v (%d trailing bytes)", errBadKey, err, len(rest))
	}
	if t.Key == nil {
		t.Key = []byte{}
	}
	return kg, t, nil
}

// timerValue is a timer's timestamp in the canonical snapshot format.
func timerValue(dst []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(ts)^(1<<63))
}

func timerTimestamp(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("timer timestamp has %d bytes, want 8", len(v))
	}
	return int64(binary.BigEndian.Uint64(v) ^ (1 << 63)), nil
}

// CreateTimerQueue implements backend.Keyed: a key-group-partitioned priority queue
// of timers stored in the database, or, with Options.TimerService TimerServiceHeap, in memory
// (see heaptimers.go).
func (b *Backend) CreateTimerQueue(name string) (backend.TimerQueue, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	meta := snapshot.StateMeta{Name: name, Kind: backend.KindTimers, Value: timerSerializerID}
	e, ok := b.states[name]
	if ok {
		if err := backend.CheckCompatible(b.opID, e.meta, meta); err != nil {
			return nil, err
		}
		if e.st != nil {
			return e.st.(backend.TimerQueue), nil
		}
	} else {
		var err error
		if e, err = b.newEntry(meta); err != nil {
			return nil, err
		}
	}
	if b.opts.TimerService == TimerServiceHeap {
		q, err := b.newHeapTimerQueue(name, e)
		if err != nil {
			return nil, err
		}
		e.st = q
		return q, nil
	}
	q := &timerQueue{b: b, name: name, sid: e.id, heads: make([]timerHead, b.rng.Len()), headPos: make([]int, b.rng.Len())}
	for i := range q.heads {
		q.headPos[i] = -1
		if err := q.load(i); err != nil {
			return nil, err
		}
	}
	// Count the timers (restored ones included).
	lo, hi := appendKGPrefix(nil, b.rng.Start), appendKGPrefix(nil, b.rng.End+1)
	it, err := b.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, q.wrap("count", err)
	}
	for kg := range b.rng.All() {
		p := appendStatePrefix(nil, kg, e.id)
		for valid := it.SeekGE(p); valid && bytes.HasPrefix(it.Key(), p); valid = it.Next() {
			q.n++
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, q.wrap("count", err)
	}
	e.st = q
	return q, nil
}

type timerHead struct {
	t  backend.Timer
	ok bool
}

// timerQueue implements backend.TimerQueue. heads[i] is key group index i's smallest timer;
// order is a heap of the indices that have one, by that timer; headPos[i] is i's position in
// it, or -1.
type timerQueue struct {
	b       *Backend
	name    string
	sid     uint16
	heads   []timerHead
	order   []int
	headPos []int
	n       int
	key     []byte
}

// The queue is a backend.State only so that the backend can keep it with the states.
func (q *timerQueue) SetNamespace([]byte) {}
func (q *timerQueue) Clear() error        { return nil }

func (q *timerQueue) wrap(op string, err error) error {
	return fmt.Errorf("lsm backend: %s timers %q of operator %s: %w", op, q.name, q.b.opID, q.b.dbErr(err))
}

func (q *timerQueue) index(kg int) (int, error) {
	if q.b.closed {
		return 0, backend.ErrClosed
	}
	if !q.b.rng.Contains(kg) {
		return 0, fmt.Errorf("%w: timer of key group %d in operator %s, whose range is %v", backend.ErrKeyGroupNotOwned, kg, q.b.opID, q.b.rng)
	}
	return kg - q.b.rng.Start, nil
}

// load reads key group index i's smallest timer from the database and fixes the heap.
func (q *timerQueue) load(i int) error { return q.loadFrom(i, nil) }

// loadFrom is load when no timer of key group index i is below the timer key from (nil: the
// key group's first): the scan starts there, so it does not step over the tombstones of the
// timers polled before.
func (q *timerQueue) loadFrom(i int, from []byte) error {
	prefix := appendStatePrefix(nil, q.b.rng.Start+i, q.sid)
	lo := prefix
	if from != nil {
		lo = slices.Clone(from) // Pebble keeps the bounds it is given
	}
	it, err := q.b.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return q.wrap("read", err)
	}
	h := timerHead{}
	if it.First() {
		_, t, err := decodeTimerKey(it.Key())
		if err != nil {
			it.Close()
			return q.b.corruptKey(it.Key(), err)
		}
		h = timerHead{t: t, ok: true}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return q.wrap("read", err)
	}
	q.heads[i] = h
	q.fix(i)
	return nil
}

func (q *timerQueue) exists(key []byte) (bool, error) {
	_, closer, err := q.b.get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, q.wrap("read", err)
	}
	closer.Close()
	return true, nil
}

// Add implements backend.TimerQueue.
func (q *timerQueue) Add(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	q.key = appendTimerKey(q.key[:0], kg, q.sid, t)
	if ok, err := q.exists(q.key); err != nil || ok {
		return false, err
	}
	if err := q.b.set(q.key, nil); err != nil {
		return false, q.wrap("add to", err)
	}
	q.n++
	if h := q.heads[i]; !h.ok || t.Less(h.t) {
		q.heads[i] = timerHead{t: backend.Timer{Timestamp: t.Timestamp, Key: slices.Clone(t.Key), Namespace: slices.Clone(t.Namespace)}, ok: true}
		q.fix(i)
	}
	return true, nil
}

// Remove implements backend.TimerQueue.
func (q *timerQueue) Remove(kg int, t backend.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	q.key = appendTimerKey(q.key[:0], kg, q.sid, t)
	if ok, err := q.exists(q.key); err != nil || !ok {
		return false, err
	}
	if err := q.b.del(q.key); err != nil {
		return false, q.wrap("remove from", err)
	}
	q.n--
	if h := q.heads[i]; h.ok && !h.t.Less(t) && !t.Less(h.t) {
		// t was the key group's smallest timer: the next one is above it.
		if err := q.loadFrom(i, q.key); err != nil {
			return true, err
		}
	}
	return true, nil
}

// Peek implements backend.TimerQueue.
func (q *timerQueue) Peek() (backend.Timer, bool, error) {
	if q.b.closed {
		return backend.Timer{}, false, backend.ErrClosed
	}
	if len(q.order) == 0 {
		return backend.Timer{}, false, nil
	}
	return q.heads[q.order[0]].t, true, nil
}

// Poll implements backend.TimerQueue.
func (q *timerQueue) Poll() (backend.Timer, int, bool, error) {
	if q.b.closed {
		return backend.Timer{}, 0, false, backend.ErrClosed
	}
	if len(q.order) == 0 {
		return backend.Timer{}, 0, false, nil
	}
	i := q.order[0]
	t := q.heads[i].t
	kg := q.b.rng.Start + i
	q.key = appendTimerKey(q.key[:0], kg, q.sid, t)
	if err := q.b.del(q.key); err != nil {
		return backend.Timer{}, 0, false, q.wrap("poll", err)
	}
	q.n--
	// t was the key group's smallest timer: the next one is above it.
	if err := q.loadFrom(i, q.key); err != nil {
		return backend.Timer{}, 0, false, err
	}
	return t, kg, true, nil
}

// Len implements backend.TimerQueue.
func (q *timerQueue) Len() int { return q.n }

// The heap of key groups: container/heap over indices.
type timerOrder timerQueue

func (h *timerOrder) Len() int           { return len(h.order) }
func (h *timerOrder) Less(i, j int) bool { return h.heads[h.order[i]].t.Less(h.heads[h.order[j]].t) }
func (h *timerOrder) Swap(i, j int) {
	h.order[i], h.order[j] = h.order[j], h.order[i]
	h.headPos[h.order[i]], h.headPos[h.order[j]] = i, j
}
func (h *timerOrder) Push(x any) {
	i := x.(int)
	h.headPos[i] = len(h.order)
	h.order = append(h.order, i)
}
func (h *timerOrder) Pop() any {
	i := h.order[len(h.order)-1]
	h.order = h.order[:len(h.order)-1]
	h.headPos[i] = -1
	return i
}

// fix restores the heap after key group index i's head changed.
func (q *timerQueue) fix(i int) {
	h := (*timerOrder)(q)
	switch p := q.headPos[i]; {
	case !q.heads[i].ok && p >= 0:
		heap.Remove(h, p)
	case !q.heads[i].ok:
	case p >= 0:
		heap.Fix(h, p)
	default:
		heap.Push(h, i)
	}
}
