package heap

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/state"
)

// timerSerializerID names the encoding of a timer's timestamp in snapshots.
const timerSerializerID = "timer-ts-v1"

// CreateTimerQueue implements state.TimerQueueFactory: a key-group-partitioned heap priority
// queue, as Flink's heap timers. Each key group has its own binary heap (and a set for
// uniqueness); a heap of the key groups' heads gives the overall minimum. Like keyed state,
// a key group's queue is copy-on-write after a snapshot, so the synchronous phase stays
// O(key groups).
func (b *Backend) CreateTimerQueue(name string) (state.TimerQueue, error) {
	if b.closed {
		return nil, state.ErrClosed
	}
	meta := checkpoint.StateMeta{Name: name, Kind: state.KindTimers, Value: timerSerializerID}
	if t, ok := b.states[name]; ok {
		if err := state.CheckCompatible(b.opID, t.meta(), meta); err != nil {
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
		return q, nil
	}
	q := b.newTimerQueue(meta)
	b.states[name] = q
	b.order = append(b.order, name)
	return q, nil
}

func (b *Backend) newTimerQueue(meta checkpoint.StateMeta) *timerQueue {
	q := &timerQueue{b: b, m: meta, qs: make([]*kgQueue, b.rng.Len()), headPos: make([]int, b.rng.Len())}
	for i := range q.qs {
		q.qs[i] = &kgQueue{}
		q.headPos[i] = -1
	}
	return q
}

type timerEntry struct {
	t   state.Timer
	id  string
	pos int
}

// kgQueue is one key group's binary heap of timers. The heap holds each timestamp inline, so
// most comparisons do not touch the entry.
type kgQueue struct {
	items  []heapItem
	set    map[string]*timerEntry
	frozen bool
}

type heapItem struct {
	ts int64
	e  *timerEntry
}

func (q *kgQueue) Len() int { return len(q.items) }
func (q *kgQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.e.t.Less(b.e.t)
}
func (q *kgQueue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].e.pos, q.items[j].e.pos = i, j
}
func (q *kgQueue) Push(x any) {
	e := x.(*timerEntry)
	e.pos = len(q.items)
	q.items = append(q.items, heapItem{e.t.Timestamp, e})
}
func (q *kgQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items[len(q.items)-1] = heapItem{}
	q.items = q.items[:len(q.items)-1]
	return it.e
}

// timerQueue is the key-group-partitioned priority queue. heads is a heap of key-group
// indices ordered by their queue's smallest timer; headPos[i] is i's position in it or -1.
type timerQueue struct {
	b       *Backend
	m       checkpoint.StateMeta
	qs      []*kgQueue
	heads   []int
	headPos []int
	n       int
	id      []byte
}

func timerID(dst []byte, t state.Timer) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], uint64(t.Timestamp))
	dst = binary.AppendUvarint(dst, uint64(len(t.Key)))
	dst = append(dst, t.Key...)
	return append(dst, t.Namespace...)
}

// writable returns key group index i's queue for modification, copying a frozen one.
func (q *timerQueue) writable(i int) *kgQueue {
	kq := q.qs[i]
	if !kq.frozen && kq.set != nil {
		return kq
	}
	c := &kgQueue{items: make([]heapItem, len(kq.items)), set: make(map[string]*timerEntry, len(kq.items))}
	for j, it := range kq.items {
		ce := *it.e
		c.items[j] = heapItem{it.ts, &ce}
		c.set[ce.id] = &ce
	}
	q.qs[i] = c
	return c
}

func (q *timerQueue) index(kg int) (int, error) {
	if !q.b.rng.Contains(kg) {
		return 0, fmt.Errorf("%w: timer of key group %d in operator %s, whose range is %v", state.ErrKeyGroupNotOwned, kg, q.b.opID, q.b.rng)
	}
	return kg - q.b.rng.Start, nil
}

// Add implements state.TimerQueue.
func (q *timerQueue) Add(kg int, t state.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	return q.insert(i, t), nil
}

// insert adds t to key group index i's queue unless it is there; it copies t's slices.
func (q *timerQueue) insert(i int, t state.Timer) bool {
	q.id = timerID(q.id, t)
	if _, dup := q.qs[i].set[string(q.id)]; dup {
		return false
	}
	kq := q.writable(i)
	// One allocation holds the id, key and namespace.
	buf := make([]byte, 0, len(q.id)+len(t.Key)+len(t.Namespace))
	buf = append(append(append(buf, q.id...), t.Key...), t.Namespace...)
	e := &timerEntry{t: state.Timer{Timestamp: t.Timestamp, Key: buf[len(q.id) : len(q.id)+len(t.Key) : len(q.id)+len(t.Key)],
		Namespace: buf[len(q.id)+len(t.Key):]}}
	e.id = unsafe.String(&buf[0], len(q.id))
	kq.set[e.id] = e
	heap.Push(kq, e)
	q.n++
	q.fixHead(i)
	return true
}

