package lsm_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// BenchmarkSavepointFormat takes savepoints of 300k keys with random 104-byte values (about 36 MB
// of state; STREAMSTATE_BENCH_SAVEPOINT_KEYS sets another count, e.g. 9000000 for about 1 GB) in
// the canonical and the native format to file:// storage and restores each into a new lsm
// backend, reporting per savepoint the bytes written (MB), the time to take it (take-ms:
// synchronous and asynchronous phase) and to restore it (restore-ms).
func BenchmarkSavepointFormat(b *testing.B) {
	keys := int64(300_000)
	if s := os.Getenv("STREAMSTATE_BENCH_SAVEPOINT_KEYS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("STREAMSTATE_BENCH_SAVEPOINT_KEYS=%q: want a positive key count", s)
		}
		keys = n
	}
	ctx := context.Background()
	opts := backend.Options{OperatorID: "op", MaxParallelism: maxP, KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1},
		KeySerializerID: serde.Int64{}.ID()}
	be, err := lsm.New(ctx, lsm.Options{Options: opts, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
	// Random values: neither format's compression makes the state smaller than it is.
	val := make([]byte, 104)
	rng := rand.New(rand.NewPCG(5, 6))
	for k := int64(0); k < keys; k++ {
		_ = kb.SetCurrentKey(k)
		for i := 0; i < len(val); i += 8 {
			binary.LittleEndian.PutUint64(val[i:], rng.Uint64())
		}
		_ = v.Update(val)
	}
	for _, format := range []backend.SavepointFormatType{backend.SavepointFormatCanonical, backend.SavepointFormatNative} {
		b.Run(format.String(), func(b *testing.B) {
			var written int64
			var take, restore time.Duration
			id := int64(0)
			for b.Loop() {
				id++
				st, err := blobstore.OpenURL(ctx, "file://"+b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				p := checkpoint.BeginSavepoint(st)
				s, err := be.Snapshot(id, backend.SnapshotOptions{Savepoint: true, SavepointFormat: format})
				if err != nil {
					b.Fatal(err)
				}
				h, err := s.Run(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				md := &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: maxP, Keyed: []*snapshot.KeyedStateHandle{h}}}}
				if err := p.Complete(ctx, md); err != nil {
					b.Fatal(err)
				}
				take += time.Since(start)
				for _, f := range md.Files() {
					written += f.Size
				}
				start = time.Now()
				loaded, r, err := checkpoint.LoadSavepoint(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				ro := opts
				ro.Restore, ro.Reader = loaded.Operator("op").Keyed, r
				rb, err := lsm.New(ctx, lsm.Options{Options: ro, Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				restore += time.Since(start)
				_ = rb.Close()
				_ = st.Close()
			}
			n := float64(b.N)
			b.ReportMetric(float64(written)/n/1e6, "MB")
			b.ReportMetric(float64(take.Milliseconds())/n, "take-ms")
			b.ReportMetric(float64(restore.Milliseconds())/n, "restore-ms")
		})
	}
}
