package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/config"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/stream"
)

// demoCmd is `streamstate demo`, the README's main job. It runs with no flags and no server:
// a stream job (demo_job.go) reads payment events from a seeded generator and updates keyed
// state per account (a running total in ValueState, recent amounts in ListState,
// per-merchant counts in MapState) on 2 subtasks. It then
//
//  1. takes a checkpoint (Job.TriggerCheckpoint) once the source has emitted 80% of the
//     events; the job processes the rest while the asynchronous phase runs;
//  2. "fails", restores the latest checkpoint at parallelism 3 and checks that every account
//     holds exactly what it held at the checkpoint, then replays the events after it (the
//     source rewinds to the checkpoint) and checks every account against the full run;
//  3. stops that job with a savepoint, restores it at parallelism 1 and checks every account
//     again.
//
// Each run is built from a configuration by config.Build, as `run` builds its jobs. Any
// difference, and any error, fails the command.
type demoCmd struct {
	Events      int    `default:"100000" help:"Number of payment events to generate."`
	Accounts    int    `default:"1000" help:"Number of accounts (keys) the events are spread over."`
	Seed        uint64 `default:"1" help:"Seed of the event generator."`
	Checkpoints string `default:"file://./checkpoints" help:"Checkpoint storage: a URL (file://DIR, relative to the current directory unless absolute; mem://; s3://bucket/prefix?...), a directory, or jobmanager."`
	JobID       string `name:"job-id" default:"demo" help:"Job id: checkpoints go to <checkpoints>/<job-id>/chk-<n>/."`
	Savepoint   string `help:"Savepoint directory (or storage URL); it must not hold a savepoint yet. Default: a new temporary directory."`
	Compression string `default:"snappy" enum:"snappy,none" help:"Compression of snapshot key-group blocks: snappy or none."`
	Backend     string `default:"hashmap" help:"State backend: ${backends}."`
}

// Validate implements kong's validation hook.
func (c *demoCmd) Validate() error {
	var errs []error
	if c.Events < 1 {
		errs = append(errs, fmt.Errorf("--events must be at least 1, got %d", c.Events))
	}
	if c.Accounts < 1 {
		errs = append(errs, fmt.Errorf("--accounts must be at least 1, got %d", c.Accounts))
	}
	if c.Compression != "snappy" && c.Compression != "none" {
		errs = append(errs, fmt.Errorf("--compression must be snappy or none, got %q", c.Compression))
	}
	if b, err := canonicalBackend(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	} else {
		c.Backend = b
	}
	if c.Checkpoints == "" {
		errs = append(errs, errors.New("--checkpoints must not be empty"))
	}
	return errors.Join(errs...)
}

