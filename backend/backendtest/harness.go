package backendtest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// Factory creates a backend for the suite, or returns the backend's creation error (the suite
// checks the errors of bad restores). It should register the backend's Close with t.Cleanup;
// the suite also closes backends it is done with, so Close must be idempotent.
type Factory func(t testing.TB, opts backend.Options) (backend.Keyed, error)

// MaxP is the max parallelism (number of key groups) the suite uses.
const MaxP = 128

const keySer = "int64"

// env is one test's checkpoint storage plus helpers to snapshot and restore.
type env struct {
	t       testing.TB
	f       Factory
	ctx     context.Context
	cps     *checkpoint.Checkpoints
	next    int64
	counter *CountingReader
	// clock is every backend's TTL clock; its processing time is now (ms), which tests set.
	clock *backend.Clock
	now   atomic.Int64
}

func newEnv(t testing.TB, f Factory) *env {
	ctx := context.Background()
	// In memory, without blobstore's drivers: a backend's tests need not link a cloud SDK.
	st := checkpointtest.NewMemStorage()
	cps, err := checkpoint.Open(ctx, st, "suite", checkpoint.Options{NumRetained: 3})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, f: f, ctx: ctx, cps: cps, counter: &CountingReader{R: cps.Reader()}}
	e.now.Store(1_000_000)
	e.clock = &backend.Clock{ProcessingTime: e.now.Load}
	return e
}

// subtask is one backend with its typed wrapper.
type subtask struct {
	b  backend.Keyed
	kb *state.KeyedBackend[int64]
}

// open creates p subtasks; restore from handles if given.
func (e *env) open(p int, restore []*snapshot.KeyedStateHandle) []*subtask {
	e.t.Helper()
	out := make([]*subtask, p)
	for i := range out {
		b, err := e.f(e.t, backend.Options{
			OperatorID:      "op",
			MaxParallelism:  MaxP,
			KeyGroupRange:   keygroup.RangeFor(MaxP, p, i),
			KeySerializerID: keySer,
			Restore:         restore,
			Reader:          e.counter,
			Clock:           e.clock,
		})
		if err != nil {
			e.t.Fatal(err)
		}
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		if err != nil {
			e.t.Fatal(err)
		}
		out[i] = &subtask{b: b, kb: kb}
	}
	return out
}

// restoreErr creates one backend over rng from handles and returns the error.
func (e *env) restoreErr(restore []*snapshot.KeyedStateHandle, rng keygroup.Range) error {
	b, err := e.f(e.t, backend.Options{OperatorID: "op", MaxParallelism: MaxP, KeyGroupRange: rng,
		KeySerializerID: keySer, Restore: restore, Reader: e.counter, Clock: e.clock})
	if err == nil {
		b.Close()
	}
	return err
}

// checkpoint snapshots every subtask (sync phases first, then the async phases concurrently),
// completes a checkpoint and returns its handles: none for a subtask without state.
func (e *env) checkpoint(subs []*subtask, opts backend.SnapshotOptions) []*snapshot.KeyedStateHandle {
	e.t.Helper()
	return handlesOf(e.snapshot(subs, opts))
}

// handlesOf drops the nil handles of subtasks without state.
func handlesOf(hs []*snapshot.KeyedStateHandle) []*snapshot.KeyedStateHandle {
	return slices.DeleteFunc(hs, func(h *snapshot.KeyedStateHandle) bool { return h == nil })
}

// snapshot is checkpoint returning each subtask's handle, nil where a backend wrote none.
func (e *env) snapshot(subs []*subtask, opts backend.SnapshotOptions) []*snapshot.KeyedStateHandle {
	e.t.Helper()
	return e.drive(subs, backend.SnapshotOperatorOptions{Snapshot: opts})
}

// snapshotWhile runs s's synchronous phase, then change, then the asynchronous phase (beside
// change if concurrent), completes the checkpoint and returns its handles: none if s wrote
// none.
func (e *env) snapshotWhile(s *subtask, opts backend.SnapshotOptions, concurrent bool, change func()) []*snapshot.KeyedStateHandle {
	e.t.Helper()
	o := backend.SnapshotOperatorOptions{Snapshot: opts, AfterSync: change}
	if concurrent {
		o.AfterSync, o.During = nil, func() error { change(); return nil }
	}
	return handlesOf(e.drive([]*subtask{s}, o))
}

// drive takes the next checkpoint of subs with backend.SnapshotOperator, the one snapshot
// driver outside the runtime, and returns each subtask's handle.
func (e *env) drive(subs []*subtask, o backend.SnapshotOperatorOptions) []*snapshot.KeyedStateHandle {
	e.t.Helper()
	e.next++
	p, err := e.cps.Begin(e.next)
	if err != nil {
		e.t.Fatal(err)
	}
	bs := make([]backend.Keyed, len(subs))
	for i, s := range subs {
		bs[i] = s.b
	}
	o.Metadata = func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
		return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: len(subs), MaxParallelism: MaxP, Keyed: hs}}}
	}
	res, err := backend.SnapshotOperator(e.ctx, e.next, bs, p, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Handles
}

func closeAll(subs []*subtask) {
	for _, s := range subs {
		s.b.Close()
	}
}

// route returns the subtask that owns key.
func route(subs []*subtask, key int64) *subtask {
	kg, _ := subs[0].kb.KeyGroupOf(key)
	return subs[keygroup.OperatorIndex(MaxP, len(subs), kg)]
}

// CountingReader counts the bytes read through it, per file.
type CountingReader struct {
	R     snapshot.Reader
	total atomic.Int64
}

// ReadRange implements snapshot.Reader.
func (c *CountingReader) ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error) {
	b, err := c.R.ReadRange(ctx, path, off, n)
	c.total.Add(int64(len(b)))
	return b, err
}

// Reset zeroes the count and returns what it was.
func (c *CountingReader) Reset() int64 { return c.total.Swap(0) }
