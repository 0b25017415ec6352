package heap_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/backendtest"
	"github.com/streamstate/streamstate/backend/heap"
)

func newBackend(t testing.TB, opts backend.Options) (backend.Keyed, error) {
	b, err := heap.New(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { b.Close() })
	return b, nil
}

func TestConformance(t *testing.T) { backendtest.Run(t, newBackend) }

func TestWordPaths(t *testing.T) { backendtest.CheckWordPaths(t, newBackend) }

// TestEvolutionLogged: the hashmap backend logs the fields a registration drops on the
// StateBackend's Logger.
func TestEvolutionLogged(t *testing.T) {
	backendtest.CheckEvolutionLogged(t, func(l *slog.Logger) backendtest.Factory {
		return func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
			b, err := (&heap.StateBackend{Logger: l}).CreateKeyedBackend(context.Background(), opts)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { b.Close() })
			return b, nil
		}
	})
}

// newIncremental is newBackend with incremental checkpoints of at most maxDeltas deltas.
func newIncremental(maxDeltas int) backendtest.Factory {
	return func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
		b, err := heap.NewIncremental(context.Background(), opts, heap.IncrementalOptions{MaxDeltas: maxDeltas})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { b.Close() })
		return b, nil
	}
}

// TestConformanceIncremental runs the suite with incremental checkpoints: every checkpoint
// the suite takes (savepoints excepted) is a chain, and every state is restored from one.
func TestConformanceIncremental(t *testing.T) { backendtest.Run(t, newIncremental(0)) }

// newIncrementalClaim is newIncremental whose restores claim the restored chain (when it is
// one over the backend's key groups), so that the suite's checkpoints after a restore are
// deltas on it.
func newIncrementalClaim(maxDeltas int) backendtest.Factory {
	f := newIncremental(maxDeltas)
	return func(t testing.TB, opts backend.Options) (backend.Keyed, error) {
		opts.Claim = true
		return f(t, opts)
	}
}

// TestConformanceIncrementalClaim runs the suite with incremental checkpoints whose restores
// claim the chain, and chains of at most 2 deltas: deltas on restored chains, and
// consolidation into new bases.
func TestConformanceIncrementalClaim(t *testing.T) { backendtest.Run(t, newIncrementalClaim(2)) }

// TestIncrementalModel checks incremental checkpoints against the model over aborted
// checkpoints and lost, late and reordered notifications, with chains of at most 3 deltas
// and of the default bound, and full checkpoints the same way.
func TestIncrementalModel(t *testing.T) {
	t.Run("maxDeltas=3", func(t *testing.T) { backendtest.CheckIncrementalModel(t, newIncremental(3)) })
	t.Run("default", func(t *testing.T) { backendtest.CheckIncrementalModel(t, newIncremental(0)) })
	t.Run("full", func(t *testing.T) { backendtest.CheckIncrementalModel(t, newBackend) })
}
