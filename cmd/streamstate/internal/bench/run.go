package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/lsm"
	"github.com/streamstate/streamstate/keygroup"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state/ttl"
)

// Config says what Run measures.
type Config struct {
	// StateBackend creates the measured keyed backends, one per state kind. Required. Its
	// name picks the baseline: raw Pebble for lsm, plain Go maps otherwise.
	StateBackend backend.StateBackend
	// Keys is the number of preloaded keys. Required (at least 1).
	Keys int
	// Ops are the names of the operations to run; empty: all of Ops.
	Ops []string
	// Duration is the measuring time per operation, for the backend and again for the
	// baseline, over all rounds. Ignored when Iterations is set.
	Duration time.Duration
	// Iterations, if positive, is the exact number of iterations per round instead of
	// calibrating to Duration.
	Iterations int
	// Rounds per operation, alternating backend and baseline; the median round of each side
	// is reported. Default: 1.
	Rounds int
	// Seed of the key sequences.
	Seed uint64
	// Profile, if set, is called before each operation; the function it returns is called
	// after it (a CPU profile of the operation). Default: none.
	Profile func(op string) (stop func(), err error)
	// TTL, if enabled, measures the cost of TTL instead: the backend's states have this TTL
	// and the baseline is the same backend without TTL (see NewTTLFixture). Default: none.
	TTL ttl.Config
}

// Result is the measurement of one operation: one line of `bench state --json`. NsPerOp and
// BaselineNsPerOp are the median rounds, MinNsPerOp and BaselineMinNsPerOp the fastest;
// allocations are averaged over every round.
type Result struct {
	Backend             string  `json:"backend"`
	Op                  string  `json:"op"`
	NsPerOp             float64 `json:"ns_per_op"`
	BaselineNsPerOp     float64 `json:"baseline_ns_per_op"`
	Ratio               float64 `json:"ratio"`
	MinNsPerOp          float64 `json:"min_ns_per_op"`
	BaselineMinNsPerOp  float64 `json:"baseline_min_ns_per_op"`
	AllocsPerOp         float64 `json:"allocs_per_op"`
	BytesPerOp          float64 `json:"bytes_per_op"`
	BaselineAllocsPerOp float64 `json:"baseline_allocs_per_op"`
	BaselineBytesPerOp  float64 `json:"baseline_bytes_per_op"`
	Iterations          int     `json:"iterations"`
	BaselineIterations  int     `json:"baseline_iterations"`
	Rounds              int     `json:"rounds"`
	Keys                int     `json:"keys"`
	// TTL describes the TTL of the measured states ("1h0m0s processing"), when the run
	// measures the cost of TTL: the baseline is then the same backend without TTL.
	TTL string `json:"ttl,omitempty"`
}

// UsesPebble reports whether the baseline of the named backend is raw Pebble (else plain Go
// maps).
func UsesPebble(backendName string) bool { return backendName == lsm.Name }

// TTLBaselineDesc describes the baseline of a run with Config.TTL for people.
const TTLBaselineDesc = "the same backend without TTL"

// TTLDesc describes a TTL for Result.TTL: its duration and its time.
func TTLDesc(c ttl.Config) string { return fmt.Sprintf("%v %s", c.TTL, c.Time) }

// BaselineDesc describes the baseline of the named backend for people.
func BaselineDesc(backendName string) string {
	if UsesPebble(backendName) {
		return "raw Pebble, lsm default options"
	}
	return "plain Go maps"
}

