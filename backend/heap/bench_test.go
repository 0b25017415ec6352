package heap_test

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	heapbackend "github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
	"github.com/streamstate/streamstate/stream"
)

func load(b *testing.B, n int, valueSize int) (*heapbackend.Backend, *state.KeyedBackend[int64], state.ValueState[[]byte]) {
	b.Helper()
	be, err := heapbackend.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: serde.Int64{}.ID()})
	if err != nil {
		b.Fatal(err)
	}
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, _ := state.GetValueState(kb, state.ValueDescriptor[[]byte]{Name: "v"})
	val := make([]byte, valueSize)
	for k := range int64(n) {
		_ = kb.SetCurrentKey(k)
		_ = v.Update(val)
	}
	return be, kb, v
}

// BenchmarkSnapshotSyncPhase measures the synchronous phase of a snapshot. Between
// snapshots (untimed) 1000 random keys are updated, so every key group has been written to
// and must be frozen again. The time must not grow with the number of keys.
func BenchmarkSnapshotSyncPhase(b *testing.B) {
	for _, n := range []int{100_000, 2_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			be, kb, v := load(b, n, 8)
			val := make([]byte, 8)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for range 1000 {
					_ = kb.SetCurrentKey(int64(rng.IntN(n)))
					_ = v.Update(val)
				}
				b.StartTimer()
				s, err := be.Snapshot(int64(i), backend.SnapshotOptions{})
				if err != nil {
					b.Fatal(err)
				}
				s.Release()
			}
		})
	}
}

// BenchmarkFullCheckpointFile writes a full checkpoint of 1M keys x 100-byte values to
// file:// storage and, as the baseline in the same run, the same number of bytes to a plain
// file in 1 MiB writes (what dd does), with and without fsync. Compare MB/s.
func BenchmarkFullCheckpointFile(b *testing.B) {
	const keys, valueSize = 1_000_000, 100
	be, _, _ := load(b, keys, valueSize)
	dir := b.TempDir()
	ctx := context.Background()
	st, err := blobstore.OpenURL(ctx, "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	cps, err := checkpoint.Open(ctx, st, "bench", checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	b.Run("checkpoint", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			id, _ := cps.NextID(ctx)
			p, _ := cps.Begin(id)
			s, err := be.Snapshot(id, backend.SnapshotOptions{})
			if err != nil {
				b.Fatal(err)
			}
			h, err := s.Run(ctx, p)
			if err != nil {
				b.Fatal(err)
			}
			size = h.File.Size
			if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "op", Parallelism: 1, MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{h}}}}); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(size)
	})
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("baseline-sequential-write/fsync=%v", sync), func(b *testing.B) {
			buf := make([]byte, 1<<20)
			for i := range buf {
				buf[i] = byte(i)
			}
			for i := 0; i < b.N; i++ {
				f, err := os.Create(filepath.Join(dir, "dd"))
				if err != nil {
					b.Fatal(err)
				}
				for left := size; left > 0; left -= int64(len(buf)) {
					if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
						b.Fatal(err)
					}
				}
				if sync {
					_ = f.Sync()
				}
				f.Close()
			}
			b.SetBytes(size)
		})
	}
}

type tsHeap []int64

func (h tsHeap) Len() int           { return len(h) }
func (h tsHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h tsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tsHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *tsHeap) Pop() any          { x := (*h)[len(*h)-1]; *h = (*h)[:len(*h)-1]; return x }

// BenchmarkTimers registers and then fires 1M event-time timers with random timestamps on
// 100k keys through the timer service, reporting ns per timer; the baseline pushes and pops
// the same timestamps through Go's container/heap.
func BenchmarkTimers(b *testing.B) {
	const n, keys = 1_000_000, 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = rng.Int64N(1 << 40)
	}
	b.Run("heap-timers", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			be, err := heapbackend.New(context.Background(), backend.Options{MaxParallelism: 128,
				KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: serde.Int64{}.ID()})
			if err != nil {
				b.Fatal(err)
			}
			kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
			fired := 0
			svc, err := stream.NewInternalTimerService("bench", kb, &stream.ManualClock{},
				stream.TriggerFunc[int64](func(stream.FiredTimer[int64]) error { fired++; return nil }))
			if err != nil {
				b.Fatal(err)
			}
			for j, t := range ts {
				_ = kb.SetCurrentKey(int64(j % keys))
				if err := svc.RegisterEventTimeTimer(nil, t); err != nil {
					b.Fatal(err)
				}
			}
			if err := svc.AdvanceWatermark(1 << 41); err != nil {
				b.Fatal(err)
			}
			if fired != n {
				b.Fatalf("fired %d of %d", fired, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/timer")
	})
	b.Run("baseline-container-heap", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h := &tsHeap{}
			for _, t := range ts {
				heap.Push(h, t)
			}
			for h.Len() > 0 {
				heap.Pop(h)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/timer")
	})
}

// BenchmarkWritesAfterSnapshot measures what copy-on-write costs the task: after each
// snapshot's synchronous phase, one write to every key group (each clones its key group's
// map). It reports the total and the worst single write.
func BenchmarkWritesAfterSnapshot(b *testing.B) {
	for _, n := range []int{500_000, 2_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			be, kb, v := load(b, n, 8)
			val := make([]byte, 8)
			// One key per key group.
			perKG := map[int]int64{}
			for k := int64(0); len(perKG) < 128; k++ {
				kg, _ := kb.KeyGroupOf(k)
				if _, ok := perKG[kg]; !ok {
					perKG[kg] = k
				}
			}
			var worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, _ := be.Snapshot(int64(i), backend.SnapshotOptions{})
				for _, k := range perKG {
					t0 := time.Now()
					_ = kb.SetCurrentKey(k)
					_ = v.Update(val)
					worst = max(worst, time.Since(t0))
				}
				s.Release()
			}
			b.ReportMetric(float64(worst.Microseconds()), "worst-write-µs")
		})
	}
}

