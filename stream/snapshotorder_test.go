package stream

import (
	"context"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// snapshotWriter writes, in SnapshotState, the checkpoint's id into keyed state of the key
// current at the barrier.
type snapshotWriter struct{ id state.ValueState[int64] }

func (f *snapshotWriter) Open(ctx *RuntimeContext[string]) (err error) {
	f.id, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "snapshot-id"})
	return err
}
func (f *snapshotWriter) ProcessElement(event, *Context[string, string]) error      { return nil }
func (f *snapshotWriter) OnTimer(int64, *Context[string, string]) error             { return nil }
func (f *snapshotWriter) InitializeState(state.FunctionInitializationContext) error { return nil }
func (f *snapshotWriter) SnapshotState(c state.FunctionSnapshotContext) error {
	return f.id.Update(c.CheckpointID())
}

// TestSnapshotStateBeforeBackendSnapshot: a function's SnapshotState runs before the keyed
// backend's synchronous phase (Flink's order), so what it writes into keyed state is in the
// checkpoint it was called for, not the next one.
func TestSnapshotStateBeforeBackendSnapshot(t *testing.T) {
	gate := newReadGate(300)
	g := NewGraph()
	s := FromSource(g, "source", &sliceSource{events: testEvents(600, 4), splits: 1, gate: gate}, WatermarkStrategy{})
	out := Process(KeyBy(s, func(e event) string { return e.Key }, nil), "writer",
		func() KeyedProcessFunction[string, event, string] { return &snapshotWriter{} })
	Sink(out, func(string, int64) error { return nil })
	cps := openCheckpoints(t, t.TempDir())
	completed := make(chan struct{}, 1)
	j, err := Execute(context.Background(), g, Options{StateBackend: heapBackend, Checkpoints: cps,
		Checkpointing: CheckpointConfig{Interval: 5 * time.Millisecond},
		OnCheckpoint: func(s CheckpointStats) {
			if s.Failed == nil {
				select {
				case completed <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	<-gate.reached(300)
	<-completed // a checkpoint after the first records: the writer has a current key
	<-completed
	gate.open()
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := cps.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	op := m.Operator("writer")
	b, err := heap.New(ctx, backend.Options{MaxParallelism: op.MaxParallelism, KeyGroupRange: keygroup.RangeFor(op.MaxParallelism, 1, 0),
		KeySerializerID: serde.String{}.ID(), Restore: op.Keyed, Reader: cps.Reader()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kb, err := state.NewKeyedBackend[string](b, serde.String{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "snapshot-id"})
	if err != nil {
		t.Fatal(err)
	}
	var newest int64
	for key, err := range kb.Keys("snapshot-id", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if err := kb.SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		id, _, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		newest = max(newest, id)
	}
	if newest != m.CheckpointID {
		t.Fatalf("checkpoint %d holds the id written by SnapshotState for checkpoint %d: SnapshotState ran after the keyed snapshot", m.CheckpointID, newest)
	}
}
