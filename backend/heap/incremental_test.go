package heap_test

import (
	"context"
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

// incEnv is one incremental backend over all 128 key groups with a value state of int64 keys,
// and checkpoint storage in memory.
type incEnv struct {
	t   *testing.T
	ctx context.Context
	cps *checkpoint.Checkpoints
	b   *heap.Backend
	kb  *state.KeyedBackend[int64]
	v   state.ValueState[int64]
	id  int64
}

func newIncEnv(t *testing.T, o heap.IncrementalOptions) *incEnv {
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "job", checkpoint.Options{NumRetained: 5})
	must(t, err)
	e := &incEnv{t: t, ctx: ctx, cps: cps}
	e.open(nil, false, o)
	return e
}

// open replaces the backend by one restored from hs.
func (e *incEnv) open(hs []*snapshot.KeyedStateHandle, claim bool, o heap.IncrementalOptions) {
	if e.b != nil {
		e.b.Close()
	}
	b, err := heap.NewIncremental(e.ctx, backend.Options{OperatorID: "op", MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
		KeySerializerID: serde.Int64{}.ID(), Restore: hs, Reader: e.cps.Reader(), Claim: claim}, o)
	must(e.t, err)
	e.b = b
	e.kb, err = state.NewKeyedBackend[int64](b, serde.Int64{})
	must(e.t, err)
	e.v, err = state.GetValueState(e.kb, state.ValueDescriptor[int64]{Name: "v"})
	must(e.t, err)
}

// set writes v to keys [from, to).
func (e *incEnv) set(from, to, v int64) {
	for k := from; k < to; k++ {
		must(e.t, e.kb.SetCurrentKey(k))
		must(e.t, e.v.Update(v))
	}
}

// checkpoint takes and completes the next checkpoint, notifies the backend if notify, and
// returns its handle.
func (e *incEnv) checkpoint(opts backend.SnapshotOptions, notify bool) *snapshot.KeyedStateHandle {
	e.id++
	p, err := e.cps.Begin(e.id)
	must(e.t, err)
	a, err := e.b.Snapshot(e.id, opts)
	must(e.t, err)
	h, err := a.Run(e.ctx, p)
	must(e.t, err)
	must(e.t, p.Complete(e.ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128,
		Keyed: []*snapshot.KeyedStateHandle{h}}}}))
	if notify {
		must(e.t, e.b.NotifyCheckpointComplete(e.id))
	}
	return h
}

func chainOf(t *testing.T, h *snapshot.KeyedStateHandle) []*snapshot.KeyedStateHandle {
	t.Helper()
	if h.Incremental == nil || h.Incremental.Backend != snapshot.HashmapChainBackend {
		t.Fatalf("handle %+v is not a hashmap chain", h)
	}
	return h.Incremental.Chain
}

// TestIncrementalDelta: after a confirmed base of 10,000 keys, a checkpoint with 1% of the
// keys changed and some removed writes a delta of under 5% of the base's bytes on the base;
// one without a change writes nothing new; a lost notification makes the next delta build on
// the last confirmed chain, holding both checkpoints' changes.
func TestIncrementalDelta(t *testing.T) {
	e := newIncEnv(t, heap.IncrementalOptions{})
	e.set(0, 10_000, 1)
	base := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))
	if len(base) != 1 || base[0].Delta {
		t.Fatalf("first checkpoint: %d handles, want a base", len(base))
	}
	e.set(0, 100, 2)
	for k := int64(100); k < 110; k++ {
		must(t, e.kb.SetCurrentKey(k))
		must(t, e.v.Clear())
	}
	c2 := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))
	if len(c2) != 2 || c2[0].File != base[0].File || !c2[1].Delta {
		t.Fatalf("second checkpoint: %+v, want the base and a delta", c2)
	}
	if c2[1].File.Size*20 > base[0].File.Size {
		t.Errorf("delta of %d bytes for 1%% of the keys changed, base %d: want under 5%%", c2[1].File.Size, base[0].File.Size)
	}
	if c3 := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true)); len(c3) != 2 || c3[1].File != c2[1].File {
		t.Errorf("checkpoint without a change: %+v, want the second's chain", c3)
	}
	e.set(200, 210, 3)
	c4 := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, false)) // notification lost
	e.set(300, 310, 4)
	c5 := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))
	if len(c4) != 3 || len(c5) != 3 || c5[1].File != c2[1].File || c5[2].File == c4[2].File {
		t.Fatalf("after a lost notification: %d and %d handles, want both deltas on the third's chain", len(c4), len(c5))
	}
	e.open([]*snapshot.KeyedStateHandle{{KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializer: "int64",
		States: c5[2].States, Incremental: &snapshot.IncrementalHandle{Backend: snapshot.HashmapChainBackend, Chain: c5}}}, false, heap.IncrementalOptions{})
	for _, c := range []struct {
		k, v int64
		ok   bool
	}{{0, 2, true}, {99, 2, true}, {100, 0, false}, {109, 0, false}, {110, 1, true}, {205, 3, true}, {305, 4, true}, {9999, 1, true}} {
		must(t, e.kb.SetCurrentKey(c.k))
		v, ok, err := e.v.Value()
		must(t, err)
		if v != c.v || ok != c.ok {
			t.Errorf("key %d restored as %d,%v, want %d,%v", c.k, v, ok, c.v, c.ok)
		}
	}
}

