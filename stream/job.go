package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// CheckpointConfig is Flink's execution.checkpointing.* settings.
type CheckpointConfig struct {
	// Interval between checkpoints (execution.checkpointing.interval). 0 disables periodic
	// checkpoints; savepoints can still be taken.
	Interval time.Duration
	// Timeout after which a checkpoint is given up (execution.checkpointing.timeout).
	// Default: 10 minutes.
	Timeout time.Duration
	// MinPause between the end of one checkpoint and the start of the next
	// (execution.checkpointing.min-pause). Default: 0.
	MinPause time.Duration
	// MaxConcurrent checkpoints in flight (execution.checkpointing.max-concurrent-checkpoints).
	// Default: 1.
	MaxConcurrent int
	// TolerableFailures is how many consecutive checkpoints may fail before the job fails
	// (execution.checkpointing.tolerable-failed-checkpoints). Default: 0.
	TolerableFailures int
}

// Restore says where a job's state comes from: nothing (a fresh start), the latest complete
// checkpoint of Options.Checkpoints (falling back past corrupt ones), or a given checkpoint or
// savepoint.
type Restore struct {
	// Latest restores the latest readable complete checkpoint of Options.Checkpoints. If the
	// job has no complete checkpoint it starts fresh. If it has some but none can be read,
	// Execute fails with an error wrapping checkpoint.ErrNoReadableCheckpoint that names each
	// checkpoint and why, unless FreshIfUnreadable is set.
	Latest bool
	// FreshIfUnreadable, with Latest, starts the job fresh when all of its complete
	// checkpoints are unreadable, instead of failing (a warning names them). The start does
	// not touch them, but they are the job's oldest checkpoints: retention deletes them once
	// the fresh run has completed checkpoint.Options.NumRetained checkpoints of its own; copy
	// them first to examine them. A fresh start still refuses to write into a file sink directory
	// that holds output published by earlier runs. Default: false.
	FreshIfUnreadable bool
	// Metadata and Reader restore a given checkpoint or savepoint.
	Metadata *snapshot.Metadata
	Reader   snapshot.Reader
	// Claim restores Metadata in Flink's claim mode (execution.state-recovery.claim-mode:
	// CLAIM): the job's checkpoints may reference the snapshot's files, so the first
	// incremental checkpoint uploads only what changed since (backend.Options.Claim). Metadata
	// and Reader must then be what Options.Checkpoints' ClaimCheckpoint or ClaimSavepoint
	// returned: they rewrite the shared files' paths relative to the job's directory, and the
	// snapshot is deleted once the job's checkpoints subsume it. When false (NO_CLAIM, Flink 2's default)
	// the snapshot is never modified or deleted, and the first checkpoint after the restore
	// holds everything itself. A resume from the job's own checkpoints (Latest) always reuses
	// their files, as Flink's failover does: the job owns them. Default: false.
	Claim bool
	// AllowNonRestoredState lets a job start although the snapshot holds state of an operator
	// the job does not have (Flink's --allowNonRestoredState).
	AllowNonRestoredState bool
}

// Options configures a job run.
type Options struct {
	// JobID names the job in checkpoint paths and metadata. Default: "job".
	JobID string
	// Parallelism of every operator without its own. Default: 1.
	Parallelism int
	// MaxParallelism is the number of key groups, fixed for the life of the job's state.
	// Default: keygroup.DefaultMaxParallelism(Parallelism), or the restored state's.
	MaxParallelism int
	// StateBackend creates the keyed and operator state backends of the subtasks: Flink's
	// state backend, e.g. &heap.StateBackend{} or an lsm.StateBackend. Required: the runtime
	// never picks one (config.Build makes it from state.backend.type). The caller owns it and
	// closes it after the job ended.
	StateBackend backend.StateBackend
	// Checkpoints is where checkpoints go; nil disables checkpointing.
	Checkpoints   *checkpoint.Checkpoints
	Checkpointing CheckpointConfig
	// Compression of full snapshots' key-group blocks.
	Compression snapshot.Compression
	Restore     Restore
	// Clock gives processing time: of processing-time timers, and of processing-time TTL
	// states (each keyed operator's backend.Clock reads it). Default: the wall clock.
	Clock Clock
	// AutoWatermarkInterval is how often sources emit watermarks, in processing time
	// (pipeline.auto-watermark-interval). Default: 200 ms.
	AutoWatermarkInterval time.Duration
	// OnCheckpoint, if set, is called on the coordinator's goroutine after every checkpoint
	// or savepoint, completed or failed. It must not block.
	OnCheckpoint func(CheckpointStats)
	// Metrics, if set, receives the job's metrics.
	Metrics *Metrics
	// Logger receives warnings. Default: discard.
	Logger *slog.Logger
}

