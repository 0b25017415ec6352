package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/config"
	"github.com/streamstate/streamstate/stream"
)

// runCmd is `streamstate run <job>`: the README's main command.
type runCmd struct {
	Job string `arg:"" help:"Job to run: ${jobs}."`

	Config      string            `type:"existingfile" help:"YAML configuration file with flink-conf style keys (flat or nested)."`
	Set         map[string]string `short:"D" help:"Set a configuration key, as Flink's -D: -D execution.checkpointing.interval='5 s'. Wins over --config."`
	Parallelism *int              `short:"p" help:"Parallelism (parallelism.default). Default 2."`
	Backend     string            `help:"State backend (state.backend.type): ${backends}. Default lsm."`
	Checkpoints string            `help:"Checkpoint storage URL (state.checkpoints.dir): file://DIR, s3://bucket/prefix?..., or jobmanager. Default file://./checkpoints."`
	Interval    string            `help:"Checkpoint interval (execution.checkpointing.interval), e.g. '10 s'; 0 disables. Default 10 s."`
	Incremental bool              `help:"Incremental checkpoints (state.backend.incremental): lsm uploads new database files, hashmap writes deltas of what changed."`
	JobID       string            `name:"job-id" help:"Job id: checkpoints go to <checkpoints>/<job-id>/. Default: the job's name."`

	Resume                bool   `help:"Resume from the latest complete checkpoint of the job, if there is one (falls back past corrupt ones; fails if it has some but none can be read)."`
	FreshIfUnreadable     bool   `name:"fresh-if-unreadable" help:"With --resume: start fresh when the job has checkpoints but none can be read, instead of failing. The output directory must not hold part files of earlier runs."`
	From                  string `help:"Restore from a savepoint directory or a checkpoint directory (<checkpoints>/<job-id>/chk-<n>); parallelism and backend may differ."`
	AllowNonRestoredState bool   `name:"allow-non-restored-state" help:"Start even if the snapshot holds state of operators this job does not have."`
	ClaimMode             string `name:"claim-mode" aliases:"claimMode" help:"With --from: claim or no-claim (execution.state-recovery.claim-mode, Flink's --claimMode). claim takes the snapshot over: checkpoints reuse its files and it is deleted once subsumed; it must be in the checkpoint storage. Default no-claim: the snapshot is never modified or deleted."`
	SavepointDir          string `name:"savepoint-dir" help:"Where savepoints go (state.savepoints.dir). Default file://./savepoints."`

	Events   int64   `default:"2000000" help:"Number of events the job's source generates; 0 for an unbounded run."`
	Rate     float64 `help:"Events per second over all source splits; 0 is as fast as possible."`
	Seed     uint64  `default:"1" help:"Seed of the job's generator."`
	Output   string  `help:"Directory of the job's output files. Default ./output/<job-id>."`
	Progress string  `default:"1s" help:"Interval of the progress line on stderr; 0 turns it off."`
	Metrics  string  `name:"metrics-addr" help:"Serve Prometheus metrics on this address (e.g. 127.0.0.1:9249) at /metrics."`
}

// runDefaults are the settings of `streamstate run` where the configuration leaves them unset.
var runDefaults = map[string]string{
	config.KeyBackend:            "lsm",
	config.KeyCheckpointsDir:     "file://./checkpoints",
	config.KeySavepointsDir:      "file://./savepoints",
	config.KeyCheckpointInterval: "10 s",
	config.KeyParallelism:        "2",
}

// Validate implements kong's validation hook.
func (c *runCmd) Validate() error {
	if _, ok := jobs[c.Job]; !ok {
		return fmt.Errorf("unknown job %q; jobs: %s", c.Job, strings.Join(jobNames(), ", "))
	}
	if c.Events < 0 {
		return fmt.Errorf("--events must not be negative, got %d", c.Events)
	}
	if c.FreshIfUnreadable && !c.Resume {
		return errors.New("--fresh-if-unreadable only applies with --resume (a run without --resume or --from always starts fresh)")
	}
	if c.Resume && c.From != "" {
		return errors.New("--resume and --from exclude each other: resume continues the job's own checkpoints, --from starts from a given snapshot")
	}
	if c.ClaimMode != "" && c.From == "" {
		return errors.New("--claim-mode only applies with --from (a resume from the job's own checkpoints always reuses their files)")
	}
	if c.ClaimMode != "" {
		if _, err := config.ParseClaimMode(c.ClaimMode); err != nil {
			return fmt.Errorf("--claim-mode %s: %w", c.ClaimMode, err)
		}
	}
	if _, err := time.ParseDuration(c.Progress); err != nil {
		return fmt.Errorf("--progress: %w", err)
	}
	return nil
}

