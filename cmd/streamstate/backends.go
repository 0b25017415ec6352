package main

import (
	"context"
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/heap"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/config"
)

// backendNames are the state backends a command accepts (state.backend.type).
var backendNames = []string{heap.Name, lsm.Name}

// canonicalBackend returns the name of the state backend name stands for (an alias config
// accepts, such as rocksdb, names lsm), or an error naming the known backends.
func canonicalBackend(name string) (string, error) {
	b, ok := config.BackendName(name)
	if !ok {
		return "", fmt.Errorf("unknown state backend %q; known backends: %s, %s", name, heap.Name, lsm.Name)
	}
	return b, nil
}

// soloStateBackend returns the named state backend as the demo and the benchmarks use it:
// built from the configuration as `run` builds it, but without managed memory, so that an lsm
// backend has its own memory (a 64 MiB block cache) and a measurement sees one backend alone.
// It holds no shared resources: closing the keyed backends it creates is enough. extra are
// more configuration keys and values, in pairs.
func soloStateBackend(name string, incremental bool, extra ...string) (backend.StateBackend, error) {
	keys := map[string]string{config.KeyBackend: name, config.KeyIncremental: fmt.Sprint(incremental),
		lsm.ConfigPrefix + "memory.managed": "false"}
	for i := 0; i+1 < len(extra); i += 2 {
		keys[extra[i]] = extra[i+1]
	}
	cfg, err := config.Parse(keys)
	if err != nil {
		return nil, err
	}
	return cfg.StateBackend(1, nil)
}

// newBackend creates a keyed state backend of the named kind (see soloStateBackend).
func newBackend(ctx context.Context, name string, incremental bool, opts backend.Options) (backend.Keyed, error) {
	sb, err := soloStateBackend(name, incremental)
	if err != nil {
		return nil, err
	}
	b, err := sb.CreateKeyedBackend(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("create %s state backend: %w", sb.Name(), err)
	}
	return b, nil
}
