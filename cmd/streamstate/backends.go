package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
)

// backendFactory creates the keyed state backend of one subtask.
type backendFactory func(ctx context.Context, opts backend.Options) (backend.Keyed, error)

// stateBackends maps a state backend's name (state.backend.type) to its constructor. It is
// only read. To add a backend, add one line:
//
//	lsm.Name: factory(lsm.New),
var stateBackends = map[string]backendFactory{
	heap.Name: factory(heap.New),
	lsm.Name:  factory(newLSM),
}

// newLSM creates an lsm backend with the default lsm options (working directory under
// os.TempDir(), its own 64 MiB block cache, full checkpoints).
func newLSM(ctx context.Context, opts backend.Options) (*lsm.Backend, error) {
	return lsm.New(ctx, lsm.Options{Options: opts})
}

// factory adapts a backend package's New, which returns its concrete type, to a
// backendFactory. It never returns a typed nil pointer inside a non-nil interface.
func factory[B backend.Keyed](newFn func(context.Context, backend.Options) (B, error)) backendFactory {
	return func(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
		b, err := newFn(ctx, opts)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// backendNames returns the registered backend names, sorted.
func backendNames() []string { return slices.Sorted(maps.Keys(stateBackends)) }

// lookupBackend returns the constructor of the named backend, or an error listing the known
// ones.
func lookupBackend(name string) (backendFactory, error) {
	f, ok := stateBackends[name]
	if !ok {
		return nil, fmt.Errorf("unknown state backend %q; known backends: %s", name, strings.Join(backendNames(), ", "))
	}
	return f, nil
}

// newBackend creates a keyed state backend of the named kind.
func newBackend(ctx context.Context, name string, opts backend.Options) (backend.Keyed, error) {
	f, err := lookupBackend(name)
	if err != nil {
		return nil, err
	}
	b, err := f(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("create %s state backend: %w", name, err)
	}
	return b, nil
}