// Run runs the demo job and reports what it did to e.Out.
func (c *demoCmd) Run(e *env) error {
	if err := c.Validate(); err != nil { // also when called without kong
		return err
	}
	ctx, out := e.Ctx, e.Out
	logger := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	events := generateEvents(c.Seed, c.Events, c.Accounts)
	universe := accountNames(c.Accounts)
	cut := int(float64(len(events)) * demoCheckpointAt)
	atCheckpoint, want := demoModel{}, demoModel{}
	for i, ev := range events {
		if i < cut {
			atCheckpoint.apply(ev)
		}
		want.apply(ev)
	}
	fmt.Fprintf(out, "demo job %q: %d payment events over %d accounts (seed %d), %s state backend, max parallelism %d\n",
		c.JobID, len(events), c.Accounts, c.Seed, c.Backend, demoMaxParallelism)

	// Parallelism 2: the events before the cut, a checkpoint, the rest during its asynchronous phase.
	src := newDemoSourceSpec(events)
	src.gate = newDemoGate(splitPositions(events, cut))
	cfg, err := c.configuration(2)
	if err != nil {
		return err
	}
	built, err := cfg.Build(ctx, c.JobID, 1, logger)
	if err != nil {
		return err
	}
	defer built.Close()
	var processed atomic.Int64
	start := time.Now()
	x, err := c.execute(ctx, built, 2, demoGraph(src, &processed), stream.Restore{}, logger)
	if err != nil {
		return err
	}
	defer x.close()
	if err := x.await(ctx, src.gate.all, "its source reached the checkpoint"); err != nil {
		return err
	}
	cs, err := x.job.TriggerCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint of job %s: %w", c.JobID, err)
	}
	during := processed.Load() - int64(cut)
	fmt.Fprintf(out, "processed %d events in %v on 2 subtasks (key groups %v): %d accounts in state\n",
		cut, roundDuration(time.Unix(0, src.gate.openAt.Load()).Sub(start)), demoRanges(2), len(atCheckpoint))
	if err := x.job.Wait(); err != nil {
		return fmt.Errorf("job %s at parallelism 2: %w", c.JobID, err)
	}
	m, _, err := checkpoint.LoadCheckpoint(ctx, built.Storage, c.JobID, cs.ID)
	if err != nil {
		return fmt.Errorf("checkpoint %d of job %s: %w", cs.ID, c.JobID, err)
	}
	fmt.Fprintf(out, "checkpoint %d of job %s in %s: %s in %d files (compression %s); sync phase %v, async phase %v while %d more events were processed\n",
		cs.ID, c.JobID, built.Storage, formatBytes(cs.Bytes), len(m.Files()), c.Compression, roundDuration(cs.Sync), roundDuration(cs.Async), during)
	x.close()

	// "Fail", restore the latest checkpoint at parallelism 3, replay what came after it.
	id := cs.ID
	asOf, replayed := newDemoRound(atCheckpoint, universe), newDemoRound(want, universe)
	src = newDemoSourceSpec(events)
	src.before, src.after, src.endless = []*demoRound{asOf}, []*demoRound{replayed}, true
	processed.Store(0)
	if x, err = c.execute(ctx, built, 3, demoGraph(src, &processed), stream.Restore{Latest: true}, logger); err != nil {
		return fmt.Errorf("restore job %s: %w", c.JobID, err)
	}
	defer x.close()
	if r := x.job.Restored(); r == nil || r.CheckpointID != id {
		return fmt.Errorf("restore job %s: got %s, want checkpoint %d, which was just written (see the warnings above)", c.JobID, describeRestored(r), id)
	}
	n, err := x.verify(ctx, asOf)
	if err != nil {
		return fmt.Errorf("after restoring checkpoint %d at parallelism 3: %w", id, err)
	}
	fmt.Fprintf(out, "restored checkpoint %d at parallelism 3 (rescale 2→3, key groups %v): verified %d keys as of the checkpoint\n",
		id, demoRanges(3), n)
	if n, err = x.verify(ctx, replayed); err != nil {
		return fmt.Errorf("after replaying the events since checkpoint %d: %w", id, err)
	}
	if got := processed.Load(); got != int64(len(events)-cut) {
		return fmt.Errorf("after restoring checkpoint %d: the source replayed %d events, want the %d after the checkpoint", id, got, len(events)-cut)
	}
	fmt.Fprintf(out, "replayed the %d events after the checkpoint: verified %d keys\n", len(events)-cut, n)

	// Stop with a savepoint, then restore it at parallelism 1.
	spURL := c.Savepoint
	if spURL == "" {
		if spURL, err = os.MkdirTemp("", "streamstate-savepoint-"+c.JobID+"-"); err != nil {
			return err
		}
	}
	spst, err := openStorage(ctx, spURL)
	if err != nil {
		return fmt.Errorf("savepoint storage: %w", err)
	}
	defer spst.Close()
	ss, err := x.job.TriggerSavepoint(ctx, spst, spURL, true)
	if err != nil {
		return fmt.Errorf("savepoint in %s: %w", spst, err)
	}
	if err := x.job.Wait(); err != nil {
		return fmt.Errorf("job %s at parallelism 3: %w", c.JobID, err)
	}
	x.close()
	m, reader, err := checkpoint.LoadSavepoint(ctx, spst)
	if err != nil {
		return fmt.Errorf("load savepoint: %w", err)
	}
	fmt.Fprintf(out, "savepoint in %s: %s in %d files; sync phase %v, async phase %v\n",
		spst, formatBytes(ss.Bytes), len(m.Files()), roundDuration(ss.Sync), roundDuration(ss.Async))

	final := newDemoRound(want, universe)
	src = newDemoSourceSpec(events)
	src.before = []*demoRound{final}
	if x, err = c.execute(ctx, built, 1, demoGraph(src, &processed), stream.Restore{Metadata: m, Reader: reader}, logger); err != nil {
		return fmt.Errorf("restore savepoint: %w", err)
	}
	defer x.close()
	if n, err = x.verify(ctx, final); err != nil {
		return fmt.Errorf("after restoring the savepoint at parallelism 1: %w", err)
	}
	if err := x.job.Wait(); err != nil {
		return fmt.Errorf("job %s at parallelism 1: %w", c.JobID, err)
	}
	fmt.Fprintf(out, "restored the savepoint at parallelism 1 (rescale 3→1): verified %d keys\n", n)
	fmt.Fprintf(out, "ok: rescaled 2→3→1 through checkpoint %d and a savepoint; every account matches\n", id)
	return nil
}