// Run measures the operations of cfg, kind by kind, on a fresh fixture per kind, and calls
// emit with each result as soon as it is measured. It returns how long each kind's preload
// took ("value state 1.2s"). ctx cancels it between operations and during preloads.
func Run(ctx context.Context, cfg Config, emit func(Result) error) (preloads []string, err error) {
	if cfg.StateBackend == nil || cfg.Keys < 1 {
		return nil, errors.New("bench: Config needs a StateBackend and at least one key")
	}
	seqs := NewSeqs(cfg.Seed, cfg.Keys)
	m := &meter{duration: cfg.Duration, iterations: cfg.Iterations, rounds: max(cfg.Rounds, 1)}
	for _, kind := range Kinds {
		var ops []Op
		for _, op := range Ops {
			if op.Kind == kind && (len(cfg.Ops) == 0 || slices.Contains(cfg.Ops, op.Name)) {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			continue
		}
		var f *Fixture
		if cfg.TTL.Enabled() {
			f, err = NewTTLFixture(ctx, cfg.StateBackend, kind, cfg.Keys, seqs, cfg.TTL)
		} else {
			f, err = NewFixture(ctx, cfg.StateBackend, kind, cfg.Keys, seqs)
		}
		if err != nil {
			return preloads, err
		}
		preloads = append(preloads, fmt.Sprintf("%s state %v", kind, f.preload.Round(time.Millisecond)))
		if err := runKind(ctx, cfg, m, f, ops, emit); err != nil {
			return preloads, errors.Join(err, f.Close())
		}
		if err := f.Close(); err != nil {
			return preloads, err
		}
	}
	return preloads, nil
}

func runKind(ctx context.Context, cfg Config, m *meter, f *Fixture, ops []Op, emit func(Result) error) error {
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		stop := func() {}
		if cfg.Profile != nil {
			var err error
			if stop, err = cfg.Profile(op.Name); err != nil {
				return err
			}
		}
		r, err := m.compare(f, op)
		stop()
		if err != nil {
			return fmt.Errorf("bench state %s on %s: %w", op.Name, cfg.StateBackend.Name(), err)
		}
		r.Backend, r.Keys = cfg.StateBackend.Name(), cfg.Keys
		if cfg.TTL.Enabled() {
			r.TTL = TTLDesc(cfg.TTL)
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// Fixture is the preloaded state of one kind, in the backend and in its baseline.
type Fixture struct {
	kind    string
	seqs    *Seqs
	backend backend.Keyed
	// base is the baseline's backend of a TTL fixture (NewTTLFixture), clock the clock of
	// both its backends; nil otherwise.
	base  backend.Keyed
	clock *backend.Clock
	// stores are the backend's store and the baseline's.
	stores  [2]store
	raw     *pebbleStore // the raw Pebble baseline; nil when it is plain Go maps
	sink    int64        // what reads produce, so they are not optimized away
	preload time.Duration
}

// NewFixture creates a backend of sb owning all key groups and the baseline sb's name calls
// for, and preloads both with keys keys of kind's state.
func NewFixture(ctx context.Context, sb backend.StateBackend, kind string, keys int, q *Seqs) (*Fixture, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("bench: unknown state kind %q", kind)
	}
	be, err := sb.CreateKeyedBackend(ctx, backend.Options{
		OperatorID:      "bench-" + kind,
		MaxParallelism:  MaxParallelism,
		KeyGroupRange:   keygroup.RangeFor(MaxParallelism, 1, 0),
		KeySerializerID: serde.Int64{}.ID(),
	})
	if err != nil {
		return nil, fmt.Errorf("create %s state backend: %w", sb.Name(), err)
	}
	f := &Fixture{kind: kind, seqs: q, backend: be}
	bs, err := newBackendStore(be, kind, ttl.Config{})
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	f.stores[0] = bs
	start := time.Now()
	if err := preload(bs, kind, keys, q, ctx.Err); err != nil {
		return nil, errors.Join(fmt.Errorf("preload %d keys of %s state: %w", keys, kind, err), f.Close())
	}
	f.preload = time.Since(start)
	if UsesPebble(sb.Name()) {
		if f.raw, err = openPebbleStore(); err != nil {
			return nil, errors.Join(err, f.Close())
		}
		f.stores[1] = f.raw
	} else {
		f.stores[1] = newMapStore(kind, keys)
	}
	if err := preload(f.stores[1], kind, keys, q, ctx.Err); err != nil {
		return nil, errors.Join(fmt.Errorf("preload %d keys of %s state into the baseline: %w", keys, kind, err), f.Close())
	}
	return f, nil
}

// NewTTLFixture is NewFixture for the cost of TTL: the backend's state of kind has TTL cfg,
// and the baseline is a second backend of sb whose state has no TTL, both preloaded alike.
// Processing-time TTL reads the wall clock, as in a job; event-time TTL stamps with a fixed
// record timestamp and judges by a watermark before it. cfg.TTL must be long enough for
// nothing to expire during the run, or reads find less than the baseline.
func NewTTLFixture(ctx context.Context, sb backend.StateBackend, kind string, keys int, q *Seqs, cfg ttl.Config) (*Fixture, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("bench: unknown state kind %q", kind)
	}
	if !cfg.Enabled() {
		return nil, errors.New("bench: NewTTLFixture needs a TTL")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	clock := &backend.Clock{}
	if cfg.Time == ttl.EventTime {
		clock.AdvanceWatermark(0)
		clock.SetTimestamp(1)
	}
	f := &Fixture{kind: kind, seqs: q, clock: clock}
	for side, c := range []ttl.Config{cfg, {}} {
		be, err := sb.CreateKeyedBackend(ctx, backend.Options{
			OperatorID:      "bench-" + kind,
			MaxParallelism:  MaxParallelism,
			KeyGroupRange:   keygroup.RangeFor(MaxParallelism, 1, 0),
			KeySerializerID: serde.Int64{}.ID(),
			Clock:           clock,
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("create %s state backend: %w", sb.Name(), err), f.Close())
		}
		if side == SideBackend {
			f.backend = be
		} else {
			f.base = be
		}
		st, err := newBackendStore(be, kind, c)
		if err != nil {
			return nil, errors.Join(err, f.Close())
		}
		f.stores[side] = st
		start := time.Now()
		if err := preload(st, kind, keys, q, ctx.Err); err != nil {
			return nil, errors.Join(fmt.Errorf("preload %d keys of %s state (TTL %v): %w", keys, kind, c.TTL, err), f.Close())
		}
		if side == SideBackend {
			f.preload = time.Since(start)
		}
	}
	return f, nil
}

// Close releases the backend and the baseline.
func (f *Fixture) Close() error {
	var err error
	if f.backend != nil {
		err = f.backend.Close()
	}
	if f.base != nil {
		err = errors.Join(err, f.base.Close())
	}
	if f.raw != nil {
		err = errors.Join(err, f.raw.close())
	}
	f.backend, f.base, f.raw, f.stores = nil, nil, nil, [2]store{}
	return err
}

// Sides name the two sides of every operation: the backend and its baseline.
const (
	SideBackend  = 0
	SideBaseline = 1
)

// Run performs operations off to off+n-1 of op on one side, as timed; it returns the first
// error of a state call.
func (f *Fixture) Run(op Op, side, off, n int) error {
	return op.run(f.stores[side], f.seqs, off, n, &f.sink)
}

// Reset puts back what Run(op, side, off, n) changed, for an operation that grows state (a
// no-op for the others).
func (f *Fixture) Reset(op Op, side, off, n int) error {
	if op.reset == nil {
		return nil
	}
	return op.reset(f.stores[side], f.seqs, off, n)
}

// Sink returns the sum of what the reads so far have read.
func (f *Fixture) Sink() int64 { return f.sink }

// Keys iterates the keys that have state in the backend.
func (f *Fixture) Keys() (int, error) {
	n := 0
	for _, err := range f.backend.Keys(f.kind, nil) { // each fixture names its state by its kind
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
