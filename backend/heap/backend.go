package heap

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"log/slog"
	"sync/atomic"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/keygroup"
)

// Name is the backend's name in configuration (state.backend.type).
const Name = "hashmap"

// Backend is the hashmap keyed state backend: working state lives on the Go heap, as boxed Go
// values, in one Go map per state and key group. See the package documentation.
type Backend struct {
	opID   string
	maxP   int
	rng    keygroup.Range
	keySer string

	states map[string]table
	order  []string // registration (and restore) order: the snapshot's state indices

	key    []byte // the current key, if keyOK (SetCurrentKeyWord fills it lazily)
	keyOK  bool
	curKey tkey   // its table key in the void namespace
	keyBuf []byte // buffer of curKey's general form
	kgIdx  int    // current key group - rng.Start
	hasKey bool
	epoch  uint64 // last epoch handed to a table
	// running counts snapshots between their synchronous phase and the end of their
	// asynchronous phase; while it is zero, frozen tables can be modified in place.
	running atomic.Int32
	closed  bool
	// logger receives notes on registrations (dropped fields); nil logs nothing. Set by
	// StateBackend from its Logger.
	logger  *slog.Logger
	schemas backend.Schemas // the value serializers' schemas, memoized
	clock   *backend.Clock  // judges TTL states
	// views are the states TTL descriptors see (ttlview.With) over their tables' raw
	// states, by name.
	views map[string]backend.State
	// inc is the bookkeeping of incremental checkpoints (incremental.go); nil: every
	// checkpoint is full.
	inc *incState
}

// New creates a hashmap backend for one subtask, restoring opts.Restore if given. Its
// checkpoints are full.
func New(ctx context.Context, opts backend.Options) (*Backend, error) {
	return newBackend(ctx, opts, nil)
}

// NewIncremental is New for a backend whose checkpoints are incremental (Flink's
// state.backend.incremental): each writes what changed since the last confirmed checkpoint,
// as a delta on that checkpoint's chain, or a new full base when inc's bounds say so.
// Savepoints stay canonical and full. With opts.Claim, a restore from one chain over this
// backend's key groups builds on it, so the first checkpoint writes only what changed since;
// otherwise the first checkpoint writes a base.
func NewIncremental(ctx context.Context, opts backend.Options, inc IncrementalOptions) (*Backend, error) {
	if err := inc.Validate(); err != nil {
		return nil, err
	}
	return newBackend(ctx, opts, &inc)
}

func newBackend(ctx context.Context, opts backend.Options, inc *IncrementalOptions) (*Backend, error) {
	if err := keygroup.Validate(opts.MaxParallelism, 1); err != nil {
		return nil, err
	}
	r := opts.KeyGroupRange
	if r.Len() == 0 || r.Start < 0 || r.End >= opts.MaxParallelism {
		return nil, fmt.Errorf("heap backend: key-group range %v is not inside [0, %d)", r, opts.MaxParallelism)
	}
	if opts.KeySerializerID == "" {
		return nil, fmt.Errorf("heap backend: backend.Options.KeySerializerID is required")
	}
	if opts.OperatorID == "" {
		opts.OperatorID = "operator"
	}
	if opts.Clock == nil {
		opts.Clock = &backend.Clock{}
	}
	b := &Backend{opID: opts.OperatorID, maxP: opts.MaxParallelism, rng: r, keySer: opts.KeySerializerID,
		states: map[string]table{}, clock: opts.Clock, views: map[string]backend.State{}}
	if inc != nil {
		b.inc = newIncState(*inc)
	}
	if err := b.restore(ctx, opts); err != nil {
		return nil, err
	}
	b.clock.Restore(opts.Restore, r)
	return b, nil
}

// MaxParallelism implements backend.Keyed.
func (b *Backend) MaxParallelism() int { return b.maxP }

// KeyGroupRange implements backend.Keyed.
func (b *Backend) KeyGroupRange() keygroup.Range { return b.rng }

// KeySerializerID implements backend.Keyed.
func (b *Backend) KeySerializerID() string { return b.keySer }

// SetCurrentKey implements backend.Keyed.
func (b *Backend) SetCurrentKey(key []byte, kg int) error {
	if b.closed {
		return backend.ErrClosed
	}
	if !b.rng.Contains(kg) {
		return b.notOwned(kg)
	}
	b.kgIdx, b.hasKey = kg-b.rng.Start, true
	b.key, b.keyOK = append(b.key[:0], key...), true
	b.curKey.setKey(b.key, nil, &b.keyBuf)
	return nil
}

