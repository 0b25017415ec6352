package heap_test

import (
	"context"
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

// TestIncrementalClaimForeignChain: job dst claims a hashmap chain checkpoint of job src
// (checkpoint.ClaimCheckpoint) and takes its own checkpoint, which retention lets subsume the
// claimed one. dst's checkpoint must restore with dst's Reader and hold every key: the chain
// it continues lies in src's directory, so its paths must be adopted ones (or the checkpoint
// a new base), never src's "shared/..." paths read relative to dst's directory.
func TestIncrementalClaimForeignChain(t *testing.T) {
	ctx := context.Background()
	st := checkpointtest.NewMemStorage()
	src, err := checkpoint.Open(ctx, st, "src", checkpoint.Options{NumRetained: 1})
	must(t, err)
	e := &incEnv{t: t, ctx: ctx, cps: src}
	e.open(nil, false, heap.IncrementalOptions{})
	e.set(0, 1000, 1)
	e.checkpoint(backend.SnapshotOptions{}, true)
	e.set(0, 10, 2)
	e.checkpoint(backend.SnapshotOptions{}, true) // src chk-2: a base and a delta
	e.b.Close()

	dst, err := checkpoint.Open(ctx, st, "dst", checkpoint.Options{NumRetained: 1})
	must(t, err)
	m, r, err := dst.ClaimCheckpoint(ctx, "src", 2)
	must(t, err)
	open := func(hs []*snapshot.KeyedStateHandle, rd snapshot.Reader, claim bool) (*heap.Backend, *state.KeyedBackend[int64], state.ValueState[int64]) {
		b, err := heap.NewIncremental(ctx, backend.Options{OperatorID: "op", MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
			KeySerializerID: serde.Int64{}.ID(), Restore: hs, Reader: rd, Claim: claim}, heap.IncrementalOptions{})
		must(t, err)
		kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
		must(t, err)
		v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
		must(t, err)
		return b, kb, v
	}
	e = &incEnv{t: t, ctx: ctx, cps: dst}
	e.b, e.kb, e.v = open(m.Operators[0].Keyed, r, true)
	e.set(10, 20, 3)
	e.checkpoint(backend.SnapshotOptions{}, true) // dst chk-1 subsumes the claimed checkpoint
	e.b.Close()
	if c := dst.Claimed(); c != "" {
		t.Fatalf("claimed snapshot %s not deleted after a subsuming checkpoint", c)
	}

	got, err := dst.Load(ctx, 1)
	must(t, err)
	b, kb, v := open(got.Operators[0].Keyed, dst.Reader(), false)
	defer b.Close()
	for _, c := range []struct{ k, v int64 }{{0, 2}, {15, 3}, {500, 1}} {
		must(t, kb.SetCurrentKey(c.k))
		x, ok, err := v.Value()
		must(t, err)
		if !ok || x != c.v {
			t.Errorf("key %d restored as %d, want %d", c.k, x, c.v)
		}
	}
}
