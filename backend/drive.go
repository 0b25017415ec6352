package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// SnapshotTarget is the snapshot SnapshotOperator writes and commits: a pending checkpoint
// or savepoint of the checkpoint lifecycle (*checkpoint.Pending implements it). It is an
// interface here so that the SPI depends on the checkpoint formats only, not on the lifecycle
// or its storage.
type SnapshotTarget interface {
	snapshot.StreamFactory
	// Complete writes m as the snapshot's metadata; once it returns nil the snapshot exists.
	// On error the target has deleted the snapshot's files.
	Complete(ctx context.Context, m *snapshot.Metadata) error
	// Abort deletes every file the snapshot created.
	Abort(ctx context.Context) error
}

// SnapshotOperatorOptions are the settings of SnapshotOperator.
type SnapshotOperatorOptions struct {
	// Snapshot is passed to every backend's Snapshot.
	Snapshot SnapshotOptions
	// Metadata returns the snapshot's metadata for the handles the backends wrote (those of
	// backends without state are left out). Required.
	Metadata func(handles []*snapshot.KeyedStateHandle) *snapshot.Metadata
	// AfterSync, if set, runs on the calling goroutine once every synchronous phase ran and
	// before any asynchronous phase starts. Default: nothing.
	AfterSync func()
	// During, if set, runs on the calling goroutine while the asynchronous phases run (the
	// task goes on processing); its error fails the snapshot. Default: nothing.
	During func() error
}

// SnapshotResult is what SnapshotOperator did.
type SnapshotResult struct {
	// Handles holds each backend's handle, in the order of the backends: nil for a backend
	// without state.
	Handles []*snapshot.KeyedStateHandle
	// Sync is the sum of the synchronous phases, Async the longest asynchronous phase,
	// Complete the time to write the metadata and notify the backends.
	Sync, Async, Complete time.Duration
}

// SnapshotOperator takes snapshot id of the keyed backends of one operator's subtasks into
// target, as a task and the checkpoint coordinator do: the synchronous phases one after the
// other on the calling goroutine (the task's: backends are not safe for concurrent use), the
// asynchronous phases concurrently on goroutines of their own, then target.Complete with
// opts.Metadata, then NotifyCheckpointComplete on every backend. On any error the snapshots
// not yet run are released, target is aborted (unless Complete failed: it cleaned up itself),
// every backend gets NotifyCheckpointAborted, and the errors are returned, joined.
//
// It is the one driver of the snapshot protocol outside the stream runtime (whose tasks and
// coordinator split it across goroutines and processes of their own): the benchmarks and the
// backend conformance suite use it. It lives here, beside the contract it drives, because it
// needs nothing but the SPI and a SnapshotTarget.
func SnapshotOperator(ctx context.Context, id int64, backends []Keyed, target SnapshotTarget, opts SnapshotOperatorOptions) (SnapshotResult, error) {
	res := SnapshotResult{Handles: make([]*snapshot.KeyedStateHandle, len(backends))}
	fail := func(err error, abort bool) (SnapshotResult, error) {
		errs := []error{err}
		if abort {
			errs = append(errs, target.Abort(ctx))
		}
		for _, b := range backends {
			errs = append(errs, b.NotifyCheckpointAborted(id))
		}
		return res, errors.Join(errs...)
	}
	asyncs := make([]AsyncSnapshot, 0, len(backends))
	for i, b := range backends {
		start := time.Now()
		a, err := b.Snapshot(id, opts.Snapshot)
		res.Sync += time.Since(start)
		if err != nil {
			for _, a := range asyncs {
				a.Release()
			}
			return fail(fmt.Errorf("subtask %d: synchronous phase: %w", i, err), true)
		}
		asyncs = append(asyncs, a)
	}
	if opts.AfterSync != nil {
		opts.AfterSync()
	}
	errs := make([]error, len(asyncs)+1)
	took := make([]time.Duration, len(asyncs))
	var wg sync.WaitGroup
	for i, a := range asyncs {
		wg.Go(func() {
			start := time.Now()
			h, err := a.Run(ctx, target)
			took[i] = time.Since(start)
			if err != nil {
				errs[i] = fmt.Errorf("subtask %d: asynchronous phase: %w", i, err)
			}
			res.Handles[i] = h
		})
	}
	if opts.During != nil {
		errs[len(asyncs)] = opts.During()
	}
	wg.Wait()
	if len(took) > 0 {
		res.Async = slices.Max(took)
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err, true)
	}
	start := time.Now()
	handles := slices.DeleteFunc(slices.Clone(res.Handles), func(h *snapshot.KeyedStateHandle) bool { return h == nil })
	if err := target.Complete(ctx, opts.Metadata(handles)); err != nil {
		return fail(err, false)
	}
	var notifyErrs []error
	for i, b := range backends {
		if err := b.NotifyCheckpointComplete(id); err != nil {
			notifyErrs = append(notifyErrs, fmt.Errorf("subtask %d: notify complete: %w", i, err))
		}
	}
	res.Complete = time.Since(start)
	return res, errors.Join(notifyErrs...)
}