// SetCurrentKeyWord implements backend.WordKeyed.
func (b *Backend) SetCurrentKeyWord(w uint64, kg int) error {
	if b.closed {
		return backend.ErrClosed
	}
	if !b.rng.Contains(kg) {
		return b.notOwned(kg)
	}
	b.kgIdx, b.hasKey, b.keyOK = kg-b.rng.Start, true, false
	b.curKey.form, b.curKey.u = formU64, w
	return nil
}

func (b *Backend) notOwned(kg int) error {
	b.hasKey = false
	return fmt.Errorf("%w: key group %d of operator %s is outside this backend's range %v", backend.ErrKeyGroupNotOwned, kg, b.opID, b.rng)
}

// currentKey returns the current key's bytes.
func (b *Backend) currentKey() []byte {
	if !b.keyOK {
		b.key, b.keyOK = binary.BigEndian.AppendUint64(b.key[:0], b.curKey.u), true
	}
	return b.key
}

func (b *Backend) nextEpoch() uint64 { b.epoch++; return b.epoch }

// sharing reports whether a snapshot is running: only then may a frozen table's cells be read
// by another goroutine, and must values read from them be copied before the task gets them.
func (b *Backend) sharing() bool { return b.running.Load() > 0 }

// CreateState implements backend.Keyed.
func (b *Backend) CreateState(spec backend.Spec) (backend.State, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	if err := spec.Check(); err != nil {
		return nil, fmt.Errorf("heap backend: %w", err)
	}
	meta := b.schemas.Meta(spec)
	if t, ok := b.states[spec.Name]; ok {
		recorded := []snapshot.StateMeta{t.meta()}
		if r, ok := t.(*restored); ok {
			recorded = append(recorded, r.alt...)
		}
		ev, rw, err := backend.CheckRegistration(b.opID, spec, &b.schemas, b.clock, recorded...)
		if err != nil {
			return nil, err
		}
		if t.registered() {
			if rw != nil {
				return nil, fmt.Errorf("%w: state %q of operator %s is registered again with another TTL or serializer than its first registration in this run",
					backend.ErrStateConflict, spec.Name, b.opID)
			}
			return b.view(spec.Name, t), nil
		}
		countDropped(&ev, t.(*restored))
		ev.Log(b.logger, b.opID)
		t, err := b.register(spec, meta, t.(*restored), rw)
		if err != nil {
			return nil, err
		}
		return b.expose(spec, t)
	}
	t := b.newTable(rawSpec(spec), meta)
	b.states[spec.Name] = t
	b.order = append(b.order, spec.Name)
	b.track(spec.Name, t)
	return b.expose(spec, t)
}

// expose returns the state a descriptor with spec sees of the registered table t: its raw
// state, or the TTL view over it, whose accesses run the state's incremental cleanup
// (cleanup.go) unless spec turns it off.
func (b *Backend) expose(spec backend.Spec, t table) (backend.State, error) {
	if spec.TTL == nil || !spec.TTL.Enabled() {
		return t.internal(), nil
	}
	var access func()
	if c, ok := t.(cleanable); ok && spec.TTL.Cleanup() > 0 {
		access = newCleanup(b, c, *spec.TTL).access
	}
	v, err := ttlview.With(t.internal(), spec, b.clock, access)
	if err != nil {
		return nil, err
	}
	b.views[spec.Name] = v
	return v, nil
}

func (b *Backend) view(name string, t table) backend.State {
	if v, ok := b.views[name]; ok {
		return v
	}
	return t.internal()
}

func (b *Backend) newTable(spec backend.Spec, meta snapshot.StateMeta) table {
	n := b.rng.Len()
	base := stateBase{b: b, spec: spec, m: meta, mutable: !spec.Value.Immutable()}
	switch spec.Kind {
	case backend.KindList:
		if spec.Word != nil && ttlOn(spec) {
			return newStampedWordListState(base, n)
		}
		if spec.Word != nil {
			return newWordListState(base, n)
		}
		return newListState(base, n)
	case backend.KindMap:
		if spec.UserKeyWord != nil && spec.UserKeyWord.KeyWord != nil && spec.Word != nil {
			if ttlOn(spec) {
				return newStampedWordMapState(base, n)
			}
			return newWordMapState(base, n)
		}
		m := &mapState{stateBase: base, tables: newTables[*mapCell](n)}
		if spec.UserKeyWord != nil {
			return &wordKeyMapState{m}
		}
		return m
	default:
		if spec.Word != nil && ttlOn(spec) {
			return &stampedWordState{stateBase: base, tables: newTables[ttlview.StampedWord](n)}
		}
		if spec.Word != nil {
			return &wordState{stateBase: base, tables: newTables[uint64](n)}
		}
		return newValueState(base, n)
	}
}

