package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/config"
	"github.com/streamstate/streamstate/jobs/nexmark"
	"github.com/streamstate/streamstate/stream"
)

// benchNexmarkCmd is `streamstate bench nexmark`: the throughput of a Nexmark query, and its
// CPU cost, at each of a list of checkpoint intervals (the first is the baseline of the
// others, so "0,1s" measures what checkpointing every second costs).
type benchNexmarkCmd struct {
	Query       string            `required:"" enum:"q5,q7,q8,q11" help:"Query: q5, q7, q8 or q11."`
	Events      int64             `default:"10000000" help:"Events generated."`
	Backend     string            `default:"lsm" help:"State backend: ${backends}."`
	Parallelism int               `short:"p" default:"2" help:"Parallelism."`
	Intervals   []string          `default:"0,10s" help:"Checkpoint intervals to run, in order; 0 is checkpointing off."`
	Rounds      int               `default:"1" help:"Run the intervals this many times, alternating, and report each interval's median: a process slows down over runs, so a ratio needs alternation."`
	Incremental bool              `default:"true" negatable:"" help:"Incremental checkpoints (lsm)."`
	MiniBatch   int               `name:"mini-batch" default:"100000" help:"Windows' in-memory pre-aggregation size (values held per window operator subtask); 0 turns it off."`
	Timers      string            `default:"heap" enum:"heap,lsm" help:"Where the lsm backend keeps timers (state.backend.lsm.timer-service.factory): heap or lsm."`
	Storage     string            `placeholder:"URL" help:"Checkpoint storage URL. Default: a fresh temporary directory per run."`
	JSON        bool              `name:"json" help:"Print one JSON object per run and line."`
	Set         map[string]string `short:"D" help:"Set a configuration key (e.g. -D state.backend.lsm.timer-service.factory=heap)."`
	CPUProfile  string            `name:"cpuprofile" placeholder:"PREFIX" help:"Write a CPU profile of each run to PREFIX-<interval>-<round>.pprof (go tool pprof)."`
}

