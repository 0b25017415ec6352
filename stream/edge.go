package stream

import (
	"math"

	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
)

// NoTimestamp is the timestamp of a record that has none.
const NoTimestamp = math.MinInt64

// MaxWatermark is the watermark a finished input sends: event time has ended.
const MaxWatermark = math.MaxInt64

// output is where a chained operator sends records and watermarks: the next operator of the
// chain, a fan-out, a sink, or the partitioner of a keyed edge.
type output[T any] interface {
	collect(v T, ts int64) error
	watermark(wm int64) error
}

// elemKind is the kind of an element on a keyed edge.
type elemKind uint8

const (
	kindRecord    elemKind = iota
	kindWatermark          // ts is the watermark
	kindBarrier            // barrier is the checkpoint barrier
	kindIdle               // the sender's input is idle: ignore its watermark until it is active
	kindActive             // the sender is active again
	kindEnd                // the sender has finished; nothing follows
)

// element is one entry of a batch on a keyed edge: a record, or a watermark, barrier, stream
// status or end marker in order with the records. A record carries what routing it computed
// (route.go), in what would otherwise be the element's padding.
type element[T any] struct {
	v    T
	ts   int64
	kind elemKind
	// keyLen and keyOff locate a record's serialized key in its batch's keys; keyLen 0 means
	// the key is not carried (a word key, or one longer than maxCarriedKey).
	keyLen uint8
	// kg is a record's key group (below keygroup.UpperBoundMaxParallelism, 1<<15).
	kg      uint16
	keyOff  uint32
	barrier *checkpointBarrier // kindBarrier only
}

// maxCarriedKey is the longest serialized key a record carries across a keyed edge; the
// keyed task serializes a longer one again.
const maxCarriedKey = 255

// Batching amortises channel operations (and the select over a subtask's inputs) over many
// records; the channel depth bounds the memory between two subtasks and gives backpressure.
const (
	batchSize = 512
	chanDepth = 4
)

// batch is what a keyed edge's channel carries: elements, and the serialized keys of its
// records, which the elements locate (at most batchSize*maxCarriedKey bytes, so a uint32
// offset suffices). Both are reused once the batch is recycled.
type batch[T any] struct {
	els  []element[T]
	keys []byte
}

// addRecord appends record v of timestamp ts, key group kg and serialized key raw (nil for a
// word key), copying raw into the batch's keys.
func (b *batch[T]) addRecord(v T, ts int64, raw []byte, kg int) {
	el := element[T]{v: v, ts: ts, kind: kindRecord, kg: uint16(kg)}
	if n := len(raw); n > 0 && n <= maxCarriedKey {
		el.keyOff, el.keyLen = uint32(len(b.keys)), uint8(n)
		b.keys = append(b.keys, raw...)
	}
	b.els = append(b.els, el)
}

// key returns the serialized key of el, an element of b, or nil if it carries none. It is
// valid until b is recycled.
func (b *batch[T]) key(el *element[T]) []byte {
	if el.keyLen == 0 {
		return nil
	}
	return b.keys[el.keyOff : el.keyOff+uint32(el.keyLen) : el.keyOff+uint32(el.keyLen)]
}

// edge is a keyed edge: one bounded channel from every upstream subtask to every downstream
// subtask, as Flink's network channels, so a downstream subtask can block one input while it
// aligns barriers.
type edge[T any] struct {
	chans [][]chan batch[T] // [down][up]
	free  chan batch[T]     // recycled batches
}

func (e *edge[T]) connect(up, down int) {
	e.chans = make([][]chan batch[T], down)
	for d := range e.chans {
		e.chans[d] = make([]chan batch[T], up)
		for u := range e.chans[d] {
			e.chans[d][u] = make(chan batch[T], chanDepth)
		}
	}
	e.free = make(chan batch[T], up*down*(chanDepth+2))
}

func (e *edge[T]) newBatch() batch[T] {
	select {
	case b := <-e.free:
		return b
	default:
		return batch[T]{els: make([]element[T], 0, batchSize)}
	}
}

// recycle returns a consumed batch; its records are cleared so that it keeps nothing alive.
func (e *edge[T]) recycle(b batch[T]) {
	clear(b.els)
	select {
	case e.free <- batch[T]{els: b.els[:0], keys: b.keys[:0]}:
	default:
	}
}

// partitioner is the output of an upstream subtask into a keyed edge: it sends each record to
// the subtask owning its key's key group, with that key group and serialized key (route.go),
// and broadcasts watermarks, barriers and status.
type partitioner[K, T any] struct {
	e       *edge[T]
	t       *task
	up      int
	r       *keyRouter[K, T]
	pending []batch[T]
}

func newPartitioner[K, T any](e *edge[T], t *task, key func(T) K, ser serde.Serializer[K]) *partitioner[K, T] {
	down := len(e.chans)
	p := &partitioner[K, T]{e: e, t: t, up: t.index, r: newKeyRouter(key, ser, t.job.maxP),
		pending: make([]batch[T], down)}
	for d := range p.pending {
		p.pending[d] = e.newBatch()
	}
	t.flushers = append(t.flushers, p)
	return p
}

func (p *partitioner[K, T]) collect(v T, ts int64) error {
	raw, kg, err := p.r.keyGroup(v)
	if err != nil {
		return err
	}
	d := keygroup.OperatorIndex(p.r.maxP, len(p.pending), kg)
	p.pending[d].addRecord(v, ts, raw, kg)
	if len(p.pending[d].els) >= batchSize {
		return p.send(d)
	}
	return nil
}

func (p *partitioner[K, T]) watermark(wm int64) error { return p.broadcast(kindWatermark, wm) }

// broadcast appends a control element to every channel and sends every batch.
func (p *partitioner[K, T]) broadcast(kind elemKind, ts int64) error {
	for d := range p.pending {
		p.pending[d].els = append(p.pending[d].els, element[T]{kind: kind, ts: ts})
		if err := p.send(d); err != nil {
			return err
		}
	}
	return nil
}

// broadcastBarrier appends checkpoint barrier b to every channel and sends every batch.
func (p *partitioner[K, T]) broadcastBarrier(b *checkpointBarrier) error {
	for d := range p.pending {
		p.pending[d].els = append(p.pending[d].els, element[T]{kind: kindBarrier, barrier: b})
		if err := p.send(d); err != nil {
			return err
		}
	}
	return nil
}

// flush sends every non-empty batch.
func (p *partitioner[K, T]) flush() error {
	for d := range p.pending {
		if len(p.pending[d].els) > 0 {
			if err := p.send(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *partitioner[K, T]) send(d int) error {
	select {
	case p.e.chans[d][p.up] <- p.pending[d]:
	case <-p.t.job.done:
		return errJobStopped
	}
	p.pending[d] = p.e.newBatch()
	return nil
}

// flusher is the task's view of its partitioners.
type flusher interface {
	flush() error
	// broadcast sends a watermark (ts), a stream status or the end to every downstream subtask.
	broadcast(kind elemKind, ts int64) error
	// broadcastBarrier sends checkpoint barrier b to every downstream subtask.
	broadcastBarrier(b *checkpointBarrier) error
}
