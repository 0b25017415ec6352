package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/stream"
)

// ManagedMemoryPerSlot is the managed memory of one slot: the lsm backends of a process share
// this much per unit of parallelism (Flink's task managers give their slots a share of 40% of
// their memory; we give each slot 128 MiB). state.backend.lsm.memory.fixed-per-slot overrides it.
const ManagedMemoryPerSlot = 128 << 20

// Job is what Build assembles from a configuration for one job: the runtime's options with
// the state backend and the checkpoints in them, and the resources to release when the job
// has ended (Close).
type Job struct {
	// Options are ready for stream.Execute: JobID, Parallelism, MaxParallelism (when the
	// configuration sets it), StateBackend, Checkpoints, Checkpointing, Compression,
	// AutoWatermarkInterval and Logger are set; restore settings, metrics and callbacks are the
	// caller's.
	Options stream.Options
	// Storage is the checkpoint storage Options.Checkpoints writes to.
	Storage checkpoint.Storage
	// Metrics collects the state backend's own metrics (the lsm backend's Pebble metrics), or
	// is nil when it has none. Register it on the job's Prometheus registry.
	Metrics prometheus.Collector
}

// Build creates the state backend and opens the checkpoint storage the configuration names,
// for job jobID whose graph has keyedOperators keyed operators (the lsm backends share the
// slots' managed memory among keyedOperators × parallelism backends). logger receives the
// job's warnings, Pebble's failures included; nil discards them. Close the Job after the job.
func (c *Config) Build(ctx context.Context, jobID string, keyedOperators int, logger *slog.Logger) (*Job, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sb, metrics, err := c.stateBackend(keyedOperators, logger)
	if err != nil {
		return nil, err
	}
	st, err := c.OpenCheckpointStorage(ctx)
	if err != nil {
		sb.Close()
		return nil, fmt.Errorf("checkpoint storage %s: %w", blobstore.RedactURL(c.CheckpointsDir), err)
	}
	cps, err := checkpoint.Open(ctx, st, jobID, checkpoint.Options{NumRetained: c.NumRetained, Logger: logger,
		LocalRecovery: c.LocalRecovery, LocalDirs: c.LocalRootDirs})
	if err != nil {
		st.Close()
		sb.Close()
		return nil, fmt.Errorf("open checkpoints of job %s: %w", jobID, err)
	}
	j := &Job{Storage: st, Metrics: metrics, Options: stream.Options{
		JobID:        jobID,
		Parallelism:  c.Parallelism,
		StateBackend: sb,
		Checkpoints:  cps,
		Checkpointing: stream.CheckpointConfig{Interval: c.CheckpointInterval, Timeout: c.CheckpointTimeout,
			MinPause: c.CheckpointMinPause, MaxConcurrent: c.MaxConcurrentCheckpoints, TolerableFailures: c.TolerableFailedCheckpoints},
		Compression:           c.Compression(),
		AutoWatermarkInterval: c.AutoWatermarkInterval,
		Logger:                logger,
	}}
	if c.Set[KeyMaxParallelism] {
		j.Options.MaxParallelism = c.MaxParallelism
	}
	return j, nil
}

// StateBackend creates the state backend state.backend.type names, for a job whose graph has
// keyedOperators keyed operators. The caller closes it after the job.
func (c *Config) StateBackend(keyedOperators int, logger *slog.Logger) (backend.StateBackend, error) {
	sb, _, err := c.stateBackend(keyedOperators, logger)
	return sb, err
}

func (c *Config) stateBackend(keyedOperators int, logger *slog.Logger) (backend.StateBackend, prometheus.Collector, error) {
	switch c.Backend {
	case heap.Name:
		return &heap.StateBackend{Logger: logger, Incremental: c.Incremental, IncrementalOptions: c.Hashmap}, nil, nil
	case lsm.Name:
		lc := c.LSM
		lc.Options.Incremental = c.Incremental
		lc.Options.Logger = logger // Pebble's failures reach the job's log
		sb, err := lsm.NewStateBackend(lc, ManagedMemoryPerSlot*int64(c.Parallelism), max(1, keyedOperators)*c.Parallelism)
		if err != nil {
			return nil, nil, fmt.Errorf("lsm state backend: %w", err)
		}
		return sb, sb.Collector(), nil
	}
	return nil, nil, fmt.Errorf("config key %s: unknown state backend %q; want hashmap or lsm", KeyBackend, c.Backend)
}

// Close releases the checkpoint storage and the state backend. Every backend the job created
// must be closed first (stream.Job.Wait returns after that).
func (j *Job) Close() error {
	return errors.Join(j.Storage.Close(), j.Options.StateBackend.Close())
}