// TestIncrementalClaim: the first checkpoint after a restore is a delta on the restored chain
// when the restore claims it, and a new base when it does not.
func TestIncrementalClaim(t *testing.T) {
	for _, claim := range []bool{false, true} {
		e := newIncEnv(t, heap.IncrementalOptions{})
		e.set(0, 1000, 1)
		e.checkpoint(backend.SnapshotOptions{}, true)
		e.set(0, 10, 2)
		h := e.checkpoint(backend.SnapshotOptions{}, true)
		e.open([]*snapshot.KeyedStateHandle{h}, claim, heap.IncrementalOptions{})
		e.set(10, 20, 3)
		c := chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))
		restored := chainOf(t, h)
		if claim && (len(c) != 3 || c[0].File != restored[0].File || c[1].File != restored[1].File) {
			t.Errorf("claim: %d handles, want the restored chain's 2 and a delta", len(c))
		}
		if !claim && (len(c) != 1 || c[0].File == restored[0].File) {
			t.Errorf("no claim: %d handles, want a new base", len(c))
		}
	}
}

// TestIncrementalConsolidation: a chain of MaxDeltas deltas, or whose deltas exceed
// MaxDeltaRatio of its base's bytes, is followed by a new base; savepoints stay full.
func TestIncrementalConsolidation(t *testing.T) {
	e := newIncEnv(t, heap.IncrementalOptions{MaxDeltas: 2})
	e.set(0, 1000, 0)
	var lens []int
	for i := range 5 {
		e.set(0, 10, int64(i))
		lens = append(lens, len(chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))))
	}
	if want := []int{1, 2, 3, 1, 2}; !slices.Equal(lens, want) {
		t.Errorf("MaxDeltas 2: chains of %v handles, want %v", lens, want)
	}
	e = newIncEnv(t, heap.IncrementalOptions{MaxDeltaRatio: 0.05})
	e.set(0, 1000, 0)
	lens = nil
	for i := range 4 {
		e.set(0, 100, int64(i)) // 10% of the keys: each delta is over 5% of the base
		lens = append(lens, len(chainOf(t, e.checkpoint(backend.SnapshotOptions{}, true))))
	}
	if want := []int{1, 2, 1, 2}; !slices.Equal(lens, want) {
		t.Errorf("MaxDeltaRatio 0.05: chains of %v handles, want %v", lens, want)
	}
	if h := e.checkpoint(backend.SnapshotOptions{Savepoint: true}, true); h.Incremental != nil {
		t.Errorf("a savepoint of an incremental backend is %+v, want a full handle", h.Incremental)
	}
}

// TestIncrementalUnconfirmed: without notifications the deltas keep building on the last
// confirmed chain, each holding all changes since; after 2 x MaxDeltas unconfirmed
// checkpoints the next writes a base, whose confirmation counts.
func TestIncrementalUnconfirmed(t *testing.T) {
	e := newIncEnv(t, heap.IncrementalOptions{MaxDeltas: 2})
	e.set(0, 1000, 0)
	var lens []int
	for i, notify := range []bool{true, false, false, false, false, true, true} {
		e.set(int64(i)*10, int64(i)*10+10, int64(i))
		lens = append(lens, len(chainOf(t, e.checkpoint(backend.SnapshotOptions{}, notify))))
	}
	if want := []int{1, 2, 2, 2, 2, 1, 2}; !slices.Equal(lens, want) {
		t.Errorf("chains of %v handles, want %v", lens, want)
	}
}

// TestIncrementalOptionsValidate: out-of-range options are refused by NewIncremental.
func TestIncrementalOptionsValidate(t *testing.T) {
	for _, o := range []heap.IncrementalOptions{{MaxDeltas: -1}, {MaxDeltas: snapshot.MaxChainLength}, {MaxDeltaRatio: -0.5}} {
		_, err := heap.NewIncremental(context.Background(), backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
			KeySerializerID: "int64"}, o)
		if err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
