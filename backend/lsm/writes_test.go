package lsm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// TestFailedCommitSticks: when a commit of batched writes fails, those writes are lost, so
// every later call and every checkpoint fails with that error; the last completed checkpoint
// still restores the state from before the failure.
func TestFailedCommitSticks(t *testing.T) {
	for _, incremental := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "incremental"}[incremental], func(t *testing.T) {
			j := newJob(t, 1)
			all := keygroup.Range{Start: 0, End: maxP - 1}
			open := func(restore []*checkpoint.KeyedStateHandle) (*lsm.Backend, *state.KeyedBackend[int64], state.ValueState[int64]) {
				b := lsmNew(incremental)(t, backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: all,
					KeySerializerID: serde.Int64{}.ID(), Restore: restore, Reader: j.cps.Reader()}).(*lsm.Backend)
				kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
				must(t, err)
				v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
				must(t, err)
				return b, kb, v
			}
			b, kb, v := open(nil)
			for k := int64(0); k < 10; k++ {
				must(t, kb.SetCurrentKey(k))
				must(t, v.Update(k))
			}
			h := j.checkpoint(t, b, 1, true)

			for k := int64(0); k < 10; k++ { // batched, not yet committed
				must(t, kb.SetCurrentKey(k))
				must(t, v.Update(-k))
			}
			lost := errors.New("no room for a memtable")
			b.FailCommits(lost)
			must(t, kb.SetCurrentKey(3))
			_, _, err := v.Value()
			if !errors.Is(err, lost) || !strings.Contains(err.Error(), "lost 10 state writes") ||
				!strings.Contains(err.Error(), "restore it from the last completed checkpoint") {
				t.Fatalf("read after a failed commit = %v, want the commit's error and the fix", err)
			}
			b.FailCommits(nil) // the database would commit again; the lost writes stay lost
			if err := v.Update(3); !errors.Is(err, lost) {
				t.Fatalf("write after a failed commit = %v, want the commit's error", err)
			}
			if _, _, err := v.Value(); !errors.Is(err, lost) {
				t.Fatalf("second read after a failed commit = %v, want the commit's error", err)
			}
			if _, err := b.Snapshot(2, backend.SnapshotOptions{}); !errors.Is(err, lost) {
				t.Fatalf("checkpoint after a failed commit = %v, want the commit's error", err)
			}
			must(t, b.Close())

			_, kb2, v2 := open([]*checkpoint.KeyedStateHandle{h})
			for k := int64(0); k < 10; k++ {
				must(t, kb2.SetCurrentKey(k))
				if got, ok, err := v2.Value(); err != nil || !ok || got != k {
					t.Fatalf("key %d restored from checkpoint 1 = %d, %v, %v; want %d", k, got, ok, err, k)
				}
			}
		})
	}
}

// TestBatchBelowLargeBatchThreshold: a full batch stays below Pebble's large-batch threshold
// (half a memtable) even for the smallest memtables a slot gives a backend.
func TestBatchBelowLargeBatchThreshold(t *testing.T) {
	for _, size := range []int64{256 << 10, 1 << 20, 4 << 20, 64 << 20} {
		b, err := lsm.New(context.Background(), lsm.Options{Options: backend.Options{OperatorID: "op",
			MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()},
			Dir: t.TempDir(), WriteBufferSize: size})
		must(t, err)
		if got := b.BatchBytes(); got <= 0 || int64(got) > size/4 || got > 256<<10 {
			t.Errorf("memtables of %d bytes: batches of %d bytes, want at most a quarter memtable and 256 KiB", size, got)
		}
		must(t, b.Close())
	}
}