// configuration merges, lowest first: run's defaults, the YAML file, -D settings, flags.
func (c *runCmd) configuration() (*config.Config, error) {
	kv := map[string]string{}
	if c.Config != "" {
		f, err := os.Open(c.Config)
		if err != nil {
			return nil, err
		}
		file, err := config.LoadYAML(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--config %s: %w", c.Config, err)
		}
		maps.Copy(kv, file)
	}
	maps.Copy(kv, c.Set)
	flag := func(key, val string) {
		if val != "" {
			kv[key] = val
		}
	}
	if c.Parallelism != nil { // a pointer, so that -p 0 is an error rather than the default
		flag(config.KeyParallelism, fmt.Sprint(*c.Parallelism))
	}
	flag(config.KeyBackend, c.Backend)
	flag(config.KeyCheckpointsDir, c.Checkpoints)
	flag(config.KeyCheckpointInterval, c.Interval)
	flag(config.KeySavepointsDir, c.SavepointDir)
	flag(config.KeyClaimMode, c.ClaimMode)
	if c.Incremental {
		kv[config.KeyIncremental] = "true"
	}
	if kv[config.KeyCheckpointsDir] == "jobmanager" {
		delete(kv, config.KeyCheckpointsDir)
		kv[config.KeyCheckpointStorage] = "jobmanager"
	}
	for k, v := range runDefaults {
		if _, ok := kv[k]; !ok && !(k == config.KeyCheckpointsDir && kv[config.KeyCheckpointStorage] == "jobmanager") {
			kv[k] = v
		}
	}
	return config.Parse(kv)
}

// takesSignals marks run as the command that handles the process's signals itself.
func (c *runCmd) takesSignals() {}

