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
