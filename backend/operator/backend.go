package operator

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// DefaultUnionSizeWarningBytes is the default of Options.UnionSizeWarningBytes: 1 MiB.
const DefaultUnionSizeWarningBytes = 1 << 20

// Options configures the operator state backend of one subtask.
type Options struct {
	// OperatorID names the operator in file names, logs and errors. Default: "operator".
	OperatorID string
	// SubtaskIndex is this subtask's index, in [0, Parallelism). Default: 0.
	SubtaskIndex int
	// Parallelism is the operator's parallelism. Required (>= 1).
	Parallelism int
	// Restore holds the operator state handles of all subtasks of the previous run of this
	// operator (snapshot.OperatorState.Operator), in any order. Empty for a fresh start.
	Restore []*snapshot.OperatorStateHandle
	// Reader reads the restore handles' files. Required when Restore is not empty.
	Reader snapshot.Reader
	// Logger receives warnings (union state over UnionSizeWarningBytes). Default: discard.
	Logger *slog.Logger
	// UnionSizeWarningBytes: when the union list state restored to this subtask is larger
	// than this many bytes (serialized), a warning names the state and its size. Default (0):
	// DefaultUnionSizeWarningBytes; negative: never warn.
	UnionSizeWarningBytes int64
}

func (o *Options) setDefaults() {
	if o.OperatorID == "" {
		o.OperatorID = "operator"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UnionSizeWarningBytes == 0 {
		o.UnionSizeWarningBytes = DefaultUnionSizeWarningBytes
	}
}

// Validate reports every violation of the options' constraints at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("parallelism %d must be at least 1", o.Parallelism))
	} else if o.SubtaskIndex < 0 || o.SubtaskIndex >= o.Parallelism {
		errs = append(errs, fmt.Errorf("subtask index %d is outside [0, %d)", o.SubtaskIndex, o.Parallelism))
	}
	if len(o.Restore) > 0 && o.Reader == nil {
		errs = append(errs, errors.New("restore handles given without a Reader"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("operator state backend options: %w", err)
	}
	return nil
}

// Backend is the operator state backend of one subtask. It implements
// backend.Operator; see the package documentation for its contracts.
type Backend struct {
	opts     Options
	restored bool
	states   map[string]opState
	// raw holds restored states that are not registered yet, still serialized.
	raw    map[string]*rawState
	closed bool

	schemas backend.Schemas // the value serializers' schemas, memoized
}

var _ backend.Operator = (*Backend)(nil)

// New creates the operator state backend of one subtask, restoring its share of the states
// of opts.Restore (see the package documentation for the redistribution rules).
func New(ctx context.Context, opts Options) (*Backend, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &Backend{opts: opts, restored: len(opts.Restore) > 0, states: map[string]opState{}, raw: map[string]*rawState{}}
	if b.restored {
		if err := b.restore(ctx); err != nil {
			return nil, fmt.Errorf("operator %s subtask %d: restore operator state: %w", opts.OperatorID, opts.SubtaskIndex, err)
		}
	}
	return b, nil
}

// IsRestored implements backend.Operator: true when Options.Restore was not empty.
func (b *Backend) IsRestored() bool { return b.restored }

// Close implements backend.Operator. Later calls fail with backend.ErrClosed.
func (b *Backend) Close() error {
	b.closed = true
	b.states, b.raw = nil, nil
	return nil
}

// GetListState implements state.OperatorStateStore: split-distribute list state.
func (b *Backend) GetListState(spec backend.Spec) (backend.OperatorList, error) {
	s, err := b.register(spec, snapshot.ModeSplit)
	if err != nil {
		return nil, err
	}
	return s.(*listState), nil
}

// GetUnionListState implements state.OperatorStateStore: union list state.
func (b *Backend) GetUnionListState(spec backend.Spec) (backend.OperatorList, error) {
	s, err := b.register(spec, snapshot.ModeUnion)
	if err != nil {
		return nil, err
	}
	return s.(*listState), nil
}

// GetBroadcastState implements state.OperatorStateStore: broadcast map state.
func (b *Backend) GetBroadcastState(spec backend.Spec) (backend.Broadcast, error) {
	s, err := b.register(spec, snapshot.ModeBroadcast)
	if err != nil {
		return nil, err
	}
	return s.(*broadcastState), nil
}

// opState is a registered state.
type opState interface {
	meta() snapshot.OperatorStateMeta
	// freeze returns the state as it is now, for a snapshot; later writes do not change it.
	freeze() frozen
}

func (b *Backend) register(spec backend.Spec, mode snapshot.OperatorStateMode) (opState, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	if spec.Name == "" {
		return nil, errors.New("operator state: descriptor has an empty name")
	}
	wantKind := backend.KindList
	if mode == snapshot.ModeBroadcast {
		wantKind = backend.KindMap
	}
	if spec.Kind != wantKind {
		return nil, fmt.Errorf("%w: %s operator state %q needs a %s descriptor, got %s", backend.ErrStateConflict, mode, spec.Name, wantKind, spec.Kind)
	}
	if spec.Value == nil || (mode == snapshot.ModeBroadcast && spec.UserKey == nil) {
		return nil, fmt.Errorf("operator state %q: descriptor without serializer", spec.Name)
	}
	meta := snapshot.OperatorStateMeta{Name: spec.Name, Mode: mode, Value: spec.Value.ID(), Schema: b.schemas.Of(spec.Value)}
	if mode == snapshot.ModeBroadcast {
		meta.UserKey, meta.UserKeySchema = spec.UserKey.ID(), b.schemas.Of(spec.UserKey)
	}
	if s, ok := b.states[spec.Name]; ok {
		_, rw, err := b.check(spec, mode, "registered", s.meta())
		if err != nil {
			return nil, err
		}
		if rw != nil {
			return nil, fmt.Errorf("%w: operator state %q of operator %s is registered again with another serializer than its first registration in this run",
				backend.ErrStateConflict, spec.Name, b.opts.OperatorID)
		}
		return s, nil
	}
	var s opState
	if raw, ok := b.raw[spec.Name]; ok {
		ev, rw, err := b.check(spec, mode, "restored", append([]snapshot.OperatorStateMeta{raw.meta}, raw.alt...)...)
		if err != nil {
			return nil, err
		}
		for _, v := range raw.values {
			ev.Count(v)
		}
		ev.Log(b.opts.Logger, b.opts.OperatorID)
		if rw != nil {
			if err := raw.rewrite(b, rw); err != nil {
				return nil, err
			}
		}
		if s, err = raw.decode(b, spec, meta); err != nil {
			return nil, err
		}
		delete(b.raw, spec.Name)
	} else if mode == snapshot.ModeBroadcast {
		s = &broadcastState{b: b, m: meta, key: spec.UserKey, val: spec.Value, entries: map[string]entry{}}
	} else {
		s = &listState{b: b, m: meta, val: spec.Value}
	}
	b.states[spec.Name] = s
	return s, nil
}

// check checks a registration (spec, as a mode state) against the state registered or
// restored (how) as recorded: the same mode (else ErrStateConflict), then the rules of every
// backend (backend.CheckOperatorRegistration): serializers that read the recorded ones as is
// or through the spec's migration, a value schema that reads the recorded one, the same user
// key schema. It returns the Evolution to log and the migration to apply, if any.
func (b *Backend) check(spec backend.Spec, mode snapshot.OperatorStateMode, how string, recorded ...snapshot.OperatorStateMeta) (backend.Evolution, *backend.Rewrite, error) {
	kind := backend.KindList
	if mode == snapshot.ModeBroadcast {
		kind = backend.KindMap
	}
	metas := make([]snapshot.StateMeta, len(recorded))
	for i, have := range recorded {
		if have.Mode != mode {
			return backend.Evolution{}, nil, fmt.Errorf("%w: operator state %q was %s as %s state and cannot be used as %s state",
				backend.ErrStateConflict, spec.Name, how, have.Mode, mode)
		}
		metas[i] = snapshot.StateMeta{Name: have.Name, Kind: kind, Value: have.Value, UserKey: have.UserKey,
			Schema: have.Schema, UserKeySchema: have.UserKeySchema}
	}
	return backend.CheckOperatorRegistration(b.opts.OperatorID, spec, &b.schemas, metas...)
}

// listState is split or union list state. The list is append-only: elements are never
// overwritten in place (Update and Clear replace the slice), so a snapshot captures it as a
// slice header with its capacity cut to its length.
type listState struct {
	b    *Backend
	m    snapshot.OperatorStateMeta
	val  serde.Erased
	list []any
}

func (s *listState) meta() snapshot.OperatorStateMeta { return s.m }

func (s *listState) freeze() frozen {
	return frozen{meta: s.m, val: s.val, list: s.list[:len(s.list):len(s.list)]}
}

func (s *listState) Get() ([]any, error) {
	if s.b.closed {
		return nil, backend.ErrClosed
	}
	return s.list[:len(s.list):len(s.list)], nil
}

func (s *listState) Add(v any) error {
	if s.b.closed {
		return backend.ErrClosed
	}
	s.list = append(s.list, v)
	return nil
}

func (s *listState) AddAll(vs []any) error {
	if s.b.closed {
		return backend.ErrClosed
	}
	s.list = append(s.list, vs...)
	return nil
}

func (s *listState) Update(vs []any) error {
	if s.b.closed {
		return backend.ErrClosed
	}
	if len(vs) == 0 {
		s.list = nil
		return nil
	}
	s.list = slices.Clone(vs)
	return nil
}

func (s *listState) Clear() error { return s.Update(nil) }

// entry is a broadcast map entry; the map is keyed by the key's encoding.
type entry struct{ key, value any }

// broadcastState is a broadcast map. After a snapshot the map is frozen: the next write
// copies it first.
type broadcastState struct {
	b       *Backend
	m       snapshot.OperatorStateMeta
	key     serde.Erased
	val     serde.Erased
	entries map[string]entry
	frozen  bool
	buf     []byte
}

func (s *broadcastState) meta() snapshot.OperatorStateMeta { return s.m }

func (s *broadcastState) freeze() frozen {
	s.frozen = true
	return frozen{meta: s.m, val: s.val, entries: s.entries}
}

func (s *broadcastState) encodeKey(uk any) (string, error) {
	if s.b.closed {
		return "", backend.ErrClosed
	}
	buf, err := s.key.AppendAny(s.buf[:0], uk)
	s.buf = buf
	if err != nil {
		return "", fmt.Errorf("broadcast state %q: encode key: %w", s.m.Name, err)
	}
	return string(buf), nil
}

// thaw makes the map writable: a map a snapshot holds is copied first.
func (s *broadcastState) thaw() {
	if s.frozen {
		s.entries = maps.Clone(s.entries)
		s.frozen = false
	}
}

func (s *broadcastState) Get(uk any) (any, bool, error) {
	k, err := s.encodeKey(uk)
	if err != nil {
		return nil, false, err
	}
	e, ok := s.entries[k]
	return e.value, ok, nil
}

func (s *broadcastState) Put(uk, v any) error {
	k, err := s.encodeKey(uk)
	if err != nil {
		return err
	}
	s.thaw()
	s.entries[k] = entry{key: uk, value: v}
	return nil
}

func (s *broadcastState) Remove(uk any) error {
	k, err := s.encodeKey(uk)
	if err != nil {
		return err
	}
	if _, ok := s.entries[k]; ok {
		s.thaw()
		delete(s.entries, k)
	}
	return nil
}

func (s *broadcastState) Contains(uk any) (bool, error) {
	k, err := s.encodeKey(uk)
	if err != nil {
		return false, err
	}
	_, ok := s.entries[k]
	return ok, nil
}

func (s *broadcastState) IsEmpty() (bool, error) {
	if s.b.closed {
		return false, backend.ErrClosed
	}
	return len(s.entries) == 0, nil
}

func (s *broadcastState) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		if s.b.closed {
			yield(backend.MapEntry{}, backend.ErrClosed)
			return
		}
		for _, e := range s.entries {
			if !yield(backend.MapEntry{Key: e.key, Value: e.value}, nil) {
				return
			}
		}
	}
}

func (s *broadcastState) Clear() error {
	if s.b.closed {
		return backend.ErrClosed
	}
	s.entries, s.frozen = map[string]entry{}, false
	return nil
}

// Create is how a backend.StateBackend creates the operator state backend of a subtask: every
// state backend keeps its operator state here (as Flink's do). logger may be nil.
func Create(ctx context.Context, o backend.OperatorOptions, logger *slog.Logger) (backend.Operator, error) {
	b, err := New(ctx, Options{OperatorID: o.OperatorID, SubtaskIndex: o.SubtaskIndex, Parallelism: o.Parallelism,
		Restore: o.Restore, Reader: o.Reader, Logger: logger})
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return b, nil
}