// Run runs the job until its sources end (or forever with --events 0), a stop-with-savepoint
// (SIGUSR2), or SIGINT/SIGTERM, which cancel it (no savepoint; exit status 0). SIGUSR1 takes
// a savepoint and keeps running. Signals are handled from the start of the run: one that
// arrives while the job starts is acted on as soon as it runs (see jobControl).
func (c *runCmd) Run(e *env) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.JobID == "" {
		c.JobID = c.Job
	}
	ctx, cancelStart := context.WithCancel(e.Ctx)
	defer cancelStart()
	rec := selfRecord(c.JobID)
	var rt *runtimeDir
	if e.Signals != nil {
		getenv := e.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if rt, err = openRuntimeDir(runtimeDirFor(getenv)); err == nil {
			err = rt.register(rec)
		}
		if err != nil {
			fmt.Fprintf(e.Log, "warning: %v; `streamstate savepoint` cannot reach this job (kill -USR1 %d still works)\n", err, rec.PID)
			rt = nil
		}
	}
	ctl := newJobControl(e.Signals, e.Log, e.Exit, cancelStart, rt, c.JobID)
	defer ctl.close()
	running := false
	defer func() {
		if s := ctl.canceledBy(); s != nil && !running && errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.Out, "job %s canceled (%s) while starting; nothing ran\n", c.JobID, signalName(s))
			err = nil
		}
	}()

	cfg, err := c.configuration()
	if err != nil {
		return err
	}
	if c.Output == "" {
		c.Output = filepath.Join("output", c.JobID)
	}
	logger := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	spec := jobs[c.Job]

	built, err := cfg.Build(ctx, c.JobID, spec.keyedOperators, logger)
	if err != nil {
		return err
	}
	defer built.Close()
	opts, st, cps := built.Options, built.Storage, built.Options.Checkpoints

	reg := prometheus.NewRegistry()
	metrics, err := stream.NewMetrics(reg)
	if err != nil {
		return err
	}
	if c.Metrics != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if built.Metrics != nil {
			reg.MustRegister(built.Metrics)
		}
		stop, err := serveMetrics(c.Metrics, reg, e.Log)
		if err != nil {
			return err
		}
		defer stop()
	}

	opts.Metrics = metrics
	opts.Restore.AllowNonRestoredState = c.AllowNonRestoredState
	opts.Restore.FreshIfUnreadable = c.FreshIfUnreadable
	switch {
	case c.Resume:
		opts.Restore.Latest = true
	case c.From != "" && cfg.ClaimMode == config.ClaimModeClaim:
		m, r, err := claimSnapshot(ctx, c.From, cfg, cps)
		if err != nil {
			return err
		}
		opts.Restore.Metadata, opts.Restore.Reader, opts.Restore.Claim = m, r, true
	case c.From != "":
		m, r, closeFrom, err := loadSnapshot(ctx, c.From)
		if err != nil {
			return err
		}
		defer closeFrom()
		if err := noClaimOwnCheckpoint(cfg, c.From, c.JobID); err != nil {
			return err
		}
		opts.Restore.Metadata, opts.Restore.Reader = m, r
	}
	if !c.Resume && c.From == "" {
		if ids, err := cps.Completed(ctx); err == nil && len(ids) > 0 {
			fmt.Fprintf(e.Log, "note: job %s has checkpoints up to %d in %s; this run starts fresh (use --resume to continue, or another --job-id)\n",
				c.JobID, ids[len(ids)-1], st)
		}
	}
	progress := newProgressLine(e.Log, c.Progress)
	opts.OnCheckpoint = progress.checkpoint

	g := stream.NewGraph()
	if err := spec.build(g, jobParams{Events: c.Events, Rate: c.Rate, Seed: c.Seed, Output: c.Output}); err != nil {
		return err
	}
	start := time.Now()
	job, err := stream.Execute(ctx, g, opts)
	if err != nil {
		return err
	}
	running = true
	restored := "a fresh start"
	if m := job.Restored(); m != nil {
		kind := "checkpoint"
		if m.Savepoint {
			kind = "savepoint"
		}
		restored = fmt.Sprintf("%s %d", kind, m.CheckpointID) + restoredFromNote(cps, c.Resume)
		if c.From != "" {
			restored += restoreModeNote(opts.Restore.Claim)
		}
	}
	fmt.Fprintf(e.Out, "job %s (pid %d, %s): %s backend, parallelism %d, checkpoints %s every %v%s%s, from %s; output in %s\n",
		c.JobID, rec.PID, spec.about, cfg.Backend, cfg.Parallelism, st, cfg.CheckpointInterval, incrementalNote(cfg), localRecoveryNote(cps), restored, c.Output)
	if rt != nil {
		rec.State, rec.SavepointsDir = "running", blobstore.RedactURL(cfg.SavepointsDir)
		if err := rt.writeFile(recordName(rec.PID), rec); err != nil {
			fmt.Fprintf(e.Log, "warning: %v\n", err)
		}
	}

	waitErr := make(chan error, 1)
	go func() { waitErr <- job.Wait() }()
	stopProgress := progress.run(job, start)
	// Savepoints requested before this point (while the job started) are taken now.
	ctl.attach(job, func(stop bool, format backend.SavepointFormatType) savepointResult {
		return c.savepoint(ctx, job, cfg, stop, format, e, logger)
	})
	err = <-waitErr
	// Savepoints in flight are waited for: a stop-with-savepoint ends the job as soon as the
	// savepoint is complete, and its "written to" line must still be printed.
	ctl.jobEnded()
	stopProgress()
	elapsed := time.Since(start)
	last := "no checkpoint"
	if s, ok := job.LastCheckpoint(); ok {
		last = fmt.Sprintf("last checkpoint %d (%s)", s.ID, formatBytes(s.StateSize))
	}
	if s := ctl.canceledBy(); s != nil && errors.Is(err, context.Canceled) {
		discardLocal(cps, e.Log)
		fmt.Fprintf(e.Out, "job %s canceled (%s) without a savepoint: %d events in %v, %s; committed output in %s\n",
			c.JobID, signalName(s), job.Records(), elapsed.Round(time.Millisecond), last, c.Output)
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %s failed: %w", c.JobID, err)
	}
	discardLocal(cps, e.Log)
	how := "finished"
	if job.Stopped() {
		how = "stopped with a savepoint"
	}
	fmt.Fprintf(e.Out, "job %s %s: %d events in %v (%.0f events/s), %s; output in %s\n",
		c.JobID, how, job.Records(), elapsed.Round(time.Millisecond), float64(job.Records())/elapsed.Seconds(), last, c.Output)
	return nil
}

func incrementalNote(cfg *config.Config) string {
	if cfg.Incremental {
		return " (incremental)"
	}
	return ""
}

// savepoint takes a savepoint into a new directory under the savepoints dir, prints where it
// went (or logs why it failed) and returns the same for `streamstate savepoint`.
func (c *runCmd) savepoint(ctx context.Context, job *stream.Job, cfg *config.Config, stop bool, format backend.SavepointFormatType, e *env, log *slog.Logger) savepointResult {
	// The random suffix keeps savepoints taken in the same millisecond apart (requests queued
	// while the job started are taken together).
	dir := joinURL(cfg.SavepointsDir, fmt.Sprintf("savepoint-%s-%s-%06x", c.JobID, time.Now().UTC().Format("20060102T150405.000"), rand.Uint32()&0xffffff))
	res := savepointResult{JobID: c.JobID, Stop: stop, Path: blobstore.RedactURL(dir), Type: format.String()}
	st, err := openStorage(ctx, dir)
	if err != nil {
		log.Error("savepoint storage", "dir", res.Path, "err", err)
		res.Error = fmt.Sprintf("savepoint storage %s: %v", res.Path, err)
		return res
	}
	defer st.Close()
	// The storage's description is absolute (a relative file:// URL is resolved); the
	// redacted query keeps what opening it needs (an S3 endpoint, say).
	res.Path = st.String()
	if _, q, ok := strings.Cut(blobstore.RedactURL(dir), "?"); ok {
		res.Path += "?" + q
	}
	s, err := job.TriggerSavepointFormat(ctx, st, dir, stop, format)
	if err != nil {
		log.Error("savepoint failed", "dir", res.Path, "err", err)
		res.Error = fmt.Sprintf("savepoint into %s failed: %v", res.Path, err)
		return res
	}
	res.ID, res.Bytes = s.ID, s.StateSize
	fmt.Fprintf(e.Out, "savepoint %d written to %s (%s, %s) in %v\n", s.ID, st, formatBytes(s.StateSize), format, s.Duration.Round(time.Millisecond))
	return res
}

