package heap_test

import (
	"context"
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
