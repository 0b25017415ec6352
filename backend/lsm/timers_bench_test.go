package lsm_test

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/streamstate/streamstate/backend"
	heapbackend "github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/stream"
)

// BenchmarkTimers registers and then fires 100k and 1M event-time timers with random timestamps on
// 100k keys through stream.InternalTimerService, for every timer store: the hashmap backend's
// heap timers, the lsm backend with timers in the database, and the lsm backend with heap
// timers. It reports ns per timer (register plus fire); the baseline pushes and pops the same
// timestamps through Go's container/heap in the same run.
func BenchmarkTimers(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchmarkTimers(b, n) })
	}
}

func benchmarkTimers(b *testing.B, n int) {
	const keys = 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = rng.Int64N(1 << 40)
	}
	opts := backend.Options{MaxParallelism: 128, KeyGroupRange: keygroup.Range{Start: 0, End: 127},
		KeySerializerID: serde.Int64{}.ID()}
	stores := []struct {
		name string
		open func(b *testing.B) backend.Keyed
	}{
		{"hashmap-heap-timers", func(b *testing.B) backend.Keyed {
			be, err := heapbackend.New(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			return be
		}},
		{"lsm-lsm-timers", func(b *testing.B) backend.Keyed { return openLSM(b, opts, lsm.TimerServiceLSM) }},
		{"lsm-heap-timers", func(b *testing.B) backend.Keyed { return openLSM(b, opts, lsm.TimerServiceHeap) }},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				be := s.open(b)
				b.StartTimer()
				kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
				if err != nil {
					b.Fatal(err)
				}
				fired := 0
				svc, err := stream.NewInternalTimerService("bench", kb, &stream.ManualClock{},
					stream.TriggerFunc[int64](func(stream.FiredTimer[int64]) error { fired++; return nil }))
				if err != nil {
					b.Fatal(err)
				}
				for j, t := range ts {
					if err := kb.SetCurrentKey(int64(j % keys)); err != nil {
						b.Fatal(err)
					}
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
				b.StopTimer()
				if err := be.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/timer")
		})
	}
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

func openLSM(b *testing.B, opts backend.Options, timers lsm.TimerServiceFactory) backend.Keyed {
	be, err := lsm.New(context.Background(), lsm.Options{Options: opts, Dir: b.TempDir(), TimerService: timers})
	if err != nil {
		b.Fatal(err)
	}
	return be
}

// tsHeap is the baseline: a container/heap of timestamps.
type tsHeap []int64

func (h tsHeap) Len() int           { return len(h) }
func (h tsHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h tsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tsHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *tsHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
