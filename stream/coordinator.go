package stream

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// CheckpointStats describes one finished checkpoint or savepoint, as Flink's checkpoint
// history: Failed is nil when it completed.
type CheckpointStats struct {
	ID        int64
	Savepoint bool
	// Path is the savepoint's storage (savepoints only).
	Path string
	// SavepointFormat is the format a savepoint was asked in (savepoints only; canonical
	// otherwise): Job.TriggerSavepointFormat.
	SavepointFormat backend.SavepointFormatType
	// Duration is from the trigger to the metadata being written.
	Duration time.Duration
	// Sync and Async are the longest synchronous and asynchronous phases of any subtask;
	// Alignment the longest barrier alignment.
	Sync, Async, Alignment time.Duration
	// Bytes is what this checkpoint wrote (for incremental checkpoints, only the new files).
	Bytes int64
	// StateSize is the size of every file the checkpoint references, shared files included.
	StateSize int64
	Failed    error
}

// pendingCheckpoint is the driver's side of a triggered checkpoint or savepoint that has not
// completed yet: the barrier its subtasks snapshot for, the snapshot being written, and the
// acks and stats the metadata is built from. Only the coordinator's goroutine touches it.
type pendingCheckpoint struct {
	barrier *checkpointBarrier
	started time.Time
	pending *checkpoint.Pending
	path    string
	cancel  context.CancelFunc // cancels barrier.ctx
	acks    map[*task]taskAck
	reply   chan savepointReply
	stats   CheckpointStats // filled when it is committed, then recorded
}

// memberResult is one operator's part of a subtask's snapshot.
type memberResult struct {
	uid   string
	keyed *snapshot.KeyedStateHandle
	ops   *snapshot.OperatorStateHandle
}

// taskAck is a subtask's acknowledgement (or decline, when err is set) of a checkpoint.
type taskAck struct {
	id                     int64
	task                   *task
	results                []memberResult
	sync, async, alignment time.Duration
	bytes                  int64
	err                    error
}

// savepointRequest asks for a savepoint into st, or, with checkpoint set, for a checkpoint
// into the job's checkpoints (Job.TriggerCheckpoint): both are queued until no checkpoint is in
// flight and answered on reply.
type savepointRequest struct {
	st         checkpoint.Storage
	path       string
	stop       bool
	checkpoint bool
	format     backend.SavepointFormatType // of a savepoint
	reply      chan savepointReply
}

// isSavepoint says whether r asks for a savepoint (r nil: a periodic or final checkpoint).
func (r *savepointRequest) isSavepoint() bool { return r != nil && !r.checkpoint }

type savepointReply struct {
	stats CheckpointStats
	err   error
}

// coordinator is Flink's CheckpointCoordinator for one job: the driver of coordinatorCore.
// It runs on its own goroutine (run), owns the clock (one timer set to the core's next
// wakeup), the checkpoint storage and the subtasks' control channels, feeds the core every
// event and does what the core returns. Writing a checkpoint's metadata and deleting the
// files of a given-up one happen on its goroutine; retention (listing, reading and deleting
// old checkpoints) runs on a worker goroutine of its own, so a slow store never delays the
// next trigger or an ack.
type coordinator struct {
	job      *Job
	acks     chan taskAck
	requests chan savepointRequest
	finished chan *task
	nextID   int64
	// now is the driver's clock; the core is only ever given the times it returns.
	now func() time.Time

	// Run goroutine only.
	core    *coordinatorCore
	entries map[int64]*pendingCheckpoint // every checkpoint the core has not forgotten
	subtask map[*task]int

	retainReq  chan struct{} // to the retention worker; the core keeps at most one outstanding
	retainDone chan struct{}
	// exited is closed when run has returned and the retention it asked for has run (or
	// retentionDrain passed): the job's Wait returns only then.
	exited chan struct{}

	lastCompleted atomic.Pointer[CheckpointStats]
	completed     atomic.Int64
	failedTotal   atomic.Int64
}

func newCoordinator(j *Job, nextID int64) *coordinator {
	return &coordinator{job: j, acks: make(chan taskAck, 64),
		requests: make(chan savepointRequest), finished: make(chan *task, 64), nextID: nextID, now: time.Now,
		entries: map[int64]*pendingCheckpoint{}, retainReq: make(chan struct{}, 1), retainDone: make(chan struct{}), exited: make(chan struct{})}
}

