package lsm_test

import (
	"context"
	"fmt"
	"os"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// Example counts words in an lsm backend whose block cache and memtables come from a slot's
// memory budget, takes an incremental checkpoint, and restores it into a new backend.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "lsm-example-")
	defer os.RemoveAll(dir)

	slot, _ := lsm.NewSlotResources(lsm.SlotOptions{Budget: 64 << 20}) // half cache, half memtables
	defer slot.Close()
	opts := lsm.Options{
		Options: backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
			KeySerializerID: serde.String{}.ID()},
		Dir: dir, Slot: slot, Incremental: true,
	}
	b, err := lsm.New(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	kb, _ := state.NewKeyedBackend[string](b, serde.String{})
	count, _ := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
	for _, w := range []string{"to", "be", "or", "not", "to", "be"} {
		_ = kb.SetCurrentKey(w)
		n, _, _ := count.Value()
		_ = count.Update(n + 1)
	}

	st, _ := blobstore.OpenURL(ctx, "file://"+dir+"/checkpoints")
	defer st.Close()
	cps, _ := checkpoint.Open(ctx, st, "wordcount", checkpoint.Options{})
	p, _ := cps.Begin(1)
	snap, _ := b.Snapshot(1, backend.SnapshotOptions{}) // flush + hard links
	h, _ := snap.Run(ctx, p)                            // uploads the SST files to shared/
	_ = p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "counter", Parallelism: 1,
		MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{h}}}})
	_ = b.NotifyCheckpointComplete(1)
	_ = b.Close()

	opts.Restore, opts.Reader = []*snapshot.KeyedStateHandle{h}, cps.Reader()
	r, err := lsm.New(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	rkb, _ := state.NewKeyedBackend[string](r, serde.String{})
	rcount, _ := state.GetValueState(rkb, state.ValueDescriptor[int64]{Name: "count"})
	for _, w := range []string{"to", "be", "or"} {
		_ = rkb.SetCurrentKey(w)
		n, _, _ := rcount.Value()
		fmt.Println(w, n)
	}
	// Output:
	// to 2
	// be 2
	// or 1
}
