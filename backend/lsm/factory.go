package lsm

import (
	"context"
	"fmt"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
)

// StateBackend is the lsm state backend (state.backend.type: lsm): a backend.StateBackend
// whose keyed backends keep their state in embedded Pebble databases. It owns what they share:
// the memory budget of the slot (a SlotResources, when the configuration gives one) and the
// Prometheus collector of their Pebble metrics (Collector). Create it with NewStateBackend and
// Close it after every backend it created is closed.
type StateBackend struct {
	opts Options        // every keyed backend's settings; Options (backend.Options) filled per subtask
	slot *SlotResources // shared memory, or nil
	coll *Collector
}

var _ backend.StateBackend = (*StateBackend)(nil)

// NewStateBackend returns the lsm state backend of a job configured by c. With managed memory
// (c.ManagedMemory, the default) its keyed backends share managedBytes, divided among
// backends of them (the keyed operator subtasks expected to run); c.FixedPerSlot overrides
// managedBytes. With neither (c.ManagedMemory off and no FixedPerSlot), each backend has the
// memory c.Options gives it; managed memory on with managedBytes 0 is an error.
func NewStateBackend(c Config, managedBytes int64, backends int) (*StateBackend, error) {
	f := &StateBackend{opts: c.Options, coll: newCollector()}
	if so, ok := c.SlotOptions(managedBytes, backends); ok {
		if so.Budget <= 0 {
			return nil, fmt.Errorf("lsm state backend: managed memory (%smemory.managed) is on but the job gives the backends %d bytes of it; "+
				"give managedBytes, set %smemory.fixed-per-slot, or turn managed memory off", ConfigPrefix, managedBytes, ConfigPrefix)
		}
		slot, err := NewSlotResources(so)
		if err != nil {
			return nil, err
		}
		f.slot, f.opts.Slot = slot, slot
	}
	return f, nil
}

// Name implements backend.StateBackend: "lsm".
func (*StateBackend) Name() string { return Name }

// Incremental reports whether the keyed backends take incremental checkpoints.
func (f *StateBackend) Incremental() bool { return f.opts.Incremental }

// CreateKeyedBackend implements backend.StateBackend with New and the factory's settings.
func (f *StateBackend) CreateKeyedBackend(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
	o := f.opts
	o.Options = opts
	b, err := New(ctx, o)
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	f.coll.add(opts.OperatorID, b)
	return b, nil
}

// CreateOperatorBackend implements backend.StateBackend with the operator package's backend.
func (f *StateBackend) CreateOperatorBackend(ctx context.Context, opts backend.OperatorOptions) (backend.Operator, error) {
	return operator.Create(ctx, opts, f.opts.Logger)
}

// Collector returns the Prometheus collector of the Pebble metrics of the keyed backends this
// factory created and that are still open.
func (f *StateBackend) Collector() *Collector { return f.coll }

// Close implements backend.StateBackend: it releases the shared memory.
func (f *StateBackend) Close() error {
	if f.slot != nil {
		f.slot.Close()
		f.slot = nil
	}
	return nil
}
