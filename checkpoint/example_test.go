package checkpoint_test

import (
	"context"
	"fmt"
	"log"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// A job takes three checkpoints into in-memory storage, keeping the last two, and restores
// the latest.
func ExampleCheckpoints() {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "mem://") // or file:///var/lib/job, s3://bucket/prefix?...
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "wordcount", checkpoint.Options{NumRetained: 2})
	if err != nil {
		log.Fatal(err)
	}

	const maxP = 128
	states := []snapshot.StateMeta{{Name: "count", Kind: snapshot.KindValue, Value: "int64"}}
	for range 3 {
		id, err := cps.NextID(ctx)
		if err != nil {
			log.Fatal(err)
		}
		p, err := cps.Begin(id)
		if err != nil {
			log.Fatal(err)
		}
		// One subtask writes its key groups in the canonical full format.
		out, err := p.Create(ctx, "counter-0")
		if err != nil {
			log.Fatal(err)
		}
		w := snapshot.NewFullWriter(out, keygroup.Range{Start: 0, End: maxP - 1}, "string", states, snapshot.CompressionNone)
		key := []byte("hello")
		if err := w.BeginKeyGroup(keygroup.Of(key, maxP)); err != nil {
			log.Fatal(err)
		}
		w.Value(0, key, nil, fmt.Appendf(nil, "%d", 10*id))
		h, err := w.Finish()
		if err != nil {
			log.Fatal(err)
		}
		// The metadata is written last: from then on the checkpoint exists.
		m := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{
			ID: "counter", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}
		if err := p.Complete(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
	ids, err := cps.Completed(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("completed:", ids)

	m, err := cps.Restore(ctx, func(m *snapshot.Metadata) error {
		h := m.Operator("counter").Keyed[0]
		return snapshot.ReadKeyGroups(ctx, cps.Reader(), h, h.KeyGroupRange, func(kg int, r *snapshot.Record) error {
			fmt.Printf("%s = %s\n", r.Key, r.Value)
			return nil
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored checkpoint", m.CheckpointID)
	// Output:
	// completed: [2 3]
	// hello = 30
	// restored checkpoint 3
}