// Keys implements backend.Keyed.
func (b *Backend) Keys(name string, ns []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		t, ok := b.states[name]
		if !ok {
			yield(nil, fmt.Errorf("%w: %q in operator %s", backend.ErrUnknownState, name, b.opID))
			return
		}
		if c, ok := t.(cleanable); ok { // no cleanup writes while the keys are read
			*c.iterations()++
			defer func() { *c.iterations()-- }()
		}
		t.eachKey(func(key, rest []byte) bool {
			return string(rest) != string(ns) || yield(key, nil)
		})
	}
}

// Close implements backend.Keyed. The state is dropped.
func (b *Backend) Close() error {
	b.closed, b.hasKey = true, false // a state still held returns backend.ErrClosed
	b.states = nil
	return nil
}

// table is one registered (or restored, not yet registered) state.
type table interface {
	meta() snapshot.StateMeta
	registered() bool
	internal() backend.State
	// eachKey calls fn for every (key, namespace) with state, until fn returns false.
	eachKey(fn func(key, ns []byte) bool)
	// freeze runs the synchronous snapshot phase for this state.
	freeze() frozen
}

// frozen is a state's part of a snapshot: it writes one key group's records.
type frozen interface {
	write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error)
	// empty reports whether the state has no record in any of its kgs key groups.
	empty(kgs int) bool
}

// stateBase is what every state object has: its backend, spec and current namespace, and a
// scratch buffer for the map key (current key + namespace).
type stateBase struct {
	b    *Backend
	spec backend.Spec
	m    snapshot.StateMeta
	ns   []byte
	key  []byte // buffer of tk's general form
	tk   tkey
	// mutable is set when the values (list elements, map values) can be changed in place
	// (serde.Erased.Immutable is false): those read from a cell a snapshot holds are copied.
	mutable bool
	// iterating counts the iterations of this state that run (mapState.All, Backend.Keys):
	// the incremental cleanup leaves the state alone meanwhile.
	iterating int
	// d is the state's dirty log when checkpoints are incremental (Backend.track), else nil.
	d *dirtyLog
}

func (s *stateBase) base() *stateBase { return s }

func (s *stateBase) meta() snapshot.StateMeta { return s.m }
func (s *stateBase) registered() bool         { return true }
func (s *stateBase) SetNamespace(ns []byte)   { s.ns = append(s.ns[:0], ns...) }

// copyErr reports a value that could not be copied out of a cell a snapshot holds.
func (s *stateBase) copyErr(err error) error {
	return fmt.Errorf("heap backend: state %q of operator %s: copy a value a running snapshot holds with serializer %q: %w",
		s.spec.Name, s.b.opID, s.spec.Value.ID(), err)
}

// direct is the fast path of the common case: a current key of 8 bytes (formU64) in the void
// namespace, whose key group's table is a single layer (and, to write, not frozen). Then it
// returns that table and the key in its u64 map, and the caller may use the map directly;
// otherwise ok is false and the caller goes through mapKey, readable and writable.
func direct[C any](s *stateBase, ts []*kgTable[C], write bool) (t *kgTable[C], u uint64, ok bool) {
	b := s.b
	if !b.hasKey || b.curKey.form != formU64 || len(s.ns) != 0 {
		return nil, 0, false
	}
	t = ts[b.kgIdx]
	ok = t.base == nil && !(write && t.frozen)
	if ok && write && s.d != nil {
		s.d.markU64(b.kgIdx, b.curKey.u)
	}
	return t, b.curKey.u, ok
}

// mapKey returns the table key of the current key and namespace, or an error without a key.
// It points into the state's or the backend's buffers: use it before the next call.
func (s *stateBase) mapKey() (*tkey, error) {
	if !s.b.hasKey {
		if s.b.closed {
			return nil, backend.ErrClosed
		}
		return nil, backend.ErrNoCurrentKey
	}
	if len(s.ns) == 0 {
		return &s.b.curKey, nil
	}
	s.tk.setKey(s.b.currentKey(), s.ns, &s.key)
	return &s.tk, nil
}
