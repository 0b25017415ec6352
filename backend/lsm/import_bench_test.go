package lsm

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// BenchmarkRescaleRestore restores the incremental checkpoints of 2 subtasks (200k keys each,
// 100-byte values) into 1: one handle is the base, the other is imported (SST ingestion).
func BenchmarkRescaleRestore(b *testing.B) {
	const keys = 400_000
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cps, err := checkpoint.Open(ctx, st, "bench", checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, _ := cps.Begin(1)
	var hs []*snapshot.KeyedStateHandle
	for i := range 2 {
		be, err := New(ctx, Options{Options: backend.Options{MaxParallelism: 128,
			KeyGroupRange: keygroup.RangeFor(128, 2, i), KeySerializerID: "int64"}, Dir: b.TempDir(), Incremental: true})
		if err != nil {
			b.Fatal(err)
		}
		kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
		v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
		val := make([]byte, 100)
		for k := int64(0); k < keys; k++ {
			if kg, _ := kb.KeyGroupOf(k); !be.rng.Contains(kg) {
				continue
			}
			_ = kb.SetCurrentKey(k)
			_ = v.Update(val)
		}
		s, err := be.Snapshot(1, backend.SnapshotOptions{})
		if err != nil {
			b.Fatal(err)
		}
		h, err := s.Run(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, h)
		be.Close()
	}
	for b.Loop() {
		be, err := New(ctx, Options{Options: backend.Options{MaxParallelism: 128,
			KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: "int64", Restore: hs, Reader: cps.Reader()},
			Dir: b.TempDir(), Incremental: true})
		if err != nil {
			b.Fatal(err)
		}
		be.Close()
	}
}