// wallClock is the default Clock.
type wallClock struct{}

func (wallClock) Now() int64 { return time.Now().UnixMilli() }

// Job is a running job.
type Job struct {
	g       *Graph
	opts    Options
	parent  context.Context // Execute's
	ctx     context.Context // cancelled when the job has ended
	cancel  context.CancelFunc
	maxP    int
	cps     *checkpoint.Checkpoints
	clock   Clock
	log     *slog.Logger
	metrics *Metrics
	tasks   []*task
	coord   *coordinator

	restore     *snapshot.Metadata
	reader      snapshot.Reader
	claim       bool // backend.Options.Claim for the restore's keyed backends
	restoredMu  sync.Mutex
	restoredUID map[string]bool

	done     chan struct{} // closed when the job stops, for any reason
	doneOnce sync.Once
	errMu    sync.Mutex
	err      error
	stopped  bool // by a stop-with-savepoint
	finished chan struct{}
	records  atomic.Int64 // emitted by all sources
	// runID tells this run's files from those of earlier runs of the job (file sink).
	runID string
	// stuckGrace is stuckTaskGrace (watchdog.go); tests shorten it before a backend fails.
	stuckGrace time.Duration
}

func (j *Job) countRecords(t *task, n int64) {
	j.records.Add(n)
	if j.metrics != nil {
		j.metrics.records.WithLabelValues(t.v.name, strconv.Itoa(t.index)).Add(float64(n))
	}
}

// Watermark returns the event-time watermark of the job's sources: the least over their
// subtasks (MinWatermark before the first).
func (j *Job) Watermark() int64 {
	wm := int64(MaxWatermark)
	for _, t := range j.tasks {
		if t.v.upstream == nil {
			wm = min(wm, t.watermark.Load())
		}
	}
	return wm
}

// Records returns the number of records the job's sources have emitted in this run.
func (j *Job) Records() int64 { return j.records.Load() }

// Execute starts g with opts and returns the running job; Wait waits for its end. On a
// restore that meets a corrupt or missing checkpoint file it falls back to the previous
// retained checkpoint (Restore.Latest); when none is left it fails with an error wrapping
// checkpoint.ErrNoReadableCheckpoint (see Restore.FreshIfUnreadable).
func Execute(ctx context.Context, g *Graph, opts Options) (*Job, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	j := &Job{g: g, opts: opts, cps: opts.Checkpoints, clock: opts.Clock, log: opts.Logger, metrics: opts.Metrics,
		done: make(chan struct{}), finished: make(chan struct{}), runID: fmt.Sprintf("%08x", rand.Uint32()),
		stuckGrace: stuckTaskGrace}
	j.parent = ctx
	j.ctx, j.cancel = context.WithCancel(ctx)
	var err error
	switch r := opts.Restore; {
	case r.Metadata != nil:
		j.claim = r.Claim
		err = j.instantiate(r.Metadata, r.Reader)
	case r.Latest && j.cps != nil:
		j.claim = true // the job's own checkpoints: their files are the job's to reuse
		_, err = j.cps.Restore(ctx, func(m *snapshot.Metadata) error { return j.instantiate(m, j.cps.RestoreReader(m)) })
		switch {
		case errors.Is(err, checkpoint.ErrNoCheckpoint):
			err = j.instantiate(nil, nil)
		case errors.Is(err, checkpoint.ErrNoReadableCheckpoint) && r.FreshIfUnreadable:
			j.log.Warn("starting fresh as asked: no checkpoint of the job can be read", "job", opts.JobID, "error", err)
			err = j.instantiate(nil, nil)
		case errors.Is(err, checkpoint.ErrNoReadableCheckpoint):
			err = fmt.Errorf("stream: job %s cannot resume, and does not start fresh unless asked to (Restore.FreshIfUnreadable, --fresh-if-unreadable): %w", opts.JobID, err)
		}
	default:
		err = j.instantiate(nil, nil)
	}
	if err != nil {
		j.closeTasks() // those of the last attempt: their backends may hold files and memory
		j.cancel()
		return nil, err
	}
	nextID := int64(1)
	if j.restore != nil {
		nextID = j.restore.CheckpointID + 1
	}
	if j.cps != nil {
		n, err := j.cps.NextID(ctx)
		if err != nil {
			j.closeTasks()
			j.cancel()
			return nil, err
		}
		nextID = max(nextID, n)
	}
	j.coord = newCoordinator(j, nextID)
	j.start()
	return j, nil
}

