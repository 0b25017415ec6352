package stream

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// coordinatorCore is the checkpoint coordinator's protocol as a pure state machine, after
// etcd/raft's RawNode: it takes events (a clock tick, a subtask's ack or decline, a source
// that finished, a savepoint request, the outcome of the IO it asked for) and returns the
// steps the driver must take, in order. It has no goroutines, reads no clock (time comes in
// with the events) and does no IO: the driver (coordinator) owns the clock, the storage and
// the subtasks' channels, and feeds back what the IO it was asked for did (beginFailed,
// committed, retained). It is not safe for concurrent use.
//
// Its rules are Flink's: a checkpoint is triggered on an interval tick when fewer than
// MaxConcurrent are in flight, MinPause has passed since the last one ended, no savepoint
// waits and the sources have not all finished; a savepoint waits until no checkpoint is in
// flight; a checkpoint completes when every subtask acknowledged it, fails on the first
// decline or at its timeout, and more than TolerableFailures consecutive failed checkpoints
// (savepoints do not count) fail the job; once every source finished, a final checkpoint is
// taken (when periodic checkpoints are on), its retention runs, and the sources are told to
// finish.
type coordinatorCore struct {
	cfg CheckpointConfig
	// periodic says whether checkpoints are taken at all (a checkpoint storage is set and
	// the interval is positive): then ticks trigger and the end of input takes a final one.
	periodic bool
	tasks    int // subtasks that must acknowledge a checkpoint
	sources  int // source subtasks that have not finished

	nextID   int64
	nextTick time.Time
	lastEnd  time.Time // when the last checkpoint ended (min-pause)
	inflight map[int64]*coreCheckpoint
	queued   []*savepointRequest
	failures int // consecutive failed checkpoints

	finishing bool // every source finished: take the final checkpoint, then end
	finalDone bool
	// retaining says a retention the core asked for has not reported back; retainAgain that
	// a checkpoint completed meanwhile, so it must run once more.
	retaining, retainAgain bool
	stopped                bool
}

// coreCheckpoint is the core's view of a checkpoint or savepoint in flight.
type coreCheckpoint struct {
	id        int64
	savepoint *savepointRequest // nil for a periodic or final checkpoint; else a request (savepoint or checkpoint)
	final     bool
	started   time.Time
	deadline  time.Time // zero: no timeout
	acked     map[int]bool
	// committing: every subtask acknowledged and the driver is writing the metadata.
	committing bool
}

// coordAction is one step the driver must take. Exactly one group of fields is meaningful,
// chosen by kind.
type coordAction struct {
	kind coordActionKind
	id   int64
	// actTrigger: the savepoint to take (nil for a checkpoint), whether it is the final
	// checkpoint, the trigger time, and when the checkpoint expires (zero: never), which
	// its barrier carries to the subtasks.
	savepoint *savepointRequest
	final     bool
	started   time.Time
	deadline  time.Time
	// actRecord: the outcome (err nil when it completed) and the time from the trigger.
	// actAbortFiles, actRecord, actFailJob: the cause.
	err      error
	duration time.Duration
}

type coordActionKind uint8

const (
	// actTrigger: begin the snapshot (on Begin's failure call beginFailed) and send the
	// trigger to every source subtask.
	actTrigger coordActionKind = iota + 1
	// actCommit: every subtask acknowledged; write the metadata and call committed.
	actCommit
	// actAbortFiles: the checkpoint is given up: cancel its asynchronous phases and delete
	// its files.
	actAbortFiles
	// actRecord: report the finished checkpoint (stats, metrics, OnCheckpoint).
	actRecord
	// actNotifyComplete and actNotifyAbort: tell every subtask.
	actNotifyComplete
	actNotifyAbort
	// actReply: answer the savepoint's requester with the outcome.
	actReply
	// actStopJob: the stop-with-savepoint completed; the job ends.
	actStopJob
	// actFailJob: too many consecutive checkpoints failed.
	actFailJob
	// actRetain: run checkpoint retention off the event loop, then call retained.
	actRetain
	// actFinish: tell every source subtask to finish.
	actFinish
	// actRejectSavepoint: the job stopped before the queued savepoint was taken.
	actRejectSavepoint
)

var errSavepointNotTaken = errors.New("stream: job stopped before the savepoint was taken")

// newCoordinatorCore starts a core at now. tasks is the number of subtasks, sources the
// number of source subtasks, nextID the first checkpoint id; periodic says whether
// checkpoints are taken (a checkpoint storage is set and cfg.Interval > 0).
func newCoordinatorCore(cfg CheckpointConfig, periodic bool, tasks, sources int, nextID int64, now time.Time) *coordinatorCore {
	c := &coordinatorCore{cfg: cfg, periodic: periodic, tasks: tasks, sources: sources, nextID: nextID, inflight: map[int64]*coreCheckpoint{}}
	if periodic {
		c.nextTick = now.Add(cfg.Interval)
	}
	return c
}

