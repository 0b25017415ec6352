package timerheap

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"slices"
	"unsafe"
)

// Timer is a timer of one key and namespace; its fields are backend.Timer's, so the two
// convert into each other.
type Timer struct {
	Timestamp int64
	Key       []byte
	Namespace []byte
}

// Less orders timers by timestamp, then key, then namespace.
func (t Timer) Less(o Timer) bool {
	if t.Timestamp != o.Timestamp {
		return t.Timestamp < o.Timestamp
	}
	if c := bytes.Compare(t.Key, o.Key); c != 0 {
		return c < 0
	}
	return bytes.Compare(t.Namespace, o.Namespace) < 0
}

type entry struct {
	t   Timer
	id  string
	pos int
}

// kgQueue is one key group's binary heap of timers. The heap holds each timestamp inline, so
// most comparisons do not touch the entry. A frozen kgQueue is part of a snapshot and is
// never modified again.
type kgQueue struct {
	items  []item
	set    map[string]*entry
	frozen bool
}

type item struct {
	ts int64
	e  *entry
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
	e := x.(*entry)
	e.pos = len(q.items)
	q.items = append(q.items, item{e.t.Timestamp, e})
}
func (q *kgQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items[len(q.items)-1] = item{}
	q.items = q.items[:len(q.items)-1]
	return it.e
}

// Queue is the key-group-partitioned priority queue. Its zero value is not usable; use New.
type Queue struct {
	qs      []*kgQueue
	heads   []int // heap of key-group indices with timers, by their smallest timer
	headPos []int // headPos[i] is i's position in heads, or -1
	n       int
	id      []byte
}

// New returns an empty queue of n key groups.
func New(n int) *Queue {
	q := &Queue{qs: make([]*kgQueue, n), headPos: make([]int, n)}
	for i := range q.qs {
		q.qs[i] = &kgQueue{}
		q.headPos[i] = -1
	}
	return q
}

// KeyGroups returns the number of key groups, n of New.
func (q *Queue) KeyGroups() int { return len(q.qs) }

func timerID(dst []byte, t Timer) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], uint64(t.Timestamp))
	dst = binary.AppendUvarint(dst, uint64(len(t.Key)))
	dst = append(dst, t.Key...)
	return append(dst, t.Namespace...)
}

// writable returns key group index i's queue for modification, copying a frozen one.
func (q *Queue) writable(i int) *kgQueue {
	kq := q.qs[i]
	if !kq.frozen && kq.set != nil {
		return kq
	}
	c := &kgQueue{items: make([]item, len(kq.items)), set: make(map[string]*entry, len(kq.items))}
	for j, it := range kq.items {
		ce := *it.e
		c.items[j] = item{it.ts, &ce}
		c.set[ce.id] = &ce
	}
	q.qs[i] = c
	return c
}

// Add adds t to key group index i unless it is there; it copies t's slices. It reports
// whether t was added.
func (q *Queue) Add(i int, t Timer) bool {
	q.id = timerID(q.id, t)
	if _, dup := q.qs[i].set[string(q.id)]; dup {
		return false
	}
	kq := q.writable(i)
	// One allocation holds the id, key and namespace.
	buf := make([]byte, 0, len(q.id)+len(t.Key)+len(t.Namespace))
	buf = append(append(append(buf, q.id...), t.Key...), t.Namespace...)
	e := &entry{t: Timer{Timestamp: t.Timestamp, Key: buf[len(q.id) : len(q.id)+len(t.Key) : len(q.id)+len(t.Key)],
		Namespace: buf[len(q.id)+len(t.Key):]}}
	e.id = unsafe.String(&buf[0], len(q.id))
	kq.set[e.id] = e
	heap.Push(kq, e)
	q.n++
	q.fixHead(i)
	return true
}

// Remove removes t from key group index i; false if it was not there.
func (q *Queue) Remove(i int, t Timer) bool {
	q.id = timerID(q.id, t)
	if _, ok := q.qs[i].set[string(q.id)]; !ok {
		return false
	}
	kq := q.writable(i)
	e := kq.set[string(q.id)]
	heap.Remove(kq, e.pos)
	delete(kq.set, e.id)
	q.n--
	q.fixHead(i)
	return true
}

// Peek returns the smallest timer without removing it; ok is false when the queue is empty.
// The timer's slices must not be modified.
func (q *Queue) Peek() (t Timer, ok bool) {
	if len(q.heads) == 0 {
		return Timer{}, false
	}
	return q.qs[q.heads[0]].items[0].e.t, true
}

// Poll removes and returns the smallest timer and its key-group index; ok is false when the
// queue is empty. The caller owns the timer's slices.
func (q *Queue) Poll() (t Timer, i int, ok bool) {
	if len(q.heads) == 0 {
		return Timer{}, 0, false
	}
	i = q.heads[0]
	kq := q.writable(i)
	e := heap.Pop(kq).(*entry)
	delete(kq.set, e.id)
	q.n--
	q.fixHead(i)
	return e.t, i, true
}

// Len returns the number of timers.
func (q *Queue) Len() int { return q.n }

// Each calls fn for the timers of key group index i, in heap order, until fn returns false.
// The queue must not be modified during the call; fn must not modify the timers' slices.
func (q *Queue) Each(i int, fn func(Timer) bool) {
	for _, it := range q.qs[i].items {
		if !fn(it.e.t) {
			return
		}
	}
}

// Freeze returns a view of the queue as it is now. It is O(key groups): each key group is
// copied on its first modification afterwards.
func (q *Queue) Freeze() *Frozen {
	f := &Frozen{qs: slices.Clone(q.qs)}
	for _, kq := range q.qs {
		kq.frozen = true
	}
	return f
}

// Frozen is a queue as it was when frozen. It is safe for concurrent reads.
type Frozen struct{ qs []*kgQueue }

// Each calls fn for the timers key group index i had, in heap order, until fn returns false.
// fn must not modify the timers' slices.
func (f *Frozen) Each(i int, fn func(Timer) bool) {
	for _, it := range f.qs[i].items {
		if !fn(it.e.t) {
			return
		}
	}
}

// Len returns the number of timers of key group index i.
func (f *Frozen) Len(i int) int { return len(f.qs[i].items) }

// The heads heap: container/heap over key-group indices.
type headHeap Queue

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
func (q *Queue) fixHead(i int) {
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