func (o *Options) setDefaults() error {
	if o.JobID == "" {
		o.JobID = "job"
	}
	if o.Parallelism == 0 {
		o.Parallelism = 1
	}
	if o.Parallelism < 1 || o.Parallelism > keygroup.UpperBoundMaxParallelism {
		return fmt.Errorf("stream: parallelism %d is outside [1, %d]", o.Parallelism, keygroup.UpperBoundMaxParallelism)
	}
	var errs []error
	if o.StateBackend == nil {
		errs = append(errs, errors.New("stream: Options.StateBackend is not set; give the job a state backend, e.g. &heap.StateBackend{} (package backend/heap), or build the options from a configuration with config.Build"))
	}
	if o.Restore.Latest && o.Checkpoints == nil {
		errs = append(errs, errors.New("stream: Restore.Latest is set but Options.Checkpoints is nil: there is nothing to resume from; give the job its checkpoints or do not ask to resume"))
	}
	if o.Restore.Claim && (o.Restore.Metadata == nil || o.Checkpoints == nil) {
		errs = append(errs, errors.New("stream: Restore.Claim is set without Restore.Metadata and Options.Checkpoints: claim mode adopts a given snapshot into the job's checkpoints; load it with Checkpoints.ClaimCheckpoint or ClaimSavepoint"))
	}
	if o.Restore.Latest && o.Restore.Metadata != nil {
		errs = append(errs, errors.New("stream: Restore.Latest and Restore.Metadata are both set; resume from the latest checkpoint or from the given snapshot, not both"))
	}
	c := o.Checkpointing
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Checkpointing.Interval", c.Interval}, {"Checkpointing.Timeout", c.Timeout}, {"Checkpointing.MinPause", c.MinPause}, {"AutoWatermarkInterval", o.AutoWatermarkInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("stream: %s is negative (%v)", d.name, d.v))
		}
	}
	if c.MaxConcurrent < 0 || c.TolerableFailures < 0 {
		errs = append(errs, fmt.Errorf("stream: Checkpointing.MaxConcurrent (%d) and TolerableFailures (%d) must not be negative", c.MaxConcurrent, c.TolerableFailures))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if o.Checkpointing.Timeout == 0 {
		o.Checkpointing.Timeout = 10 * time.Minute
	}
	if o.Checkpointing.MaxConcurrent == 0 {
		o.Checkpointing.MaxConcurrent = 1
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.AutoWatermarkInterval == 0 {
		o.AutoWatermarkInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// instantiate creates every subtask, restoring from m when it is not nil.
func (j *Job) instantiate(m *snapshot.Metadata, r snapshot.Reader) error {
	j.closeTasks()
	j.tasks = nil
	j.restore, j.reader, j.restoredUID = m, r, map[string]bool{}
	j.maxP = j.opts.MaxParallelism
	if m != nil {
		for _, os := range m.Operators {
			if os.MaxParallelism == 0 {
				continue
			}
			if j.maxP != 0 && j.maxP != os.MaxParallelism {
				return fmt.Errorf("stream: max parallelism %d differs from %d of operator %q in checkpoint %d; key groups are fixed for the life of a job's state: use %d",
					j.maxP, os.MaxParallelism, os.ID, m.CheckpointID, os.MaxParallelism)
			}
			j.maxP = os.MaxParallelism
		}
	}
	if j.maxP == 0 {
		j.maxP = keygroup.DefaultMaxParallelism(j.opts.Parallelism)
	}
	par := func(v *vertex) int {
		if v.parallelism > 0 {
			return v.parallelism
		}
		return j.opts.Parallelism
	}
	for _, v := range j.g.vertices {
		if err := keygroup.Validate(j.maxP, par(v)); err != nil {
			return fmt.Errorf("stream: operator %q: %w", v.name, err)
		}
		if v.upstream != nil {
			v.connect(par(v.upstream), par(v))
		}
	}
	for _, v := range j.g.vertices {
		p := par(v)
		for i := range p {
			t := &task{job: j, v: v, index: i, parallelism: p, kgRange: keygroup.RangeFor(j.maxP, p, i),
				ctrl: make(chan control, 1024), exited: make(chan struct{}), abandoned: make(chan struct{})}
			t.watermark.Store(MinWatermark)
			j.tasks = append(j.tasks, t)
			if err := v.instantiate(t); err != nil {
				return err
			}
		}
	}
	if m != nil && !j.opts.Restore.AllowNonRestoredState {
		for _, os := range m.Operators {
			if !j.restoredUID[os.ID] {
				return fmt.Errorf("stream: the snapshot %d holds state of operator %q, which this job does not have; rename the operator back or allow non-restored state (--allow-non-restored-state)",
					m.CheckpointID, os.ID)
			}
		}
	}
	return nil
}

// corruptOperatorState is the error for an element of operator state name of operator uid
// that the restored snapshot holds but the operator never writes: it wraps
// snapshot.ErrCorrupt and names the snapshot's operator state files that hold the state,
// so that a restore falls back to an earlier checkpoint.
func (j *Job) corruptOperatorState(uid, name, format string, args ...any) error {
	var files []string
	if j.restore != nil {
		if op := j.restore.Operator(uid); op != nil {
			for _, h := range op.Operator {
				if _, _, ok := h.State(name); ok {
					files = append(files, h.File.Path)
				}
			}
		}
	}
	where := strings.Join(files, ", ")
	if where == "" {
		where = fmt.Sprintf("operator state of %q", uid)
	}
	return &snapshot.FileError{Path: where, Err: snapshot.ErrCorrupt,
		Detail: fmt.Sprintf("operator %q, state %q: %s", uid, name, fmt.Sprintf(format, args...))}
}

func (j *Job) markRestored(uid string) {
	j.restoredMu.Lock()
	j.restoredUID[uid] = true
	j.restoredMu.Unlock()
}

func (j *Job) closeTasks() {
	for _, t := range j.tasks {
		if err := t.close(); err != nil {
			j.log.Warn("closing subtask", "task", t.String(), "err", err)
		}
	}
}

func (j *Job) start() {
	go j.coord.run()
	for _, t := range j.tasks {
		t.watchBackends()
		go func() {
			defer close(t.exited)
			err := t.run()
			if errors.Is(err, errJobStopped) && j.Stopped() {
				// Stopped with a savepoint: deliver its completion, so that sinks
				// publish its output even if nobody restores it.
				err = t.drainNotifications()
			}
			if err != nil && !errors.Is(err, errJobStopped) {
				j.fail(fmt.Errorf("%s: %w", t, err))
			}
		}()
	}
	go func() {
		for _, t := range j.tasks {
			select {
			case <-t.exited:
			case <-t.abandoned:
			}
		}
		j.stop()
		var errs []error
		for _, t := range j.tasks {
			select {
			case <-t.exited:
				errs = append(errs, t.close())
			default: // abandoned: its goroutine may still hold its members
			}
		}
		if err := errors.Join(errs...); err != nil {
			j.fail(err)
		}
		j.cancel()
		// The coordinator's aborts and the retention it asked for are done (retention outlives
		// j.ctx, within a bound), so Wait leaves the retained number of checkpoints.
		<-j.coord.exited
		close(j.finished)
	}()
}

// fail stops the job with err (the first error wins).
func (j *Job) fail(err error) {
	j.errMu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.errMu.Unlock()
	j.stop()
}

func (j *Job) stop() { j.doneOnce.Do(func() { close(j.done) }) }

func (j *Job) stopWithSavepoint() {
	j.errMu.Lock()
	j.stopped = true
	j.errMu.Unlock()
	j.stop()
}

// Cancel stops the job without a savepoint; Wait then returns context.Canceled.
func (j *Job) Cancel() { j.fail(context.Canceled) }

// Wait waits for the job to end: every source finished and the final checkpoint completed,
// a stop-with-savepoint, a failure, or Cancel. It returns nil for the first two. A subtask
// stuck in a state backend that has failed (see the package doc) is not waited for.
func (j *Job) Wait() error {
	select {
	case <-j.finished:
	case <-j.parent.Done():
		j.fail(j.parent.Err())
		<-j.finished
	}
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.err
}

// Done is closed when the job has ended (Wait then returns at once).
func (j *Job) Done() <-chan struct{} { return j.finished }

// Stopped reports whether the job ended with a stop-with-savepoint.
func (j *Job) Stopped() bool {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.stopped
}

// TriggerSavepoint takes a savepoint into st (which must not hold one yet) while the job
// runs; with stop, the job ends once it completes (Flink's stop-with-savepoint: the sources
// emit nothing after its barrier). path is recorded in the stats. The savepoint is in the
// canonical format (TriggerSavepointFormat chooses).
func (j *Job) TriggerSavepoint(ctx context.Context, st checkpoint.Storage, path string, stop bool) (CheckpointStats, error) {
	return j.TriggerSavepointFormat(ctx, st, path, stop, backend.SavepointFormatCanonical)
}

// TriggerSavepointFormat is TriggerSavepoint in the given format (Flink's `savepoint --type`):
// canonical, which any backend restores, or native, each keyed backend's own format
// (backend.SavepointFormatNative: the lsm backend's database files; the hashmap backend's
// native format is canonical).
func (j *Job) TriggerSavepointFormat(ctx context.Context, st checkpoint.Storage, path string, stop bool, format backend.SavepointFormatType) (CheckpointStats, error) {
	if format != backend.SavepointFormatCanonical && format != backend.SavepointFormatNative {
		return CheckpointStats{}, fmt.Errorf("stream: savepoint format %v is unknown: use backend.SavepointFormatCanonical or SavepointFormatNative", format)
	}
	return j.request(ctx, savepointRequest{st: st, path: path, stop: stop, format: format})
}

// TriggerCheckpoint takes a checkpoint into Options.Checkpoints now and waits for it (Flink's
// manually triggered checkpoint, `flink checkpoint`): it is an ordinary checkpoint (its id is
// the next one, retention follows it, a restore of the latest checkpoint may pick it), taken
// once no other checkpoint is in flight, also when periodic checkpoints are off
// (Checkpointing.Interval 0). Its failure is returned and does not count towards
// Checkpointing.TolerableFailures. It fails at once when the job has no Options.Checkpoints.
func (j *Job) TriggerCheckpoint(ctx context.Context) (CheckpointStats, error) {
	if j.cps == nil {
		return CheckpointStats{}, errors.New("stream: the job has no checkpoint storage (Options.Checkpoints)")
	}
	return j.request(ctx, savepointRequest{checkpoint: true})
}

// request hands r to the coordinator and waits for its reply.
func (j *Job) request(ctx context.Context, r savepointRequest) (CheckpointStats, error) {
	reply := make(chan savepointReply, 1)
	r.reply = reply
	select {
	case j.coord.requests <- r:
	case <-j.done:
		return CheckpointStats{}, errors.New("stream: the job is not running")
	case <-ctx.Done():
		return CheckpointStats{}, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.stats, r.err
	case <-j.done:
		// A stop-with-savepoint's reply is sent before the job stops, so it is here already.
		select {
		case r := <-reply:
			return r.stats, r.err
		default:
			return CheckpointStats{}, errors.New("stream: the job ended before the savepoint completed")
		}
	case <-ctx.Done():
		return CheckpointStats{}, ctx.Err()
	}
}

// LastCheckpoint returns the stats of the last completed checkpoint or savepoint.
func (j *Job) LastCheckpoint() (CheckpointStats, bool) {
	s := j.coord.lastCompleted.Load()
	if s == nil {
		return CheckpointStats{}, false
	}
	return *s, true
}

// Restored returns the checkpoint or savepoint the job was restored from, or nil.
func (j *Job) Restored() *snapshot.Metadata { return j.restore }

// send delivers a coordinator message; a subtask that has ended (or a full queue, which
// only a stuck subtask causes) drops it: notifications may be lost, and later ones cover
// earlier ones.
func (t *task) send(c control) {
	select {
	case t.ctrl <- c:
	default:
		t.job.log.Warn("dropped a coordinator message to a busy subtask", "task", t.String(), "checkpoint", c.id)
	}
}