// nextWakeup is when the driver must call tick next: the next interval tick or the earliest
// checkpoint deadline, whichever comes first. ok is false when no time-driven event is due.
func (c *coordinatorCore) nextWakeup() (t time.Time, ok bool) {
	if c.periodic {
		t, ok = c.nextTick, true
	}
	for _, p := range c.inflight {
		if !p.deadline.IsZero() && !p.committing && (!ok || p.deadline.Before(t)) {
			t, ok = p.deadline, true
		}
	}
	return t, ok
}

// tick advances time to now: checkpoints past their deadline expire, and on an interval
// tick a checkpoint is triggered if the rules allow one.
func (c *coordinatorCore) tick(now time.Time) []coordAction {
	var out []coordAction
	for _, id := range c.sortedInflight() {
		p := c.inflight[id]
		if !p.committing && !p.deadline.IsZero() && !now.Before(p.deadline) {
			out = c.fail(out, p, now, fmt.Errorf("checkpoint %d expired after %v (execution.checkpointing.timeout); %d of %d subtasks acknowledged",
				id, c.cfg.Timeout, len(p.acked), c.tasks))
			c.lastEnd = now
		}
	}
	if c.periodic && !now.Before(c.nextTick) {
		// Like a time.Ticker, ticks missed while the driver was busy are dropped.
		for !now.Before(c.nextTick) {
			c.nextTick = c.nextTick.Add(c.cfg.Interval)
		}
		if len(c.inflight) < max(c.cfg.MaxConcurrent, 1) && now.Sub(c.lastEnd) >= c.cfg.MinPause && !c.finishing && len(c.queued) == 0 {
			out = c.trigger(out, nil, false, now)
		}
	}
	return c.advance(out, now)
}

// requestSavepoint queues a savepoint, or a checkpoint when r.checkpoint is set; it is taken
// once no checkpoint is in flight.
func (c *coordinatorCore) requestSavepoint(r *savepointRequest, now time.Time) []coordAction {
	c.queued = append(c.queued, r)
	return c.advance(nil, now)
}

// ack records that subtask acknowledged checkpoint id; the last ack asks for the commit.
// Acks of checkpoints given up are ignored (their abort deleted the files).
func (c *coordinatorCore) ack(id int64, subtask int, now time.Time) []coordAction {
	p := c.inflight[id]
	if p == nil || p.committing {
		return c.advance(nil, now)
	}
	p.acked[subtask] = true
	if len(p.acked) < c.tasks {
		return c.advance(nil, now)
	}
	p.committing = true
	return []coordAction{{kind: actCommit, id: id}}
}

// decline fails checkpoint id because subtask could not take its snapshot.
func (c *coordinatorCore) decline(id int64, err error, now time.Time) []coordAction {
	p := c.inflight[id]
	if p == nil || p.committing {
		return c.advance(nil, now)
	}
	out := c.fail(nil, p, now, err)
	c.lastEnd = now
	return c.advance(out, now)
}

// sourceFinished records that a source subtask emitted all its records.
func (c *coordinatorCore) sourceFinished(now time.Time) []coordAction {
	c.sources--
	if c.sources == 0 {
		c.finishing = true
	}
	return c.advance(nil, now)
}

// beginFailed reports that the snapshot of an actTrigger could not begin.
func (c *coordinatorCore) beginFailed(id int64, err error, now time.Time) []coordAction {
	p := c.inflight[id]
	if p == nil {
		return nil
	}
	delete(c.inflight, id)
	out := []coordAction{{kind: actRecord, id: id, err: err, duration: now.Sub(p.started)}}
	if p.savepoint != nil { // a requested checkpoint: answered, not counted
		return append(out, coordAction{kind: actReply, id: id, err: err})
	}
	// Like a trigger that failed at once, it neither moves the min-pause nor re-runs the
	// end-of-event rules: a storage that refuses every Begin is retried on the next event.
	return c.countFailure(out, err)
}

// committed reports the outcome of an actCommit: err is nil when the metadata is durable.
func (c *coordinatorCore) committed(id int64, err error, now time.Time) []coordAction {
	p := c.inflight[id]
	if p == nil || !p.committing {
		return nil
	}
	delete(c.inflight, id)
	c.lastEnd = now
	record := coordAction{kind: actRecord, id: id, err: err, duration: now.Sub(p.started)}
	if err != nil {
		return c.advance(c.failed([]coordAction{record}, p, err), now)
	}
	var out []coordAction
	if !p.savepoint.isSavepoint() {
		// The metadata is durable: only now may older checkpoints go.
		out = c.retain(out)
	}
	out = append(out, record)
	c.failures = 0
	if p.final {
		c.finalDone = true
	}
	out = append(out, coordAction{kind: actNotifyComplete, id: id})
	if p.savepoint != nil {
		out = append(out, coordAction{kind: actReply, id: id})
		if p.savepoint.stop {
			out = append(out, coordAction{kind: actStopJob, id: id})
		}
	}
	return c.advance(out, now)
}