// configuration is the demo's configuration at parallelism p: no periodic checkpoints (the
// demo triggers its one checkpoint), the flags' backend, storage and compression.
func (c *demoCmd) configuration(p int) (*config.Config, error) {
	kv := map[string]string{
		config.KeyBackend:             c.Backend,
		config.KeyParallelism:         fmt.Sprint(p),
		config.KeyMaxParallelism:      fmt.Sprint(demoMaxParallelism),
		config.KeyCheckpointInterval:  "0",
		config.KeySnapshotCompression: fmt.Sprint(c.Compression == "snappy"),
	}
	if c.Checkpoints == "jobmanager" {
		kv[config.KeyCheckpointStorage] = "jobmanager"
	} else {
		url, err := storageURL(c.Checkpoints)
		if err != nil {
			return nil, fmt.Errorf("--checkpoints: %w", err)
		}
		kv[config.KeyCheckpointsDir] = url
	}
	return config.Parse(kv)
}

// demoExec is one run of the demo job.
type demoExec struct {
	job    *stream.Job
	own    backend.StateBackend // the run's state backend when it is not the build's, or nil
	closed bool
}

// execute starts g at parallelism p with the checkpoints of built (every run of the demo job
// shares them, as the runs of one job do) and a state backend the configuration makes for p.
func (c *demoCmd) execute(ctx context.Context, built *config.Job, p int, g *stream.Graph, restore stream.Restore, logger *slog.Logger) (*demoExec, error) {
	x := &demoExec{}
	opts := built.Options
	if p != opts.Parallelism {
		cfg, err := c.configuration(p)
		if err != nil {
			return nil, err
		}
		if x.own, err = cfg.StateBackend(1, logger); err != nil {
			return nil, err
		}
		opts.Parallelism, opts.StateBackend = p, x.own
	}
	opts.Restore = restore
	job, err := stream.Execute(ctx, g, opts)
	if err != nil {
		if x.own != nil {
			x.own.Close()
		}
		return nil, err
	}
	x.job = job
	return x, nil
}

// close cancels the job unless it has ended, waits for it, and releases its state backend
// and checkpoint storage. It may be called more than once.
func (x *demoExec) close() {
	if x.closed {
		return
	}
	x.closed = true
	select {
	case <-x.job.Done():
	default:
		x.job.Cancel()
	}
	_ = x.job.Wait()
	if x.own != nil {
		_ = x.own.Close()
	}
}

// await waits until ch is closed; it fails when the job ends first (with the job's error).
func (x *demoExec) await(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-x.job.Done():
		select {
		case <-ch:
			return nil
		default:
		}
		if err := x.job.Wait(); err != nil {
			return err
		}
		return fmt.Errorf("the job ended before %s", what)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// verify waits for every check of r and returns how many keys of its model were verified.
func (x *demoExec) verify(ctx context.Context, r *demoRound) (int, error) {
	if err := x.await(ctx, r.done, "every account was checked"); err != nil {
		return 0, err
	}
	return r.result()
}

// demoRanges lists the key groups of the demo operator's subtasks at parallelism p.
func demoRanges(p int) string {
	rs := make([]string, p)
	for i := range p {
		rs[i] = keygroup.RangeFor(demoMaxParallelism, p, i).String()
	}
	return strings.Join(rs, " ")
}

func describeRestored(m *snapshot.Metadata) string {
	if m == nil {
		return "no checkpoint"
	}
	return fmt.Sprintf("checkpoint %d", m.CheckpointID)
}
