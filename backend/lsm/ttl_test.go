package lsm_test

import (
	"context"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/backendtest"
	"github.com/streamstate/streamstate/backend/heap"
)

// heapFactory is the hashmap backend as the conformance suite creates backends.
func heapFactory(t testing.TB, opts backend.Options) (backend.Keyed, error) {
	b, err := heap.New(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { b.Close() })
	return b, nil
}

// TestTTLBackendSwitch: TTL state written by either backend restores on the other through a
// canonical savepoint, with its stamps: every entry expires when it would have without the
// switch.
func TestTTLBackendSwitch(t *testing.T) {
	t.Run("hashmap-to-lsm", func(t *testing.T) { backendtest.CheckTTLBackendSwitch(t, heapFactory, factory(false)) })
	t.Run("lsm-to-hashmap", func(t *testing.T) { backendtest.CheckTTLBackendSwitch(t, factory(true), heapFactory) })
}