// ttlBenchKeys is the number of keys BenchmarkTTL preloads; ttlBenchUserKeys the user keys of
// each key's map (as bench state's mapKeyCount).
const ttlBenchKeys, ttlBenchUserKeys = 10_000, 10

// boxedInt is an int64 in a struct: a value the backend keeps boxed, as it keeps a TTL
// state's stamped values, so that the no-TTL baseline boxes too.
type boxedInt struct{ N int64 }

// ttlBenchStates are a value, a list and a map state of one value type, each key preloaded.
type ttlBenchStates[V any] struct {
	kb *state.KeyedBackend[int64]
	v  state.ValueState[V]
	l  state.ListState[V]
	m  state.MapState[int64, V]
}

func loadTTLBench[V any](b *testing.B, cfg ttl.Config, val func(int64) V) ttlBenchStates[V] {
	b.Helper()
	be, err := heapbackend.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: serde.Int64{}.ID()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	s := ttlBenchStates[V]{kb: kb}
	if s.v, err = state.GetValueState(kb, state.ValueDescriptor[V]{Name: "v", TTL: cfg}); err != nil {
		b.Fatal(err)
	}
	if s.l, err = state.GetListState(kb, state.ListDescriptor[V]{Name: "l", TTL: cfg}); err != nil {
		b.Fatal(err)
	}
	if s.m, err = state.GetMapState(kb, state.MapDescriptor[int64, V]{Name: "m", TTL: cfg}); err != nil {
		b.Fatal(err)
	}
	for k := range int64(ttlBenchKeys) {
		_ = kb.SetCurrentKey(k)
		if err := s.v.Update(val(k)); err != nil {
			b.Fatal(err)
		}
		if err := s.l.Update([]V{val(k)}); err != nil {
			b.Fatal(err)
		}
		for u := range int64(ttlBenchUserKeys) {
			if err := s.m.Put(u, val(k)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return s
}

// runTTLOp measures one operation of bench state on s: valueGet, valueUpdate, listAdd (the
// key's list set to one element, as bench state's listAdd sets a fresh key's) or mapGet, on
// keys i*7919 mod ttlBenchKeys.
func runTTLOp[V any](b *testing.B, s ttlBenchStates[V], op string, val func(int64) V) {
	one := make([]V, 1)
	runtime.GC() // the garbage of the last sub-benchmark is not this one's cost
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU()
	defer func() {
		if cpu0 >= 0 {
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		}
	}()
	for i := 0; i < b.N; i++ {
		k := int64(i) * 7919 % ttlBenchKeys
		_ = s.kb.SetCurrentKey(k)
		var err error
		switch op {
		case "valueGet":
			var ok bool
			if _, ok, err = s.v.Value(); !ok && err == nil {
				b.Fatalf("key %d has no value", k)
			}
		case "valueUpdate":
			err = s.v.Update(val(int64(i)))
		case "listAdd":
			one[0] = val(int64(i))
			err = s.l.Update(one)
		case "mapGet":
			var ok bool
			if _, ok, err = s.m.Get(int64(i) % ttlBenchUserKeys); !ok && err == nil {
				b.Fatalf("key %d has no map entry", k)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTTL measures what state TTL costs bench state's valueGet, valueUpdate, listAdd and
// mapGet: int64 values with a TTL (wall clock, one hour: nothing expires, the incremental
// cleanup runs with its default size) beside the same states without TTL, both as words
// (int64: the unboxed fast path) and boxed (boxedInt, boxed as TTL values are). Compare the
// ns/op of ttl with those of word and boxed in one run.
func BenchmarkTTL(b *testing.B) {
	ints := func(k int64) int64 { return k }
	boxed := func(k int64) boxedInt { return boxedInt{k} }
	ttlStates := loadTTLBench(b, ttl.Config{TTL: time.Hour}, ints)
	wordStates := loadTTLBench(b, ttl.Config{}, ints)
	boxedStates := loadTTLBench(b, ttl.Config{}, boxed)
	for _, op := range []string{"valueGet", "valueUpdate", "listAdd", "mapGet"} {
		b.Run(op+"/ttl", func(b *testing.B) { runTTLOp(b, ttlStates, op, ints) })
		b.Run(op+"/word", func(b *testing.B) { runTTLOp(b, wordStates, op, ints) })
		b.Run(op+"/boxed", func(b *testing.B) { runTTLOp(b, boxedStates, op, boxed) })
	}
}

// BenchmarkTTLChurn measures the incremental cleanup at work: every operation writes a new
// key of a value state with a TTL of one second while a manual clock advances 1 ms every 10
// operations, so that keys expire as fast as they arrive and every access checks entries. It
// reports the keys stored at the end (live ones: 10 000) beside ns/op and allocs/op.
func BenchmarkTTLChurn(b *testing.B) {
	var now atomic.Int64
	be, err := heapbackend.New(context.Background(), backend.Options{MaxParallelism: 128,
		KeyGroupRange: keygroup.Range{Start: 0, End: 127}, KeySerializerID: serde.Int64{}.ID(),
		Clock: &backend.Clock{ProcessingTime: now.Load}})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	kb, _ := state.NewKeyedBackend[int64](be, serde.Int64{})
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v", TTL: ttl.Config{TTL: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%10 == 0 {
			now.Add(1)
		}
		_ = kb.SetCurrentKey(int64(i))
		if err := v.Update(int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := 0
	for _, err := range be.Keys("v", nil) {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n), "keys-stored")
}
