package state_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
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

// State TTL with processing time: each user's last page expires 30 minutes after it was
// written. The backend's clock is a manual one here; in a job it is the job's clock.
func ExampleValueDescriptor_ttl() {
	now := int64(0) // ms
	clock := &backend.Clock{ProcessingTime: func() int64 { return now }}
	b, _ := heap.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.String{}.ID(), Clock: clock})
	kb, _ := state.NewKeyedBackend[string](b, serde.String{})
	lastPage, _ := state.GetValueState(kb, state.ValueDescriptor[string]{Name: "last-page",
		TTL: ttl.Config{TTL: 30 * time.Minute}})

	_ = kb.SetCurrentKey("alice")
	_ = lastPage.Update("home")
	now += (20 * time.Minute).Milliseconds()
	_ = kb.SetCurrentKey("bob")
	_ = lastPage.Update("cart")
	now += (15 * time.Minute).Milliseconds() // alice's page is 35 minutes old, bob's 15

	for _, user := range []string{"alice", "bob"} {
		_ = kb.SetCurrentKey(user)
		page, ok, _ := lastPage.Value()
		fmt.Printf("%s: %q %v\n", user, page, ok)
	}
	// Output:
	// alice: "" false
	// bob: "cart" true
}

// State TTL with event time: a map entry is stamped with the timestamp of the record that
// wrote it and expires, on its own, once the watermark reaches that timestamp + TTL. In a job
// the runtime sets the record's timestamp and the watermark; here they are set by hand.
func ExampleMapDescriptor_ttl() {
	clock := &backend.Clock{}
	b, _ := heap.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.RangeFor(128, 1, 0), KeySerializerID: serde.String{}.ID(), Clock: clock})
	kb, _ := state.NewKeyedBackend[string](b, serde.String{})
	cart, _ := state.GetMapState(kb, state.MapDescriptor[string, int]{Name: "cart",
		TTL: ttl.Config{TTL: time.Hour, Time: ttl.EventTime}})

	_ = kb.SetCurrentKey("alice")
	minute := time.Minute.Milliseconds()
	clock.SetTimestamp(0) // a record at 00:00 adds a book
	_ = cart.Put("book", 1)
	clock.SetTimestamp(40 * minute) // a record at 00:40 adds two pens
	_ = cart.Put("pen", 2)

	for _, wm := range []int64{59 * minute, 60 * minute, 100 * minute} {
		clock.AdvanceWatermark(wm)
		var items []string
		for item, err := range cart.Keys() {
			if err == nil {
				items = append(items, item)
			}
		}
		slices.Sort(items)
		fmt.Printf("watermark %3d min: %v\n", wm/minute, items)
	}
	// Output:
	// watermark  59 min: [book pen]
	// watermark  60 min: [pen]
	// watermark 100 min: []
}
