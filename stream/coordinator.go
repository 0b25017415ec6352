package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
)

// CheckpointStats describes one finished checkpoint or savepoint, as Flink's checkpoint
// history: Failed is nil when it completed.
type CheckpointStats struct {
	ID        int64
	Savepoint bool
	// Path is the savepoint's storage (savepoints only).
	Path string
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

// pendingCheckpoint is a triggered checkpoint or savepoint that has not completed yet.
type pendingCheckpoint struct {
	id          int64
	savepoint   bool
	stop        bool // stop-with-savepoint: the job ends once it completes
	final       bool // the checkpoint after every source finished
	timestampMs int64
	started     time.Time
	pending     *checkpoint.Pending
	path        string
	ctx         context.Context
	cancel      context.CancelFunc
	timer       *time.Timer
	acks        map[*task]taskAck
	reply       chan savepointReply
}

// memberResult is one operator's part of a subtask's snapshot.
type memberResult struct {
	uid   string
	keyed *checkpoint.KeyedStateHandle
	ops   *checkpoint.OperatorStateHandle
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

type savepointRequest struct {
	st    checkpoint.Storage
	path  string
	stop  bool
	reply chan savepointReply
}

type savepointReply struct {
	stats CheckpointStats
	err   error
}

// coordinator is Flink's CheckpointCoordinator for one job: it triggers checkpoints at the
// sources, collects every subtask's acknowledgement, writes the metadata, and notifies the
// subtasks of completion or abortion. It runs on its own goroutine.
type coordinator struct {
	job      *Job
	mu       sync.Mutex
	inflight map[int64]*pendingCheckpoint
	acks     chan taskAck
	timeouts chan int64
	requests chan savepointRequest
	finished chan *task
	nextID   int64
	failures int // consecutive failed checkpoints

	lastCompleted atomic.Pointer[CheckpointStats]
	completed     atomic.Int64
	failedTotal   atomic.Int64
}

func newCoordinator(j *Job, nextID int64) *coordinator {
	return &coordinator{job: j, inflight: map[int64]*pendingCheckpoint{}, acks: make(chan taskAck, 64),
		timeouts: make(chan int64, 8), requests: make(chan savepointRequest), finished: make(chan *task, 64), nextID: nextID}
}

// lookup returns the in-flight checkpoint id, or nil if it was given up.
func (c *coordinator) lookup(id int64) *pendingCheckpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[id]
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
	cfg := j.opts.Checkpointing
	var tick <-chan time.Time
	if j.cps != nil && cfg.Interval > 0 {
		ticker := time.NewTicker(cfg.Interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	var lastEnd time.Time
	sourcesLeft := 0
	for _, t := range j.tasks {
		if t.v.upstream == nil {
			sourcesLeft++
		}
	}
	finishing := false // every source finished: take the final checkpoint, then end
	var queued []savepointRequest
	defer func() {
		for _, p := range c.inflight {
			c.abort(p, errJobStopped)
		}
		for _, r := range queued {
			r.reply <- savepointReply{err: errors.New("stream: job stopped before the savepoint was taken")}
		}
	}()
	tryFinish := func() {
		if !finishing || len(c.inflight) > 0 || len(queued) > 0 {
			return
		}
		if j.cps != nil && cfg.Interval > 0 && !j.finalDone {
			c.trigger(triggerRequest{final: true})
			return
		}
		j.finalDone = true
		for _, t := range j.tasks {
			if t.v.upstream == nil {
				t.send(control{kind: ctrlFinish})
			}
		}
		finishing = false
	}
	for {
		select {
		case <-tick:
			if len(c.inflight) < max(cfg.MaxConcurrent, 1) && time.Since(lastEnd) >= cfg.MinPause && !finishing && len(queued) == 0 {
				c.trigger(triggerRequest{})
			}
		case r := <-c.requests:
			queued = append(queued, r)
		case a := <-c.acks:
			p := c.inflight[a.id]
			if p == nil {
				continue // given up: its abort deleted the files
			}
			if a.err != nil {
				c.fail(p, a.err)
				lastEnd = time.Now()
				break
			}
			p.acks[a.task] = a
			if len(p.acks) == len(j.tasks) {
				c.complete(p)
				lastEnd = time.Now()
			}
		case id := <-c.timeouts:
			if p := c.inflight[id]; p != nil {
				c.fail(p, fmt.Errorf("checkpoint %d expired after %v (execution.checkpointing.timeout); %d of %d subtasks acknowledged", id, cfg.Timeout, len(p.acks), len(j.tasks)))
				lastEnd = time.Now()
			}
		case <-c.finished:
			sourcesLeft--
			if sourcesLeft == 0 {
				finishing = true
			}
		case <-j.done:
			return
		}
		if len(queued) > 0 && len(c.inflight) == 0 {
			r := queued[0]
			queued = queued[1:]
			c.trigger(triggerRequest{savepoint: &r})
		}
		tryFinish()
	}
}

type triggerRequest struct {
	savepoint *savepointRequest
	final     bool
}

// trigger starts a checkpoint (or a savepoint) and sends the trigger to every source subtask.
func (c *coordinator) trigger(r triggerRequest) {
	j := c.job
	id := c.nextID
	c.nextID++
	p := &pendingCheckpoint{id: id, final: r.final, timestampMs: time.Now().UnixMilli(), started: time.Now(), acks: map[*task]taskAck{}}
	if sp := r.savepoint; sp != nil {
		p.savepoint, p.stop, p.reply, p.path = true, sp.stop, sp.reply, sp.path
		p.pending = checkpoint.BeginSavepoint(sp.st)
	} else {
		pending, err := j.cps.Begin(id)
		if err != nil {
			c.record(CheckpointStats{ID: id, Failed: err})
			c.countFailure(err)
			return
		}
		p.pending = pending
	}
	p.ctx, p.cancel = context.WithCancel(j.ctx)
	if to := j.opts.Checkpointing.Timeout; to > 0 {
		p.timer = time.AfterFunc(to, func() {
			select {
			case c.timeouts <- id:
			case <-j.done:
			}
		})
	}
	c.mu.Lock()
	c.inflight[id] = p
	c.mu.Unlock()
	for _, t := range j.tasks {
		if t.v.upstream == nil {
			t.send(control{kind: ctrlTrigger, id: id})
		}
	}
}

func (c *coordinator) remove(p *pendingCheckpoint) {
	c.mu.Lock()
	delete(c.inflight, p.id)
	c.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
	}
}

// complete writes the metadata of a checkpoint every subtask acknowledged and notifies them.
func (c *coordinator) complete(p *pendingCheckpoint) {
	j := c.job
	c.remove(p)
	stats := CheckpointStats{ID: p.id, Savepoint: p.savepoint, Path: p.path}
	m := &checkpoint.Metadata{JobID: j.opts.JobID, CheckpointID: p.id, Savepoint: p.savepoint, TimestampMs: p.timestampMs}
	byUID := map[string]*checkpoint.OperatorState{}
	for _, t := range j.tasks {
		a := p.acks[t]
		stats.Sync = max(stats.Sync, a.sync)
		stats.Async = max(stats.Async, a.async)
		stats.Alignment = max(stats.Alignment, a.alignment)
		stats.Bytes += a.bytes
		for _, r := range a.results {
			os := byUID[r.uid]
			if os == nil {
				os = &checkpoint.OperatorState{ID: r.uid, Parallelism: t.parallelism, MaxParallelism: j.maxP}
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
		slices.SortFunc(os.Keyed, func(a, b *checkpoint.KeyedStateHandle) int { return a.KeyGroupRange.Start - b.KeyGroupRange.Start })
		slices.SortFunc(os.Operator, func(a, b *checkpoint.OperatorStateHandle) int { return a.Subtask - b.Subtask })
	}
	for _, f := range m.Files() {
		stats.StateSize += f.Size
	}
	if err := p.pending.Complete(p.ctx, m); err != nil {
		p.cancel()
		c.failed(p, stats, err)
		return
	}
	p.cancel()
	stats.Duration = time.Since(p.started)
	c.failures = 0
	c.completed.Add(1)
	c.lastCompleted.Store(&stats)
	c.record(stats)
	if p.final {
		j.finalDone = true
	}
	for _, t := range j.tasks {
		t.send(control{kind: ctrlComplete, id: p.id})
	}
	if p.reply != nil {
		p.reply <- savepointReply{stats: stats}
	}
	if p.stop {
		j.stopWithSavepoint()
	}
}

// fail gives up checkpoint p because of err.
func (c *coordinator) fail(p *pendingCheckpoint, err error) {
	c.remove(p)
	c.abort(p, err)
	c.failed(p, CheckpointStats{ID: p.id, Savepoint: p.savepoint, Path: p.path}, err)
}

func (c *coordinator) failed(p *pendingCheckpoint, stats CheckpointStats, err error) {
	stats.Failed, stats.Duration = err, time.Since(p.started)
	c.record(stats)
	for _, t := range c.job.tasks {
		t.send(control{kind: ctrlAbort, id: p.id})
	}
	if p.reply != nil {
		p.reply <- savepointReply{stats: stats, err: err}
		return // a failed savepoint does not count against the job
	}
	c.countFailure(err)
}

// abort cancels p's asynchronous phases and deletes its files, those of late acks included.
func (c *coordinator) abort(p *pendingCheckpoint, cause error) {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.pending.Abort(ctx); err != nil {
		c.job.log.Warn("checkpoint abort left files behind; the next start deletes them", "checkpoint", p.id, "cause", cause, "err", err)
	}
}

func (c *coordinator) countFailure(err error) {
	c.failedTotal.Add(1)
	c.failures++
	if c.failures > c.job.opts.Checkpointing.TolerableFailures {
		c.job.fail(fmt.Errorf("stream: %d consecutive failed checkpoints exceed execution.checkpointing.tolerable-failed-checkpoints (%d); last: %w",
			c.failures, c.job.opts.Checkpointing.TolerableFailures, err))
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