// retained reports that an actRetain finished.
func (c *coordinatorCore) retained(now time.Time) []coordAction {
	c.retaining = false
	var out []coordAction
	if c.retainAgain {
		c.retainAgain = false
		out = c.retain(out)
	}
	return c.advance(out, now)
}

// stop ends the core when the job stops: the checkpoints in flight are aborted (without
// records or notifications: the subtasks are gone) and the queued savepoints refused. A
// retention still owed to a checkpoint that completed while another ran is asked for: the
// driver drains it before the job's Wait returns, so the checkpoints beyond the retained
// number are gone then, as when retention ran inline.
func (c *coordinatorCore) stop() []coordAction {
	var out []coordAction
	if c.retainAgain {
		c.retainAgain = false
		out = append(out, coordAction{kind: actRetain})
	}
	for _, id := range c.sortedInflight() {
		if !c.inflight[id].committing {
			out = append(out, coordAction{kind: actAbortFiles, id: id, err: errJobStopped})
		}
		delete(c.inflight, id)
	}
	for _, r := range c.queued {
		out = append(out, coordAction{kind: actRejectSavepoint, savepoint: r, err: errSavepointNotTaken})
	}
	c.queued, c.stopped = nil, true
	return out
}

func (c *coordinatorCore) retain(out []coordAction) []coordAction {
	if c.retaining {
		c.retainAgain = true
		return out
	}
	c.retaining = true
	return append(out, coordAction{kind: actRetain})
}

func (c *coordinatorCore) trigger(out []coordAction, sp *savepointRequest, final bool, now time.Time) []coordAction {
	id := c.nextID
	c.nextID++
	p := &coreCheckpoint{id: id, savepoint: sp, final: final, started: now, acked: map[int]bool{}}
	if c.cfg.Timeout > 0 {
		p.deadline = now.Add(c.cfg.Timeout)
	}
	c.inflight[id] = p
	return append(out, coordAction{kind: actTrigger, id: id, savepoint: sp, final: final, started: now, deadline: p.deadline})
}

// fail gives up p (a decline or its timeout): its files go, then it is reported.
func (c *coordinatorCore) fail(out []coordAction, p *coreCheckpoint, now time.Time, err error) []coordAction {
	delete(c.inflight, p.id)
	out = append(out, coordAction{kind: actAbortFiles, id: p.id, err: err},
		coordAction{kind: actRecord, id: p.id, err: err, duration: now.Sub(p.started)})
	return c.failed(out, p, err)
}

// failed tells the subtasks that p failed and answers or counts it.
func (c *coordinatorCore) failed(out []coordAction, p *coreCheckpoint, err error) []coordAction {
	out = append(out, coordAction{kind: actNotifyAbort, id: p.id})
	if p.savepoint != nil {
		// A failed savepoint or requested checkpoint is answered, not counted.
		return append(out, coordAction{kind: actReply, id: p.id, err: err})
	}
	return c.countFailure(out, err)
}

func (c *coordinatorCore) countFailure(out []coordAction, err error) []coordAction {
	c.failures++
	if c.failures > c.cfg.TolerableFailures {
		out = append(out, coordAction{kind: actFailJob, err: fmt.Errorf("stream: %d consecutive failed checkpoints exceed execution.checkpointing.tolerable-failed-checkpoints (%d); last: %w",
			c.failures, c.cfg.TolerableFailures, err)})
	}
	return out
}

// advance applies the rules checked after every event: a queued savepoint starts once no
// checkpoint is in flight, and once every source finished the final checkpoint is taken,
// its retention awaited, and the sources told to finish.
func (c *coordinatorCore) advance(out []coordAction, now time.Time) []coordAction {
	if c.stopped {
		return out
	}
	if len(c.queued) > 0 && len(c.inflight) == 0 {
		r := c.queued[0]
		c.queued = c.queued[1:]
		out = c.trigger(out, r, false, now)
	}
	if !c.finishing || len(c.inflight) > 0 || len(c.queued) > 0 {
		return out
	}
	if c.periodic && !c.finalDone {
		return c.trigger(out, nil, true, now)
	}
	if c.retaining {
		return out // the sources finish once the final checkpoint's retention has run
	}
	c.finalDone, c.finishing = true, false
	return append(out, coordAction{kind: actFinish})
}

func (c *coordinatorCore) sortedInflight() []int64 {
	ids := make([]int64, 0, len(c.inflight))
	for id := range c.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
