package heap

import (
	"context"
	"log/slog"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/operator"
)

// StateBackend is the hashmap state backend (state.backend.type: hashmap): a
// backend.StateBackend whose keyed backends keep their state on the Go heap. It shares
// nothing between subtasks, so its zero value is ready to use and Close does nothing.
type StateBackend struct {
	// Logger receives the operator state backends' warnings, and the keyed and operator
	// state backends' notes on states registered with an evolved schema (the fields they
	// drop or add, backend.Evolution). Default: discard.
	Logger *slog.Logger
	// Incremental makes the keyed backends' checkpoints incremental (NewIncremental, Flink's
	// state.backend.incremental). Default: false, full checkpoints (New).
	Incremental bool
	// IncrementalOptions bound the chains of incremental checkpoints; ignored unless
	// Incremental. Default: the zero value, IncrementalOptions's defaults.
	IncrementalOptions IncrementalOptions
}

var _ backend.StateBackend = (*StateBackend)(nil)

// Name implements backend.StateBackend: "hashmap".
func (*StateBackend) Name() string { return Name }

// CreateKeyedBackend implements backend.StateBackend with New, or NewIncremental if
// f.Incremental.
func (f *StateBackend) CreateKeyedBackend(ctx context.Context, opts backend.Options) (backend.Keyed, error) {
	var b *Backend
	var err error
	if f.Incremental {
		b, err = NewIncremental(ctx, opts, f.IncrementalOptions)
	} else {
		b, err = New(ctx, opts)
	}
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	b.logger = f.Logger
	return b, nil
}

// CreateOperatorBackend implements backend.StateBackend with the operator package's backend.
func (f *StateBackend) CreateOperatorBackend(ctx context.Context, opts backend.OperatorOptions) (backend.Operator, error) {
	return operator.Create(ctx, opts, f.Logger)
}

// Close implements backend.StateBackend; there is nothing to release.
func (*StateBackend) Close() error { return nil }
