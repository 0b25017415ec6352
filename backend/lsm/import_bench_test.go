package lsm

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// rescaleCheckpoint writes the incremental checkpoints of 2 subtasks holding keys int64 keys
// in all (100-byte values: zeros, or random with STREAMSTATE_BENCH_RESCALE_RANDOM set) and
// returns their handles and the reader of their storage.
func rescaleCheckpoint(b *testing.B, keys int64) ([]*snapshot.KeyedStateHandle, snapshot.Reader) {
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cps, err := checkpoint.Open(ctx, st, "bench", checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p, _ := cps.Begin(1)
	var hs []*snapshot.KeyedStateHandle
	// Zero values compress to almost nothing; random ones give a database of the state's size,
	// with many SSTs of narrow key spans once compacted.
	random := os.Getenv("STREAMSTATE_BENCH_RESCALE_RANDOM") != ""
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 2 {
		be, err := New(ctx, Options{Options: backend.Options{MaxParallelism: 128,
			KeyGroupRange: keygroup.RangeFor(128, 2, i), KeySerializerID: "int64"}, Dir: b.TempDir(), Incremental: true})
		if err != nil {
			b.Fatal(err)
		}
		kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
		v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
		for k := int64(0); k < keys; k++ {
			if kg, _ := kb.KeyGroupOf(k); !be.rng.Contains(kg) {
				continue
			}
			_ = kb.SetCurrentKey(k)
			val := make([]byte, 100)
			for j := 0; random && j+8 <= len(val); j += 8 {
				binary.LittleEndian.PutUint64(val[j:], rnd.Uint64())
			}
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
	return hs, cps.Reader()
}

// benchmarkRestore restores hs into subtask i of p, b.N times.
func benchmarkRestore(b *testing.B, hs []*snapshot.KeyedStateHandle, r snapshot.Reader, p, i int) {
	ctx := context.Background()
	for b.Loop() {
		be, err := New(ctx, Options{Options: backend.Options{MaxParallelism: 128,
			KeyGroupRange: keygroup.RangeFor(128, p, i), KeySerializerID: "int64", Restore: hs, Reader: r},
			Dir: b.TempDir(), Incremental: true})
		if err != nil {
			b.Fatal(err)
		}
		be.Close()
	}
}

// rescaleKeys is the number of keys of the rescale benchmarks: 400,000, or
// STREAMSTATE_BENCH_RESCALE_KEYS (a larger state has more SSTs, of narrower key spans).
func rescaleKeys(b *testing.B) int64 {
	if v := os.Getenv("STREAMSTATE_BENCH_RESCALE_KEYS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("STREAMSTATE_BENCH_RESCALE_KEYS=%q is not a positive number", v)
		}
		return n
	}
	return 400_000
}

// BenchmarkRescaleRestore restores the incremental checkpoints of 2 subtasks (200k keys each,
// 100-byte values) into 1: one handle is the base, the other is imported (SST ingestion).
func BenchmarkRescaleRestore(b *testing.B) {
	hs, r := rescaleCheckpoint(b, rescaleKeys(b))
	benchmarkRestore(b, hs, r, 1, 0)
}

// BenchmarkRescaleRestoreScaleOut restores the same checkpoints at a higher parallelism:
// 2to3 is subtask 1 of 3 (a third of each handle's key groups: the base clipped on both
// sides, a part of the other imported), 2to4 subtask 0 of 4 (half of one handle: a clip only).
func BenchmarkRescaleRestoreScaleOut(b *testing.B) {
	hs, r := rescaleCheckpoint(b, rescaleKeys(b))
	b.Run("2to3", func(b *testing.B) { benchmarkRestore(b, hs, r, 3, 1) })
	b.Run("2to4", func(b *testing.B) { benchmarkRestore(b, hs, r, 4, 0) })
}
