package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/state"
)

// errJobStopped is returned by blocking operations once the job stops; it never reaches the
// user as a failure.
var errJobStopped = errors.New("stream: job stopped")

// controlKind is a message from the coordinator to a subtask.
type controlKind uint8

const (
	ctrlTrigger  controlKind = iota // sources: take the barrier's checkpoint and emit the barrier
	ctrlComplete                    // checkpoint id completed
	ctrlAbort                       // checkpoint id was given up
	ctrlFinish                      // sources: every source has finished and the final checkpoint is done; end the streams
)

type control struct {
	kind controlKind
	id   int64
	// barrier is the checkpoint a ctrlTrigger starts (its id is id).
	barrier *checkpointBarrier
}

// task is one subtask of a vertex: its chain of operators and the goroutine that drives it.
type task struct {
	job         *Job
	v           *vertex
	index       int
	parallelism int
	kgRange     keygroup.Range
	ctrl        chan control
	members     []*member
	flushers    []flusher
	run         func() error
	async       sync.WaitGroup
	// paused is set by a stop-with-savepoint barrier: a source emits nothing after it.
	paused bool
	// watermark is the last watermark a source subtask emitted.
	watermark atomic.Int64
	// exited is closed when run has returned; abandoned when the job ends without waiting
	// for it, its goroutine stuck in a failed state backend (watchdog.go).
	exited      chan struct{}
	abandoned   chan struct{}
	abandonOnce sync.Once
}

func (t *task) String() string { return fmt.Sprintf("%s (%d/%d)", t.v.name, t.index+1, t.parallelism) }

// member is a stateful operator of a task's chain: its keyed state backend (keyed operators
// only), its operator state backend, and the hooks of its function.
type member struct {
	uid      string
	keyed    backend.Keyed
	ops      backend.Operator
	fn       state.CheckpointedFunction // nil if the function keeps no operator state
	listener state.CheckpointListener   // nil if the function does not listen
	endInput func() error               // called when every input has ended; may be nil
	// beforeSnapshot writes what the operator buffers into its state; may be nil. Keyed
	// operators also call it before each watermark.
	beforeSnapshot func() error
	close          func() error // called when the task ends; may be nil
	// clock is the time the keyed backend judges TTL states by (keyed operators only): the
	// job's processing time, and the event time the operator sets before each record, timer
	// and watermark (keyedOp).
	clock *backend.Clock
}

// addMember creates the state backends of a stateful operator of t's chain, restoring them
// from the job's restore checkpoint. keySerializerID is empty for operators without keyed
// state; keyAliases are the key serializer's alias IDs (serde.AliasIDs).
func (t *task) addMember(ctx context.Context, uid, keySerializerID string, keyAliases []string) (*member, error) {
	j := t.job
	m := &member{uid: uid}
	var restored *snapshot.OperatorState
	if j.restore != nil {
		restored = j.restore.Operator(uid)
		j.markRestored(uid)
	}
	var opHandles []*snapshot.OperatorStateHandle
	var keyedHandles []*snapshot.KeyedStateHandle
	if restored != nil {
		opHandles, keyedHandles = restored.Operator, restored.Keyed
	}
	ops, err := j.opts.StateBackend.CreateOperatorBackend(ctx, backend.OperatorOptions{OperatorID: uid, SubtaskIndex: t.index,
		Parallelism: t.parallelism, Restore: opHandles, Reader: j.reader})
	if err != nil {
		return nil, fmt.Errorf("operator %q subtask %d: restore operator state: %w", uid, t.index, err)
	}
	m.ops = ops
	t.members = append(t.members, m) // closed with the task even if the keyed backend fails
	if keySerializerID != "" {
		// Event time starts unknown on a fresh start (nothing expires by event time before the
		// operator's first watermark) and, on a restore, at the watermark the snapshot recorded
		// (the backend restores it: backend.Clock.Restore), so a replay does not see entries
		// the first run had judged expired. Processing time is the job's Clock; with the default (the wall clock) the backend's
		// own default reads it, which may be cheaper per access.
		m.clock = &backend.Clock{}
		if _, wall := j.clock.(wallClock); !wall {
			m.clock.ProcessingTime = j.clock.Now
		}
		kb, err := j.opts.StateBackend.CreateKeyedBackend(ctx, backend.Options{OperatorID: uid, MaxParallelism: j.maxP,
			KeyGroupRange: t.kgRange, KeySerializerID: keySerializerID, KeySerializerAliases: keyAliases, Restore: keyedHandles, Reader: j.reader,
			Clock: m.clock, Claim: j.claim})
		if err != nil {
			return nil, fmt.Errorf("operator %q subtask %d: keyed state backend: %w", uid, t.index, err)
		}
		m.keyed = kb
	}
	return m, nil
}

