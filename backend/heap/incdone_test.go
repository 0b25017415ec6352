package heap

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestIncrementalUnconfirmedChainsBounded: a job whose checkpoints never complete (each one
// aborted, or its notification lost) keeps running for days; the chains the backend keeps for
// confirmations must stay bounded, not grow by one per checkpoint. A chain of a checkpoint
// older than the last synchronous phase can never be confirmed (confirm ignores it).
func TestIncrementalUnconfirmedChainsBounded(t *testing.T) {
	ctx := context.Background()
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "job", checkpoint.Options{NumRetained: 1})
	must(t, err)
	b, err := NewIncremental(ctx, backend.Options{OperatorID: "op", MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
		KeySerializerID: serde.Int64{}.ID()}, IncrementalOptions{MaxDeltas: 2})
	must(t, err)
	defer b.Close()
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	const n = 50
	for id := int64(1); id <= n; id++ {
		must(t, kb.SetCurrentKey(id))
		must(t, v.Update(id))
		p, err := cps.Begin(id)
		must(t, err)
		a, err := b.Snapshot(id, backend.SnapshotOptions{})
		must(t, err)
		if _, err := a.Run(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Abort(ctx)
		if id%2 == 0 {
			must(t, b.NotifyCheckpointAborted(id)) // the others' notifications are lost
		}
	}
	b.inc.mu.Lock()
	kept := len(b.inc.done)
	b.inc.mu.Unlock()
	if kept > 2 {
		t.Errorf("after %d unconfirmed checkpoints the backend keeps %d chains for confirmations, want at most 2", n, kept)
	}
}
