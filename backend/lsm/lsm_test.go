package lsm_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/backendtest"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
)

// factory returns a backendtest.Factory of lsm backends with the given options; each backend
// gets the test's temporary directory as parent of its working directory.
func factory(incremental bool) backendtest.Factory {
	return factoryTimers(incremental, lsm.TimerServiceLSM)
}

// factoryTimers is factory with the given timer store.
func factoryTimers(incremental bool, timers lsm.TimerServiceFactory) backendtest.Factory {
	return func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
		b, err := lsm.New(context.Background(), lsm.Options{Options: opts, Dir: t.TempDir(),
			Incremental: incremental, WriteBufferSize: 4 << 20, TimerService: timers})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { b.Close() })
		return b, nil
	}
}

func TestConformance(t *testing.T) { backendtest.Run(t, factory(false)) }

func TestWordPaths(t *testing.T) { backendtest.CheckWordPaths(t, factory(false)) }

// TestConformanceHeapTimers runs the suite with timers kept in memory
// (state.backend.lsm.timer-service.factory = heap) and full checkpoints.
func TestConformanceHeapTimers(t *testing.T) {
	backendtest.Run(t, factoryTimers(false, lsm.TimerServiceHeap))
}

// TestConformanceIncremental runs the suite with incremental checkpoints: every checkpoint
// the suite takes (savepoints excepted) is an incremental handle. Under the race detector it
// is skipped to keep the package's tests within a minute (Pebble is slow under -race); the
// concurrency of incremental checkpoints is covered there by TestIncrementalConcurrentAsyncPhase.
func TestConformanceIncremental(t *testing.T) {
	if raceEnabled {
		t.Skip("skipped under -race; run without -race")
	}
	backendtest.Run(t, factory(true))
}

// TestConformanceIncrementalHeapTimers runs the suite with heap timers and incremental
// checkpoints, whose handles carry the timers as extra canonical-format records. Skipped under
// -race like TestConformanceIncremental.
func TestConformanceIncrementalHeapTimers(t *testing.T) {
	if raceEnabled {
		t.Skip("skipped under -race; run without -race")
	}
	backendtest.Run(t, factoryTimers(true, lsm.TimerServiceHeap))
}

// TestMetricsWhileClosing reads metrics from another goroutine, as the CLI's Prometheus
// collector does, while the task writes and then closes the backend (run with -race).
func TestMetricsWhileClosing(t *testing.T) {
	b := lsmNew(false)(t, backend.Options{OperatorID: "op", MaxParallelism: maxP,
		KeyGroupRange: keygroup.Range{Start: 0, End: maxP - 1}, KeySerializerID: serde.Int64{}.ID()}).(*lsm.Backend)
	kb, err := state.NewKeyedBackend[int64](b, serde.Int64{})
	must(t, err)
	v, err := state.GetValueState(kb, state.ValueDescriptor[int64]{Name: "v"})
	must(t, err)
	done := make(chan int)
	go func() {
		n := 0
		for {
			if _, ok := b.Metrics(); !ok {
				done <- n
				return
			}
			n++
		}
	}()
	for k := int64(0); k < 2000; k++ {
		must(t, kb.SetCurrentKey(k))
		must(t, v.Update(k))
	}
	must(t, b.Close())
	if n := <-done; n == 0 {
		t.Log("no metrics read before Close")
	}
	if _, ok := b.Metrics(); ok {
		t.Fatal("Metrics after Close reports a database")
	}
}

// TestEvolutionLogged: the lsm backend logs the fields a registration drops on its Logger.
func TestEvolutionLogged(t *testing.T) {
	backendtest.CheckEvolutionLogged(t, func(l *slog.Logger) backendtest.Factory {
		return func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
			b, err := lsm.New(context.Background(), lsm.Options{Options: opts, Dir: t.TempDir(), Logger: l})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { b.Close() })
			return b, nil
		}
	})
}