// loadSnapshot opens a savepoint directory or a checkpoint directory <root>/<job>/chk-<n>,
// as checkpoint.Locate finds it.
func loadSnapshot(ctx context.Context, url string) (*snapshot.Metadata, snapshot.Reader, func(), error) {
	shown := blobstore.RedactURL(url)
	l, err := checkpoint.Locate(ctx, url, openStorage)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--from %s: %w", shown, err)
	}
	var m *snapshot.Metadata
	var r snapshot.Reader
	switch l.Kind {
	case checkpoint.AtCheckpoint:
		// Read-only: the job may be running elsewhere, and Open would clean up after it.
		if m, r, err = checkpoint.LoadCheckpoint(ctx, l.Storage, l.JobID, l.CheckpointID); err != nil {
			err = fmt.Errorf("--from %s: checkpoint %d of job %s: %w", shown, l.CheckpointID, l.JobID, err)
		}
	case checkpoint.AtSavepoint:
		if m, r, err = checkpoint.LoadSavepoint(ctx, l.Storage); err != nil {
			err = fmt.Errorf("--from %s: not a savepoint (nor a checkpoint directory <checkpoints>/<job-id>/chk-<n>): %w", shown, err)
		}
	default:
		err = fmt.Errorf("--from %s: not a savepoint (nor a checkpoint directory <checkpoints>/<job-id>/chk-<n>): it is a checkpoint %v; give a savepoint's directory or a checkpoint's <job-id>/chk-<n> in it (or --resume)",
			shown, l.Kind)
	}
	if err != nil {
		l.Storage.Close()
		return nil, nil, nil, err
	}
	return m, r, func() { l.Storage.Close() }, nil
}

// serveMetrics serves reg at addr/metrics until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, log io.Writer) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	fmt.Fprintf(log, "metrics on http://%s/metrics\n", l.Addr())
	return func() { srv.Close() }, nil
}

// progressLine prints a live status line: events, events/s, the sources' watermark and the
// last checkpoint. On a terminal it rewrites one line; otherwise it prints a line per interval.
type progressLine struct {
	w        io.Writer
	interval time.Duration
	mu       sync.Mutex
	last     *stream.CheckpointStats
	failed   int
}

func newProgressLine(w io.Writer, interval string) *progressLine {
	d, _ := time.ParseDuration(interval)
	return &progressLine{w: w, interval: d}
}

func (p *progressLine) checkpoint(s stream.CheckpointStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Failed != nil {
		p.failed++
		return
	}
	p.last = &s
}

func (p *progressLine) run(job *stream.Job, start time.Time) (stop func()) {
	if p.interval <= 0 {
		return func() {}
	}
	tty := false
	if f, ok := p.w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		prev, prevT := int64(0), start
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(p.w)
				}
				return
			case now := <-t.C:
				n := job.Records()
				rate := float64(n-prev) / now.Sub(prevT).Seconds()
				prev, prevT = n, now
				p.mu.Lock()
				cp := "no checkpoint yet"
				if s := p.last; s != nil {
					cp = fmt.Sprintf("checkpoint %d: %s written, %s state, %v", s.ID, formatBytes(s.Bytes), formatBytes(s.StateSize), s.Duration.Round(time.Millisecond))
				}
				if p.failed > 0 {
					cp += fmt.Sprintf(", %d failed", p.failed)
				}
				p.mu.Unlock()
				wm := "watermark -"
				if w := job.Watermark(); w != stream.MinWatermark && w != stream.MaxWatermark {
					wm = "watermark " + time.UnixMilli(w).UTC().Format("2006-01-02T15:04:05Z")
				} else if w == stream.MaxWatermark {
					wm = "watermark end"
				}
				line := fmt.Sprintf("%v  %d events  %.0f events/s  %s  %s", now.Sub(start).Round(time.Second), n, rate, wm, cp)
				if tty {
					fmt.Fprintf(p.w, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(p.w, line)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// jobNames returns the names of the shipped jobs, sorted.
func jobNames() []string { return slices.Sorted(maps.Keys(jobs)) }