func (c *coordinator) ack(a taskAck) {
	select {
	case c.acks <- a:
	case <-c.job.done:
	}
}

// sourceFinished reports that a source subtask has emitted all its records.
func (c *coordinator) sourceFinished(t *task) {
	select {
	case c.finished <- t:
	case <-c.job.done:
	}
}

func (c *coordinator) run() {
	j := c.job
	sources := 0
	c.subtask = make(map[*task]int, len(j.tasks))
	for i, t := range j.tasks {
		c.subtask[t] = i
		if t.v.upstream == nil {
			sources++
		}
	}
	cfg := j.opts.Checkpointing
	c.core = newCoordinatorCore(cfg, j.cps != nil && cfg.Interval > 0, len(j.tasks), sources, c.nextID, c.now())
	// Retention outlives the job's context by at most retentionDrain: a checkpoint reported
	// complete has had its retention when Wait returns, as when it ran inline.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(j.ctx))
	retainerDone := make(chan struct{})
	if j.cps != nil {
		go c.retainer(rctx, retainerDone)
	} else {
		close(retainerDone)
	}
	timer := time.NewTimer(time.Hour)
	defer func() {
		timer.Stop()
		c.apply(c.core.stop())
		close(c.retainReq)
		drain := time.NewTimer(retentionDrain)
		select {
		case <-retainerDone:
		case <-drain.C:
			j.log.Warn("checkpoint retention still running when the job stopped; cancelling it", "waited", retentionDrain)
		}
		drain.Stop()
		rcancel()
		close(c.exited)
	}()
	for {
		if t, ok := c.core.nextWakeup(); ok {
			timer.Reset(t.Sub(c.now()))
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
			c.apply(c.core.tick(c.now()))
		case r := <-c.requests:
			c.apply(c.core.requestSavepoint(&r, c.now()))
		case a := <-c.acks:
			p := c.entries[a.id]
			switch {
			case p == nil:
				// given up: its abort deleted the files
			case a.err != nil:
				c.apply(c.core.decline(a.id, a.err, c.now()))
			default:
				p.acks[a.task] = a
				c.apply(c.core.ack(a.id, c.subtask[a.task], c.now()))
			}
		case <-c.finished:
			c.apply(c.core.sourceFinished(c.now()))
		case <-c.retainDone:
			c.apply(c.core.retained(c.now()))
		case <-j.done:
			return
		}
	}
}

// retentionDrain bounds how long a stopping job waits for the retention in progress.
const retentionDrain = time.Minute

// retainer runs checkpoint retention off the event loop, once per request, until run ends and
// the requests left are done.
func (c *coordinator) retainer(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	j := c.job
	for range c.retainReq {
		if err := j.cps.Retain(ctx); err != nil {
			j.log.Warn("checkpoint retention cleanup failed; it is retried after the next checkpoint", "error", err)
		}
		select {
		case c.retainDone <- struct{}{}:
		case <-j.done: // run is stopping; it drains retainReq
		}
	}
}

// apply does what the core asked, in order.
func (c *coordinator) apply(acts []coordAction) {
	j := c.job
	var recorded []int64
	for _, a := range acts {
		p := c.entries[a.id]
		switch a.kind {
		case actTrigger:
			c.trigger(a)
		case actCommit:
			m, stats := c.metadata(p)
			err := p.pending.CommitMetadata(p.barrier.ctx, m)
			p.cancel()
			p.stats = stats
			c.apply(c.core.committed(a.id, err, c.now()))
		case actAbortFiles:
			c.abort(p, a.err)
		case actRecord:
			if p == nil { // its Begin failed
				p = &pendingCheckpoint{barrier: &checkpointBarrier{id: a.id}}
			}
			p.stats.ID, p.stats.Savepoint, p.stats.Path, p.stats.SavepointFormat = a.id, p.barrier.savepoint, p.path, p.barrier.format
			p.stats.Failed, p.stats.Duration = a.err, a.duration
			if a.err == nil {
				c.completed.Add(1)
				s := p.stats
				c.lastCompleted.Store(&s)
			} else if !p.barrier.savepoint {
				c.failedTotal.Add(1)
			}
			c.record(p.stats)
			recorded = append(recorded, a.id)
		case actNotifyComplete, actNotifyAbort:
			kind := ctrlComplete
			if a.kind == actNotifyAbort {
				kind = ctrlAbort
			}
			for _, t := range j.tasks {
				t.send(control{kind: kind, id: a.id})
			}
		case actReply:
			p.reply <- savepointReply{stats: p.stats, err: a.err}
		case actStopJob:
			j.stopWithSavepoint()
		case actFailJob:
			j.fail(a.err)
		case actRetain:
			c.retainReq <- struct{}{}
		case actFinish:
			for _, t := range j.tasks {
				if t.v.upstream == nil {
					t.send(control{kind: ctrlFinish})
				}
			}
		case actRejectSavepoint:
			a.savepoint.reply <- savepointReply{err: a.err}
		}
	}
	for _, id := range recorded {
		delete(c.entries, id)
	}
}

