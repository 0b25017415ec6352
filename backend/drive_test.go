package backend_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

const maxP = 16

// target records what SnapshotOperator does with the pending checkpoint it wraps.
type target struct {
	*checkpoint.Pending
	calls        []string
	failComplete error
}

func (t *target) Complete(ctx context.Context, m *snapshot.Metadata) error {
	t.calls = append(t.calls, "complete")
	if t.failComplete != nil { // as Complete does on error: the files go
		return errors.Join(t.failComplete, t.Pending.Abort(ctx))
	}
	return t.Pending.Complete(ctx, m)
}

func (t *target) Abort(ctx context.Context) error {
	t.calls = append(t.calls, "abort")
	return t.Pending.Abort(ctx)
}

// listening is a backend whose async phase may fail and that records its notifications.
type listening struct {
	backend.Keyed
	failRun  error
	notified []string
}

func (l *listening) Snapshot(id int64, opts backend.SnapshotOptions) (backend.AsyncSnapshot, error) {
	a, err := l.Keyed.Snapshot(id, opts)
	if err != nil || l.failRun == nil {
		return a, err
	}
	a.Release()
	return failingRun{l.failRun}, nil
}

func (l *listening) NotifyCheckpointComplete(int64) error {
	l.notified = append(l.notified, "complete")
	return nil
}

func (l *listening) NotifyCheckpointAborted(int64) error {
	l.notified = append(l.notified, "aborted")
	return nil
}

type failingRun struct{ err error }

func (f failingRun) Run(context.Context, snapshot.StreamFactory) (*snapshot.KeyedStateHandle, error) {
	return nil, f.err
}
func (failingRun) Release() {}

// open creates the p subtasks of one operator, restored from handles, each wrapped.
func open(t *testing.T, p int, handles []*snapshot.KeyedStateHandle, r snapshot.Reader) ([]*listening, []*state.KeyedBackend[int64]) {
	t.Helper()
	var subs []*listening
	var kbs []*state.KeyedBackend[int64]
	for i := range p {
		b, err := heap.New(context.Background(), backend.Options{OperatorID: "op", MaxParallelism: maxP,
			KeyGroupRange: keygroup.RangeFor(maxP, p, i), KeySerializerID: serde.Int64{}.ID(), Restore: handles, Reader: r})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		if err != nil {
			t.Fatal(err)
		}
		subs, kbs = append(subs, &listening{Keyed: b}), append(kbs, kb)
	}
	return subs, kbs
}

func keyed(subs []*listening) []backend.Keyed {
	bs := make([]backend.Keyed, len(subs))
	for i, s := range subs {
		bs[i] = s
	}
	return bs
}

func TestSnapshotOperator(t *testing.T) {
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	subs, kbs := open(t, 2, nil, nil)
	desc := state.ValueDescriptor[int64]{Name: "v"}
	write := func(key, val int64) {
		kg, _ := kbs[0].KeyGroupOf(key)
		kb := kbs[keygroup.OperatorIndex(maxP, 2, kg)]
		vs, err := state.GetValueState(kb, desc)
		if err != nil {
			t.Fatal(err)
		}
		if err := kb.SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		if err := vs.Update(val); err != nil {
			t.Fatal(err)
		}
	}
	for k := range int64(20) {
		write(k, k*10)
	}
	p, err := cps.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{Pending: p}
	var order []string
	res, err := backend.SnapshotOperator(ctx, 1, keyed(subs), tg, backend.SnapshotOperatorOptions{
		Metadata: func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
			order = append(order, "metadata")
			return checkpointtest.Metadata(maxP, hs...)
		},
		AfterSync: func() { order = append(order, "after-sync") },
		During: func() error {
			order = append(order, "during")
			for k := range int64(20) { // after the synchronous phase: not in the snapshot
				write(k, -1)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"after-sync", "during", "metadata"}) || !slices.Equal(tg.calls, []string{"complete"}) {
		t.Errorf("order %v, target calls %v", order, tg.calls)
	}
	for i, s := range subs {
		if !slices.Equal(s.notified, []string{"complete"}) || res.Handles[i] == nil {
			t.Errorf("subtask %d: notified %v, handle %v", i, s.notified, res.Handles[i])
		}
	}
	// The checkpoint restores the state as of its synchronous phase, at another parallelism.
	_, kbs = open(t, 1, res.Handles, cps.Reader())
	vs, err := state.GetValueState(kbs[0], desc)
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(20) {
		if err := kbs[0].SetCurrentKey(k); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := vs.Value(); err != nil || !ok || v != k*10 {
			t.Errorf("key %d restored as %d, %v, %v; want %d", k, v, ok, err, k*10)
		}
	}
	if ids, err := cps.Completed(ctx); err != nil || !slices.Equal(ids, []int64{1}) {
		t.Errorf("completed checkpoints %v, %v; want [1]", ids, err)
	}
}

func TestSnapshotOperatorAborts(t *testing.T) {
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "job", checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		fail   func(subs []*listening, o *backend.SnapshotOperatorOptions, tg *target)
		target []string
	}{
		{"async phase", func(subs []*listening, _ *backend.SnapshotOperatorOptions, _ *target) { subs[1].failRun = boom }, []string{"abort"}},
		{"during", func(_ []*listening, o *backend.SnapshotOperatorOptions, _ *target) {
			o.During = func() error { return boom }
		}, []string{"abort"}},
		// Complete cleans up itself: no second abort.
		{"complete", func(_ []*listening, _ *backend.SnapshotOperatorOptions, tg *target) { tg.failComplete = boom }, []string{"complete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subs, _ := open(t, 2, nil, nil)
			id, err := cps.NextID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p, err := cps.Begin(id)
			if err != nil {
				t.Fatal(err)
			}
			o := backend.SnapshotOperatorOptions{Metadata: func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
				return checkpointtest.Metadata(maxP, hs...)
			}}
			tg := &target{Pending: p}
			tc.fail(subs, &o, tg)
			_, err = backend.SnapshotOperator(ctx, id, keyed(subs), tg, o)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, boom) {
				t.Errorf("error %v does not wrap the cause", err)
			}
			if !slices.Equal(tg.calls, tc.target) {
				t.Errorf("target calls %v, want %v", tg.calls, tc.target)
			}
			for i, s := range subs {
				if !slices.Equal(s.notified, []string{"aborted"}) {
					t.Errorf("subtask %d notified %v, want [aborted]", i, s.notified)
				}
			}
			if ids, _ := cps.Completed(ctx); slices.Contains(ids, id) {
				t.Errorf("checkpoint %d completed", id)
			}
		})
	}
}