// Remove implements state.TimerQueue.
func (q *timerQueue) Remove(kg int, t state.Timer) (bool, error) {
	i, err := q.index(kg)
	if err != nil {
		return false, err
	}
	q.id = timerID(q.id, t)
	if _, ok := q.qs[i].set[string(q.id)]; !ok {
		return false, nil
	}
	kq := q.writable(i)
	e := kq.set[string(q.id)]
	heap.Remove(kq, e.pos)
	delete(kq.set, e.id)
	q.n--
	q.fixHead(i)
	return true, nil
}

// Peek implements state.TimerQueue.
func (q *timerQueue) Peek() (state.Timer, bool, error) {
	if len(q.heads) == 0 {
		return state.Timer{}, false, nil
	}
	return q.qs[q.heads[0]].items[0].e.t, true, nil
}

// Poll implements state.TimerQueue.
func (q *timerQueue) Poll() (state.Timer, int, bool, error) {
	if len(q.heads) == 0 {
		return state.Timer{}, 0, false, nil
	}
	i := q.heads[0]
	kq := q.writable(i)
	e := heap.Pop(kq).(*timerEntry)
	delete(kq.set, e.id)
	q.n--
	q.fixHead(i)
	return e.t, q.b.rng.Start + i, true, nil
}

// Len implements state.TimerQueue.
func (q *timerQueue) Len() int { return q.n }

// The heads heap: container/heap over key-group indices.
type headHeap timerQueue

func (h *headHeap) Len() int { return len(h.heads) }
func (h *headHeap) Less(i, j int) bool {
	a, b := h.qs[h.heads[i]].items[0], h.qs[h.heads[j]].items[0]
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.e.t.Less(b.e.t)
}
func (h *headHeap) Swap(i, j int) {
	h.heads[i], h.heads[j] = h.heads[j], h.heads[i]
	h.headPos[h.heads[i]], h.headPos[h.heads[j]] = i, j
}
func (h *headHeap) Push(x any) {
	i := x.(int)
	h.headPos[i] = len(h.heads)
	h.heads = append(h.heads, i)
}
func (h *headHeap) Pop() any {
	i := h.heads[len(h.heads)-1]
	h.heads = h.heads[:len(h.heads)-1]
	h.headPos[i] = -1
	return i
}

// fixHead restores the heads heap after key group index i's queue changed.
func (q *timerQueue) fixHead(i int) {
	h := (*headHeap)(q)
	switch p := q.headPos[i]; {
	case len(q.qs[i].items) == 0 && p >= 0:
		heap.Remove(h, p)
	case len(q.qs[i].items) == 0:
	case p >= 0:
		heap.Fix(h, p)
	default:
		heap.Push(h, i)
	}
}

// The table interface, for snapshots, restore and Keys.

func (q *timerQueue) meta() checkpoint.StateMeta    { return q.m }
func (q *timerQueue) registered() bool              { return true }
func (q *timerQueue) internal() state.InternalState { return nil }

func (q *timerQueue) eachKey(fn func(key, ns []byte) bool) {
	for _, kq := range q.qs {
		seen := map[string]bool{}
		for _, it := range kq.items {
			k := string(appendMapKey(nil, it.e.t.Key, it.e.t.Namespace))
			if seen[k] {
				continue
			}
			seen[k] = true
			if !fn(it.e.t.Key, it.e.t.Namespace) {
				return
			}
		}
	}
}

func (q *timerQueue) freeze() frozen {
	f := &frozenTimers{qs: slices.Clone(q.qs)}
	for _, kq := range q.qs {
		kq.frozen = true
	}
	return f
}

func (q *timerQueue) restore(kgIdx int, r *rawRecord) error {
	if len(r.value) != 8 {
		return fmt.Errorf("timer timestamp has %d bytes, want 8", len(r.value))
	}
	ts := int64(binary.BigEndian.Uint64(r.value) ^ (1 << 63))
	q.insert(kgIdx, state.Timer{Timestamp: ts, Key: r.key, Namespace: r.ns})
	return nil
}

type frozenTimers struct{ qs []*kgQueue }

func (f *frozenTimers) write(w *checkpoint.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	for _, it := range f.qs[kgIdx].items {
		scratch = binary.BigEndian.AppendUint64(scratch[:0], uint64(it.ts)^(1<<63))
		w.Value(idx, it.e.t.Key, it.e.t.Namespace, scratch)
	}
	return scratch, nil
}