// trigger begins the snapshot of an actTrigger and sends its barrier to every source subtask.
func (c *coordinator) trigger(a coordAction) {
	j := c.job
	b := &checkpointBarrier{id: a.id, timestampMs: a.started.UnixMilli(), deadline: a.deadline}
	p := &pendingCheckpoint{barrier: b, started: a.started, acks: map[*task]taskAck{}}
	if sp := a.savepoint; sp != nil {
		p.reply = sp.reply
	}
	if sp := a.savepoint; sp.isSavepoint() {
		b.savepoint, b.stop, b.format, p.path = true, sp.stop, sp.format, sp.path
		p.pending = checkpoint.BeginSavepoint(sp.st)
	} else {
		pending, err := j.cps.Begin(a.id)
		if err != nil {
			c.entries[a.id] = p // for the reply to a requested checkpoint
			c.apply(c.core.beginFailed(a.id, err, a.started))
			return
		}
		p.pending = pending
	}
	b.out = p.pending
	b.ctx, p.cancel = context.WithCancel(j.ctx)
	c.entries[a.id] = p
	for _, t := range j.tasks {
		if t.v.upstream == nil {
			t.send(control{kind: ctrlTrigger, id: a.id, barrier: b})
		}
	}
}

// metadata builds the metadata of a checkpoint every subtask acknowledged, and its stats.
func (c *coordinator) metadata(p *pendingCheckpoint) (*snapshot.Metadata, CheckpointStats) {
	j := c.job
	b := p.barrier
	stats := CheckpointStats{ID: b.id, Savepoint: b.savepoint, Path: p.path, SavepointFormat: b.format}
	m := &snapshot.Metadata{JobID: j.opts.JobID, CheckpointID: b.id, Savepoint: b.savepoint, TimestampMs: b.timestampMs}
	byUID := map[string]*snapshot.OperatorState{}
	for _, t := range j.tasks {
		a := p.acks[t]
		stats.Sync = max(stats.Sync, a.sync)
		stats.Async = max(stats.Async, a.async)
		stats.Alignment = max(stats.Alignment, a.alignment)
		stats.Bytes += a.bytes
		for _, r := range a.results {
			os := byUID[r.uid]
			if os == nil {
				os = &snapshot.OperatorState{ID: r.uid, Parallelism: t.parallelism, MaxParallelism: j.maxP}
				byUID[r.uid] = os
				m.Operators = append(m.Operators, os)
			}
			if r.keyed != nil {
				os.Keyed = append(os.Keyed, r.keyed)
			}
			if r.ops != nil {
				os.Operator = append(os.Operator, r.ops)
			}
		}
	}
	for _, os := range m.Operators {
		slices.SortFunc(os.Keyed, func(a, b *snapshot.KeyedStateHandle) int { return a.KeyGroupRange.Start - b.KeyGroupRange.Start })
		slices.SortFunc(os.Operator, func(a, b *snapshot.OperatorStateHandle) int { return a.Subtask - b.Subtask })
	}
	for _, f := range m.Files() {
		stats.StateSize += f.Size
	}
	return m, stats
}

// abort cancels p's asynchronous phases and deletes its files, those of late acks included.
func (c *coordinator) abort(p *pendingCheckpoint, cause error) {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.pending.Abort(ctx); err != nil {
		c.job.log.Warn("checkpoint abort left files behind; the next start deletes them", "checkpoint", p.barrier.id, "cause", cause, "err", err)
	}
}

func (c *coordinator) record(s CheckpointStats) {
	if s.Failed != nil {
		c.job.log.Warn("checkpoint failed", "checkpoint", s.ID, "savepoint", s.Savepoint, "err", s.Failed)
	}
	if c.job.metrics != nil {
		c.job.metrics.checkpoint(s)
	}
	if f := c.job.opts.OnCheckpoint; f != nil {
		f(s)
	}
}
