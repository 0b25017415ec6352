package heap_test

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/backend/backendtest"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/state"
)

func newBackend(t testing.TB, opts state.BackendOptions) (state.KeyedStateBackend, error) {
	b, err := heap.New(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { b.Close() })
	return b, nil
}

func TestConformance(t *testing.T) { backendtest.Run(t, newBackend) }

func TestWordPaths(t *testing.T) { backendtest.CheckWordPaths(t, newBackend) }