// initializeFunction gives fn its operator state if it is a CheckpointedFunction (a keyed
// function reaches its keyed state through its RuntimeContext), and remembers fn's listener.
func (m *member) initializeFunction(fn any) error {
	if l, ok := fn.(state.CheckpointListener); ok {
		m.listener = l
	}
	cf, ok := fn.(state.CheckpointedFunction)
	if !ok {
		return nil
	}
	m.fn = cf
	return cf.InitializeState(initContext{m.ops})
}

// initContext is what a CheckpointedFunction's InitializeState gets.
type initContext struct{ ops backend.Operator }

func (c initContext) IsRestored() bool                             { return c.ops.IsRestored() }
func (c initContext) OperatorStateStore() state.OperatorStateStore { return c.ops }

// snapshotContext is what a CheckpointedFunction's SnapshotState gets.
type snapshotContext struct{ id, timestampMs int64 }

func (c snapshotContext) CheckpointID() int64        { return c.id }
func (c snapshotContext) CheckpointTimestamp() int64 { return c.timestampMs }

// memberSnapshot is the asynchronous phase of one member's snapshot.
type memberSnapshot struct {
	uid   string
	keyed backend.AsyncSnapshot
	ops   backend.OperatorAsyncSnapshot
}

func (s *memberSnapshot) release() {
	if s.keyed != nil {
		s.keyed.Release()
	}
	if s.ops != nil {
		s.ops.Release()
	}
}

// snapshot takes b's checkpoint on t's goroutine: the synchronous phase of every member,
// then the barrier downstream, then the asynchronous phase in the background and the ack.
// Everything it needs comes with b. A checkpoint the coordinator has given up already is not
// taken (nothing would be kept and nobody waits for the ack), but its barrier still goes
// downstream; one given up later is safe too (see checkpointBarrier).
func (t *task) snapshot(b *checkpointBarrier, alignment time.Duration) error {
	live := b.live()
	start := time.Now()
	var parts []memberSnapshot
	var syncErr error
	if live {
		parts, syncErr = t.snapshotSync(b)
	}
	syncDur := time.Since(start)
	if live && b.stop {
		t.paused = true
	}
	for _, f := range t.flushers {
		if err := f.broadcastBarrier(b); err != nil {
			for i := range parts {
				parts[i].release()
			}
			return err
		}
	}
	if !live {
		return nil
	}
	if syncErr != nil {
		t.job.coord.ack(taskAck{id: b.id, task: t, err: syncErr})
		return nil
	}
	t.async.Add(1)
	go func() {
		defer t.async.Done()
		t.job.coord.ack(t.snapshotAsync(b, parts, syncDur, alignment))
	}()
	return nil
}

