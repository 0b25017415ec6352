package heap_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/streamstate/streamstate/backend"
	heapbackend "github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/checkpointtest"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// BenchmarkIncrementalWrites measures what the dirty log costs a write (bench state's
// valueUpdate, on an int64 value: the unboxed word path, and on a []byte value: boxed) at 1M
// keys, with full and with incremental checkpoints in the same run. Every 10,000 writes
// (1% of the keys) a checkpoint is taken, completed and confirmed, untimed, so the dirty sets
// hold what they hold between two checkpoints in bench checkpoint. Compare ns/op of full and
// incremental. cpu-ns/op is the task thread's CPU time per write (checkpoints excluded),
// steadier than ns/op on a shared machine.
func BenchmarkIncrementalWrites(b *testing.B) {
	const keys, every = 1_000_000, 10_000
	for _, kind := range []string{"word", "boxed"} {
		for _, inc := range []bool{false, true} {
			b.Run(fmt.Sprintf("valueUpdate/%s/incremental=%v", kind, inc), func(b *testing.B) {
				ctx := context.Background()
				opts := backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
					KeySerializerID: serde.Int64{}.ID()}
				var be *heapbackend.Backend
				var err error
				if inc {
					be, err = heapbackend.NewIncremental(ctx, opts, heapbackend.IncrementalOptions{})
				} else {
					be, err = heapbackend.New(ctx, opts)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer be.Close()
				kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
				var update func(k int64) error
				if kind == "word" {
					v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
					if err != nil {
						b.Fatal(err)
					}
					update = func(k int64) error { return v.Update(k) }
				} else {
					v, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
					if err != nil {
						b.Fatal(err)
					}
					val := make([]byte, 8)
					update = func(int64) error { return v.Update(val) }
				}
				for k := range int64(keys) {
					_ = kb.SetCurrentKey(k)
					if err := update(k); err != nil {
						b.Fatal(err)
					}
				}
				cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "bench", checkpoint.Options{NumRetained: 1})
				if err != nil {
					b.Fatal(err)
				}
				var id int64
				checkpointNow := func() {
					id++
					p, err := cps.Begin(id)
					if err != nil {
						b.Fatal(err)
					}
					_, err = backend.SnapshotOperator(ctx, id, []backend.Keyed{be}, p, backend.SnapshotOperatorOptions{
						Metadata: func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
							return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128, Keyed: hs}}}
						}})
					if err != nil {
						b.Fatal(err)
					}
				}
				checkpointNow()
				runtime.GC()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ResetTimer()
				cpu0, paused := threadCPU(), int64(0)
				for i := 0; i < b.N; i++ {
					if i%every == every-1 {
						b.StopTimer()
						c := threadCPU()
						checkpointNow()
						paused += threadCPU() - c
						b.StartTimer()
					}
					k := int64(i) * 7919 % keys
					_ = kb.SetCurrentKey(k)
					if err := update(k); err != nil {
						b.Fatal(err)
					}
				}
				if cpu0 >= 0 {
					b.ReportMetric(float64(threadCPU()-cpu0-paused)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// BenchmarkIncrementalSyncPhase is BenchmarkSnapshotSyncPhase with full and incremental
// checkpoints in the same run: the synchronous phase of an incremental checkpoint also
// freezes each state's dirty generation (a slice of key groups), so it must stay as
// independent of the state's size as the full one. Between snapshots (untimed) 1000 keys are
// updated; each snapshot is run, completed and confirmed (untimed), so the incremental ones
// are deltas.
func BenchmarkIncrementalSyncPhase(b *testing.B) {
	for _, n := range []int{100_000, 2_000_000} {
		for _, inc := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/incremental=%v", n, inc), func(b *testing.B) {
				ctx := context.Background()
				opts := backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
					KeySerializerID: serde.Int64{}.ID()}
				var be *heapbackend.Backend
				var err error
				if inc {
					be, err = heapbackend.NewIncremental(ctx, opts, heapbackend.IncrementalOptions{})
				} else {
					be, err = heapbackend.New(ctx, opts)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer be.Close()
				kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
				v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
				val := make([]byte, 8)
				for k := range int64(n) {
					_ = kb.SetCurrentKey(k)
					_ = v.Update(val)
				}
				cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "bench", checkpoint.Options{NumRetained: 1})
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					for j := range 1000 {
						_ = kb.SetCurrentKey(int64((i*1000 + j) * 7919 % n))
						_ = v.Update(val)
					}
					id := int64(i + 1)
					p, err := cps.Begin(id)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					s, err := be.Snapshot(id, backend.SnapshotOptions{})
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					h, err := s.Run(ctx, p)
					if err != nil {
						b.Fatal(err)
					}
					err = p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128,
						Keyed: []*snapshot.KeyedStateHandle{h}}}})
					if err == nil {
						err = be.NotifyCheckpointComplete(id)
					}
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkIncrementalRestore restores, alternately, a chain of a base and 10 deltas and a
// full checkpoint of the same state (1M keys of 100 bytes, 1% of them changed between
// checkpoints, storage in memory), up to the registration of the state, which decodes the
// records. Compare ns/op and cpu-ns/op (all threads) of chain and full in the same run.
func BenchmarkIncrementalRestore(b *testing.B) {
	const keys, deltas = 1_000_000, 10
	ctx := context.Background()
	opts := backend.Options{OperatorID: "op", MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
		KeySerializerID: serde.Int64{}.ID()}
	be, err := heapbackend.NewIncremental(ctx, opts, heapbackend.IncrementalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
	val := make([]byte, 100)
	for k := range int64(keys) {
		_ = kb.SetCurrentKey(k)
		_ = v.Update(val)
	}
	cps, err := checkpoint.Open(ctx, checkpointtest.NewMemStorage(), "bench", checkpoint.Options{NumRetained: 2})
	if err != nil {
		b.Fatal(err)
	}
	take := func(id int64, o backend.SnapshotOptions) []*snapshot.KeyedStateHandle {
		p, err := cps.Begin(id)
		if err != nil {
			b.Fatal(err)
		}
		res, err := backend.SnapshotOperator(ctx, id, []backend.Keyed{be}, p, backend.SnapshotOperatorOptions{Snapshot: o,
			Metadata: func(hs []*snapshot.KeyedStateHandle) *snapshot.Metadata {
				return &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128, Keyed: hs}}}
			}})
		if err != nil {
			b.Fatal(err)
		}
		return res.Handles
	}
	var chain []*snapshot.KeyedStateHandle
	for i := range int64(deltas + 1) {
		for j := range int64(keys / 100) {
			_ = kb.SetCurrentKey((i*7919 + j*104729) % keys)
			_ = v.Update(val[:100-i])
		}
		chain = take(i+1, backend.SnapshotOptions{})
	}
	if n := len(chain[0].Incremental.Chain); n != deltas+1 {
		b.Fatalf("chain of %d handles, want %d", n, deltas+1)
	}
	full := take(deltas+2, backend.SnapshotOptions{Savepoint: true})
	be.Close()
	restore := func(hs []*snapshot.KeyedStateHandle) {
		o := opts
		o.Restore, o.Reader = hs, cps.Reader()
		r, err := heapbackend.New(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		kb, _ := state.NewKeyedBackend[int64](r, serde.Int64{})
		if _, err := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"}); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	for _, c := range []struct {
		name string
		hs   []*snapshot.KeyedStateHandle
	}{{"chain", chain}, {"full", full}} {
		b.Run(c.name, func(b *testing.B) {
			runtime.GC()
			b.ResetTimer()
			cpu0 := processCPU()
			for range b.N {
				restore(c.hs)
			}
			if cpu0 >= 0 {
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
