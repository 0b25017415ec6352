package stream

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/state"
)

// mutableSum is an accumulator held by pointer and changed in place by its AggregateFunction,
// Flink's standard mutable-accumulator pattern.
type mutableSum struct {
	Sum, N int64
}

type mutableSumFn struct{}

func (mutableSumFn) CreateAccumulator() *mutableSum { return &mutableSum{} }
func (mutableSumFn) Add(e event, a *mutableSum) (*mutableSum, error) {
	a.Sum += e.Val
	a.N++
	return a, nil
}
func (mutableSumFn) GetResult(a *mutableSum) (*mutableSum, error) { return a, nil }
func (mutableSumFn) Merge(a, b *mutableSum) (*mutableSum, error) {
	a.Sum += b.Sum
	a.N += b.N
	return a, nil
}

// TestWindowMutableAccumulatorRestore checkpoints a window operator whose AggregateFunction
// changes its accumulator in place, keeps adding records to the open windows while the
// snapshot's asynchronous phase waits, restores the snapshot, replays the records after it
// and fires every window: the results equal the uninterrupted run's. A snapshot sharing the
// accumulators with the task counted the records after its synchronous phase twice (issue 17:
// 3512 where 3000 were sent). Tumbling windows, and session windows, whose merging folds
// accumulators into one another.
func TestWindowMutableAccumulatorRestore(t *testing.T) {
	before, after := mutableEvents(0), mutableEvents(1)
	for _, kind := range []struct {
		name     string
		assigner WindowAssigner
	}{
		{"tumbling", TumblingEventTimeWindows(100*time.Millisecond, 0)},
		{"session", EventTimeSessionWindows(20 * time.Millisecond)},
	} {
		for _, be := range windowBackends {
			t.Run(kind.name+"/"+be.name, func(t *testing.T) {
				if be.backend == nil {
					be.backend = heapBackend
				}
				ctx := context.Background()
				st, err := blobstore.OpenURL(ctx, "mem://")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				cps, err := checkpoint.Open(ctx, st, "job", checkpoint.Options{})
				if err != nil {
					t.Fatal(err)
				}

				var b backend.Keyed
				h := mutableSumHarness(t, kind.assigner, keyedFunc(func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
					var err error
					b, err = be.backend.CreateKeyedBackend(ctx, opts)
					return b, err
				}))
				for _, e := range before {
					h.add(e.Key, e.Val, e.TS)
				}
				snap, err := b.Snapshot(1, backend.SnapshotOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range after { // while the asynchronous phase has not run yet
					h.add(e.Key, e.Val, e.TS)
				}
				p, err := cps.Begin(1)
				if err != nil {
					t.Fatal(err)
				}
				handle, err := snap.Run(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{{ID: "window",
					Parallelism: 1, MaxParallelism: 128, Keyed: []*snapshot.KeyedStateHandle{handle}}}}); err != nil {
					t.Fatal(err)
				}
				h.watermark(MaxWatermark)
				want := h.results()
				slices.Sort(want)
				if len(want) < 10 {
					t.Fatalf("only %d windows fired: %q", len(want), want)
				}

				r := mutableSumHarness(t, kind.assigner, keyedFunc(func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
					opts.Restore, opts.Reader = []*snapshot.KeyedStateHandle{handle}, cps.Reader()
					return be.backend.CreateKeyedBackend(ctx, opts)
				}))
				for _, e := range after { // the records after the checkpoint, replayed
					r.add(e.Key, e.Val, e.TS)
				}
				r.watermark(MaxWatermark)
				got := r.results()
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("restored run fired\n%q\nuninterrupted run\n%q", got, want)
				}
			})
		}
	}
}

// mutableEvents returns every other event (those whose index has the parity half) of three
// keys, 2 ms apart, with gaps that end sessions: both halves fall into the same windows.
func mutableEvents(half int) []event {
	var evs []event
	for i := half; i < 600; i += 2 {
		if i%50 >= 35 {
			continue // a gap of 30 ms
		}
		evs = append(evs, event{Key: fmt.Sprint("k", i%3), Val: int64(i%7 + 1), TS: int64(i) * 2})
	}
	return evs
}

// mutableSumHarness is a window harness aggregating with mutableSumFn; it emits each window's
// sum and count.
func mutableSumHarness(t *testing.T, assigner WindowAssigner, backend backend.StateBackend) *windowHarness[string] {
	ws := Window(keyedEvents(), assigner)
	return newWindowHarness(t, backend, ws, aggregateContentsFactory(state.AggregateFunction[event, *mutableSum, *mutableSum](mutableSumFn{}),
		func(key string, w TimeWindow, a *mutableSum, emit func(string)) error {
			emit(fmt.Sprintf("%s sum=%d n=%d", windowLine(key, w, a.Sum), a.Sum, a.N))
			return nil
		}))
}