func (t *task) snapshotSync(b *checkpointBarrier) ([]memberSnapshot, error) {
	parts := make([]memberSnapshot, 0, len(t.members))
	for _, m := range t.members {
		p := memberSnapshot{uid: m.uid}
		var err error
		if m.beforeSnapshot != nil {
			err = m.beforeSnapshot()
		}
		if err == nil && m.fn != nil {
			// As in Flink, the function writes what the snapshot must hold (into its operator or
			// keyed state) before either backend's synchronous phase.
			if err = m.fn.SnapshotState(snapshotContext{b.id, b.timestampMs}); err != nil {
				err = fmt.Errorf("the function's SnapshotState: %w", err)
			}
		}
		if err == nil && m.keyed != nil {
			p.keyed, err = m.keyed.Snapshot(b.id, backend.SnapshotOptions{Compression: t.job.opts.Compression, Savepoint: b.savepoint,
				SavepointFormat: b.format, Deadline: b.deadline})
		}
		if err == nil {
			p.ops, err = m.ops.Snapshot(b.id)
		}
		if err != nil {
			p.release()
			for i := range parts {
				parts[i].release()
			}
			return nil, fmt.Errorf("operator %q subtask %d: synchronous phase of checkpoint %d: %w", m.uid, t.index, b.id, err)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func (t *task) snapshotAsync(b *checkpointBarrier, parts []memberSnapshot, syncDur, alignment time.Duration) taskAck {
	start := time.Now()
	a := taskAck{id: b.id, task: t, sync: syncDur, alignment: alignment}
	out := newCountingFactory(b.out)
	for i := range parts {
		p := &parts[i]
		res := memberResult{uid: p.uid}
		if a.err == nil && p.keyed != nil {
			res.keyed, a.err = p.keyed.Run(b.ctx, out)
			p.keyed = nil
		}
		if a.err == nil {
			res.ops, a.err = p.ops.Run(b.ctx, out)
			p.ops = nil
		}
		if a.err != nil {
			a.err = fmt.Errorf("operator %q subtask %d: asynchronous phase of checkpoint %d: %w", p.uid, t.index, b.id, a.err)
			for j := i; j < len(parts); j++ {
				parts[j].release()
			}
			break
		}
		a.results = append(a.results, res)
	}
	a.async = time.Since(start)
	a.bytes = out.bytes.Load()
	return a
}

// handleControl applies a coordinator message that every kind of task understands.
func (t *task) notify(c control) error {
	for _, m := range t.members {
		var err error
		switch c.kind {
		case ctrlComplete:
			if m.keyed != nil {
				err = m.keyed.NotifyCheckpointComplete(c.id)
			}
			if err == nil && m.listener != nil {
				err = m.listener.NotifyCheckpointComplete(c.id)
			}
		case ctrlAbort:
			if m.keyed != nil {
				err = m.keyed.NotifyCheckpointAborted(c.id)
			}
			if err == nil && m.listener != nil {
				err = m.listener.NotifyCheckpointAborted(c.id)
			}
		}
		if err != nil {
			return fmt.Errorf("operator %q subtask %d: checkpoint %d notification: %w", m.uid, t.index, c.id, err)
		}
	}
	return nil
}

// drainNotifications applies the completion and abort notifications still queued, after
// the task's loop has ended.
func (t *task) drainNotifications() error {
	for {
		select {
		case c := <-t.ctrl:
			if c.kind == ctrlComplete || c.kind == ctrlAbort {
				if err := t.notify(c); err != nil {
					return err
				}
			}
		default:
			return nil
		}
	}
}

// endInput tells every member that its input has ended, in chain order, and sends the end
// downstream.
func (t *task) endInput() error {
	for _, m := range t.members {
		if m.endInput != nil {
			if err := m.endInput(); err != nil {
				return fmt.Errorf("operator %q subtask %d: end of input: %w", m.uid, t.index, err)
			}
		}
	}
	return t.broadcast(kindEnd, 0)
}

func (t *task) broadcast(kind elemKind, ts int64) error {
	for _, f := range t.flushers {
		if err := f.broadcast(kind, ts); err != nil {
			return err
		}
	}
	return nil
}

func (t *task) flush() error {
	for _, f := range t.flushers {
		if err := f.flush(); err != nil {
			return err
		}
	}
	return nil
}

// close waits for running asynchronous snapshot phases and releases the members.
func (t *task) close() error {
	t.async.Wait()
	var errs []error
	for _, m := range t.members {
		if m.close != nil {
			errs = append(errs, m.close())
		}
		if m.keyed != nil {
			errs = append(errs, m.keyed.Close())
		}
		errs = append(errs, m.ops.Close())
	}
	return errors.Join(errs...)
}

// inputHandler is the head of a vertex with inputs: it processes records and the combined
// watermark of all inputs.
type inputHandler[T any] interface {
	// processRecord processes record v of timestamp ts, whose serialized key (nil if not
	// carried; valid during the call only) and key group the partitioner that routed it
	// computed as key and kg.
	processRecord(v T, ts int64, key []byte, kg int) error
	processWatermark(wm int64) error
	// processingTime fires due processing-time timers and returns the next one, if any.
	processingTime() (next int64, ok bool, err error)
}

// runInputs is the loop of a subtask with inputs, the driver of its inputGate: it reads
// batches from every input the gate does not block, hands records to h and every other
// element to the gate, and carries out what the gate returns (block an input and hold the
// rest of its batch, snapshot, emit the combined watermark or stream status). Between
// batches it handles the coordinator's messages and processing-time timers; when nothing is
// ready it flushes its outputs. It returns when every input has ended.
func runInputs[T any](t *task, e *edge[T], h inputHandler[T]) error {
	d := newInputDriver(t, e, h)
	defer d.stopTimer()
	for !d.gate.done() {
		if err := d.replayHeld(); err != nil {
			return err
		}
		if d.gate.done() {
			break
		}
		if err := d.step(); err != nil {
			return err
		}
	}
	return t.endInput()
}