// benchNexmarkResult is one run: one line of --json output.
type benchNexmarkResult struct {
	Bench       string  `json:"bench"`
	Query       string  `json:"query"`
	Backend     string  `json:"backend"`
	Parallelism int     `json:"parallelism"`
	Incremental bool    `json:"incremental"`
	MiniBatch   int     `json:"mini_batch"`
	Timers      string  `json:"timers,omitempty"`
	Interval    string  `json:"interval"`
	Events      int64   `json:"events"`
	Results     int64   `json:"results"`
	Seconds     float64 `json:"seconds"`
	EventsPerS  float64 `json:"events_per_s"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	// EventsPerCPUS is events per second of CPU: throughput per core used.
	EventsPerCPUS float64 `json:"events_per_cpu_s"`
	// VsFirst is EventsPerS relative to the first interval's run (of the same round, or
	// median to median).
	VsFirst float64 `json:"vs_first"`
	// Round is the run's round, from 1; 0 marks an interval's median over the rounds.
	Round       int   `json:"round"`
	Checkpoints int64 `json:"checkpoints"`
	// CheckpointBytes is what the last checkpoint wrote; StateBytes what it references.
	CheckpointBytes int64 `json:"checkpoint_bytes"`
	StateBytes      int64 `json:"state_bytes"`
}

// Validate implements kong's validation hook.
func (c *benchNexmarkCmd) Validate() error {
	var errs []error
	if b, err := canonicalBackend(c.Backend); err != nil {
		errs = append(errs, fmt.Errorf("--backend: %w", err))
	} else {
		c.Backend = b
	}
	if c.Events < 1 {
		errs = append(errs, fmt.Errorf("--events must be at least 1, got %d", c.Events))
	}
	if c.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("--parallelism must be at least 1, got %d", c.Parallelism))
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("--rounds must be at least 1, got %d", c.Rounds))
	}
	for _, iv := range c.Intervals {
		if _, err := config.ParseDuration(iv); err != nil {
			errs = append(errs, fmt.Errorf("--intervals: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Run implements the command.
func (c *benchNexmarkCmd) Run(e *env) error {
	if err := c.Validate(); err != nil {
		return err
	}
	runs := make([][]*benchNexmarkResult, len(c.Intervals)) // by interval
	for round := 1; round <= c.Rounds; round++ {
		for i, iv := range c.Intervals {
			interval, _ := config.ParseDuration(iv)
			r, err := c.runOnce(e.Ctx, interval, round)
			if err != nil {
				return fmt.Errorf("interval %s: %w", iv, err)
			}
			r.Interval, r.Round = iv, round
			runs[i] = append(runs[i], r)
			r.VsFirst = r.EventsPerS / runs[0][round-1].EventsPerS
			c.print(e, r)
		}
	}
	if c.Rounds == 1 {
		return nil
	}
	var first float64
	for i, rs := range runs {
		m := *medianRun(rs)
		m.Round = 0
		if i == 0 {
			first = m.EventsPerS
		}
		m.VsFirst = m.EventsPerS / first
		c.print(e, &m)
	}
	return nil
}

// medianRun returns the run of median throughput.
func medianRun(rs []*benchNexmarkResult) *benchNexmarkResult {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b *benchNexmarkResult) int { return cmp.Compare(a.EventsPerS, b.EventsPerS) })
	return rs[len(rs)/2]
}

func (c *benchNexmarkCmd) print(e *env, r *benchNexmarkResult) {
	if c.JSON {
		b, _ := json.Marshal(r)
		fmt.Fprintf(e.Out, "%s\n", b)
		return
	}
	round := fmt.Sprintf("round %d", r.Round)
	if r.Round == 0 {
		round = "median "
	}
	fmt.Fprintf(e.Out, "nexmark %s %s p=%d %s interval %-5s %10.0f events/s  %8.0f events/s per CPU second  (%.2f× the first)  %d checkpoints, last wrote %s of %s  %d results\n",
		c.Query, c.Backend, c.Parallelism, round, r.Interval, r.EventsPerS, r.EventsPerCPUS, r.VsFirst, r.Checkpoints,
		formatBytes(r.CheckpointBytes), formatBytes(r.StateBytes), r.Results)
}

// startCPUProfile profiles the process's CPU into file name until the returned stop.
func startCPUProfile(name string) (stop func(), err error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func (c *benchNexmarkCmd) runOnce(ctx context.Context, interval time.Duration, round int) (*benchNexmarkResult, error) {
	url := c.Storage
	if url == "" {
		dir, err := os.MkdirTemp("", "streamstate-bench-nexmark-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		url = "file://" + dir
	}
	jobID := fmt.Sprintf("nexmark-%s-%d", c.Query, time.Now().UnixNano())
	kv := map[string]string{config.KeyBackend: c.Backend, config.KeyIncremental: fmt.Sprint(c.Incremental && c.Backend == lsm.Name),
		config.KeyParallelism: fmt.Sprint(c.Parallelism), config.KeyCheckpointsDir: url, config.KeyNumRetained: "1"}
	if c.Backend == lsm.Name {
		kv[lsm.ConfigPrefix+"timer-service.factory"] = c.Timers
	}
	maps.Copy(kv, c.Set)
	cfg, err := config.Parse(kv)
	if err != nil {
		return nil, err
	}
	built, err := cfg.Build(ctx, jobID, jobs["nexmark-"+c.Query].keyedOperators, nil)
	if err != nil {
		return nil, err
	}
	defer built.Close()

	var results atomic.Int64
	g := stream.NewGraph()
	err = nexmark.Build(g, nexmark.JobConfig{Query: c.Query, Generator: nexmark.DefaultConfig(), Events: c.Events, MiniBatch: c.MiniBatch},
		func(s *stream.Stream[string]) {
			stream.Sink(s, func(string, int64) error { results.Add(1); return nil })
		})
	if err != nil {
		return nil, err
	}
	var checkpoints atomic.Int64
	var last atomic.Pointer[stream.CheckpointStats]
	opts := built.Options
	opts.Checkpointing.Interval, opts.Checkpointing.TolerableFailures = interval, 3
	opts.OnCheckpoint = func(s stream.CheckpointStats) {
		if s.Failed == nil {
			checkpoints.Add(1)
			last.Store(&s)
		}
	}
	if c.CPUProfile != "" {
		stop, err := startCPUProfile(fmt.Sprintf("%s-%s-%d.pprof", c.CPUProfile, interval, round))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	job, err := stream.Execute(ctx, g, opts)
	if err != nil {
		return nil, err
	}
	if err := job.Wait(); err != nil {
		return nil, err
	}
	secs, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	r := &benchNexmarkResult{Bench: "nexmark", Query: c.Query, Backend: c.Backend, Parallelism: c.Parallelism,
		Incremental: c.Incremental && c.Backend == lsm.Name, MiniBatch: c.MiniBatch, Timers: c.Timers, Events: job.Records(), Results: results.Load(),
		Seconds: secs, EventsPerS: float64(job.Records()) / secs, CPUSeconds: cpu, EventsPerCPUS: float64(job.Records()) / cpu,
		Checkpoints: checkpoints.Load()}
	if s := last.Load(); s != nil {
		r.CheckpointBytes, r.StateBytes = s.Bytes, s.StateSize
	}
	return r, nil
}
