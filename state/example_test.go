package state_test

import (
	"context"
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// Count words per key, checkpoint, and restore at parallelism 2.
func Example() {
	ctx := context.Background()
	opts := backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.String{}.ID()}
	b, _ := heap.New(ctx, opts)
	kb, _ := state.NewKeyedBackend[string](b, serde.String{})
	count, _ := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
	for _, w := range []string{"to", "be", "or", "not", "to", "be", "that", "is", "the", "question"} {
		_ = kb.SetCurrentKey(w)
		n, _, _ := count.Value()
		_ = count.Update(n + 1)
	}

	st, _ := blobstore.OpenURL(ctx, "mem://")
	cps, _ := checkpoint.Open(ctx, st, "wordcount", checkpoint.Options{})
	pending, _ := cps.Begin(1)
	snap, _ := b.Snapshot(1, backend.SnapshotOptions{})
	handle, _ := snap.Run(ctx, pending)
	_ = pending.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
		ID: "count", Parallelism: 1, MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{handle}}}})

	md, _ := cps.Restore(ctx, func(*snapshot.Metadata) error { return nil })
	for i := range 2 {
		opts.KeyGroupRange = keygroup.RangeFor(128, 2, i)
		opts.Restore, opts.Reader = md.Operator("count").Keyed, cps.Reader()
		sub, _ := heap.New(ctx, opts)
		kb, _ := state.NewKeyedBackend[string](sub, serde.String{})
		count, _ := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "count"})
		for _, w := range []string{"be", "is", "not", "or", "question", "that", "the", "to"} {
			if kb.SetCurrentKey(w) != nil {
				continue // another subtask owns this word's key group
			}
			n, _, _ := count.Value()
			fmt.Printf("subtask %d: %s=%d\n", i, w, n)
		}
	}
	// Output:
	// subtask 0: be=2
	// subtask 0: is=1
	// subtask 0: not=1
	// subtask 0: or=1
	// subtask 0: question=1
	// subtask 0: that=1
	// subtask 0: to=2
	// subtask 1: the=1
}

// Session windows merge: list state of two windows folded into one.
func ExampleListState_MergeNamespaces() {
	b, _ := heap.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.Int64{}.ID()})
	kb, _ := state.NewKeyedBackend[int64](b, serde.Int64{})
	clicks, _ := state.GetListState(kb, state.ListDescriptor[string]{Name: "clicks"})
	_ = kb.SetCurrentKey(7)
	clicks.SetNamespace([]byte("window-1"))
	_ = clicks.Add("home")
	clicks.SetNamespace([]byte("window-2"))
	_ = clicks.Add("cart")
	_ = clicks.MergeNamespaces([]byte("window-1"), [][]byte{[]byte("window-2")})
	clicks.SetNamespace([]byte("window-1"))
	for c := range clicks.Get() {
		fmt.Println(c)
	}
	// Output:
	// home
	// cart
}
