package state

import (
	"errors"
	"iter"

	"github.com/streamstate/streamstate/backend"
)

// State is what every keyed state has: a namespace and Clear. All states act on the current
// key of their backend and on their current namespace (void until SetNamespace).
type State interface {
	// SetNamespace scopes later calls to ns (a window, for window operators). The void
	// namespace is empty.
	SetNamespace(ns []byte)
	// Clear removes the state of the current key and namespace.
	Clear() error
}

// MergingState can merge the state of several namespaces into one (session windows).
type MergingState interface {
	State
	// MergeNamespaces folds the state of every source namespace into target and clears the
	// sources. The current namespace is unchanged.
	MergeNamespaces(target []byte, sources [][]byte) error
}

// ValueState holds one value per key and namespace.
type ValueState[V any] interface {
	State
	// Value returns the value, or ok=false and V's zero value when there is none.
	Value() (v V, ok bool, err error)
	// Update sets the value. The backend may keep v: do not modify it afterwards. Changing
	// what Value returned and passing it to Update is fine (Flink's mutable accumulators):
	// snapshots keep what they held.
	Update(v V) error
}

// ListState holds a list per key and namespace.
type ListState[V any] interface {
	MergingState
	// Get iterates the elements in insertion order; an absent list yields nothing.
	Get() iter.Seq2[V, error]
	// Add appends v.
	Add(v V) error
	// AddAll appends vs in order.
	AddAll(vs []V) error
	// Update replaces the list with vs (clears it when vs is empty).
	Update(vs []V) error
}

// MapState holds a map per key and namespace.
type MapState[UK comparable, UV any] interface {
	State
	Get(k UK) (v UV, ok bool, err error)
	Put(k UK, v UV) error
	PutAll(m map[UK]UV) error
	Remove(k UK) error
	Contains(k UK) (bool, error)
	IsEmpty() (bool, error)
	// Keys, Values and All iterate the entries in no particular order (the lsm backend
	// yields them in user-key byte order). While iterating, the loop may Remove the entry just
	// yielded (what Flink's iterator.remove() does), and nothing else: collect other changes
	// and apply them after.
	Keys() iter.Seq2[UK, error]
	Values() iter.Seq2[UV, error]
	All() iter.Seq2[Entry[UK, UV], error]
}

// Entry is one map entry.
type Entry[K, V any] struct {
	Key   K
	Value V
}

// ReducingState folds added values with the descriptor's Reduce function.
type ReducingState[V any] interface {
	MergingState
	Get() (v V, ok bool, err error)
	Add(v V) error
}

// AggregatingState folds inputs into an accumulator with an AggregateFunction.
type AggregatingState[IN, OUT any] interface {
	MergingState
	// Get returns the function's result for the accumulator, ok=false when nothing was added.
	Get() (out OUT, ok bool, err error)
	Add(v IN) error
}

// GetValueState returns the value state d describes, creating it on first use.
func GetValueState[V any](c StateCreator, d ValueDescriptor[V]) (ValueState[V], error) {
	in, err := create[backend.Value](c, d)
	if err != nil {
		return nil, err
	}
	return &valueState[V]{in: in, word: wordState[V](in)}, nil
}

// GetListState returns the list state d describes, creating it on first use.
func GetListState[V any](c StateCreator, d ListDescriptor[V]) (ListState[V], error) {
	in, err := create[backend.List](c, d)
	if err != nil {
		return nil, err
	}
	l := &listState[V]{nsState: nsState{in: in}, in: in, word: wordList[V](in)}
	l.get = l.elements()
	return l, nil
}

// GetMapState returns the map state d describes, creating it on first use.
func GetMapState[UK comparable, UV any](c StateCreator, d MapDescriptor[UK, UV]) (MapState[UK, UV], error) {
	in, err := create[backend.Map](c, d)
	if err != nil {
		return nil, err
	}
	return &mapState[UK, UV]{mapOps: mapOps[UK, UV]{in: in, wk: wordKeys[UK](in), wm: wordMap[UK, UV](in)}, ns: in}, nil
}

// GetReducingState returns the reducing state d describes, creating it on first use.
func GetReducingState[V any](c StateCreator, d ReducingDescriptor[V]) (ReducingState[V], error) {
	if d.Reduce == nil {
		return nil, errors.New("state: ReducingDescriptor " + d.Name + " has no Reduce function")
	}
	in, err := create[backend.Value](c, d)
	if err != nil {
		return nil, err
	}
	return &reducingState[V]{nsState: nsState{in: in}, in: in, word: wordState[V](in), reduce: d.Reduce}, nil
}

// GetAggregatingState returns the aggregating state d describes, creating it on first use.
func GetAggregatingState[IN, ACC, OUT any](c StateCreator, d AggregatingDescriptor[IN, ACC, OUT]) (AggregatingState[IN, OUT], error) {
	if d.Function == nil {
		return nil, errors.New("state: AggregatingDescriptor " + d.Name + " has no Function")
	}
	in, err := create[backend.Value](c, d)
	if err != nil {
		return nil, err
	}
	return &aggregatingState[IN, ACC, OUT]{nsState: nsState{in: in}, in: in, fn: d.Function}, nil
}

// cast converts an erased value back; a nil interface is V's zero value (e.g. a nil slice).
func cast[V any](v any) V {
	t, _ := v.(V)
	return t
}

// nsState remembers the current namespace so that merging can visit others and come back.
type nsState struct {
	in backend.State
	ns []byte
}

func (s *nsState) SetNamespace(ns []byte) {
	s.ns = append(s.ns[:0], ns...)
	s.in.SetNamespace(ns)
}

func (s *nsState) Clear() error { return s.in.Clear() }

// merge visits each source namespace (read then clear), then the target, and restores the
// current namespace.
func (s *nsState) merge(target []byte, sources [][]byte, visitSource func() error, writeTarget func() error) error {
	defer s.in.SetNamespace(s.ns)
	for _, src := range sources {
		if string(src) == string(target) {
			continue
		}
		s.in.SetNamespace(src)
		if err := visitSource(); err != nil {
			return err
		}
		if err := s.in.Clear(); err != nil {
			return err
		}
	}
	s.in.SetNamespace(target)
	return writeTarget()
}

// valueState is a ValueState over an backend.Value; word is the same state when the backend
// keeps V unboxed.
type valueState[V any] struct {
	in   backend.Value
	word backend.WordValue
}

func (s *valueState[V]) SetNamespace(ns []byte) { s.in.SetNamespace(ns) }
func (s *valueState[V]) Clear() error           { return s.in.Clear() }
func (s *valueState[V]) Value() (V, bool, error) {
	if s.word != nil {
		w, ok, err := s.word.WordValue()
		return fromWord[V](w), ok, err
	}
	v, ok, err := s.in.Value()
	return cast[V](v), ok, err
}

func (s *valueState[V]) Update(v V) error {
	if s.word != nil {
		return s.word.UpdateWord(toWord(v))
	}
	return s.in.Update(v)
}

type listState[V any] struct {
	nsState
	in   backend.List
	word backend.WordList // in, when the backend keeps V unboxed
	get  iter.Seq2[V, error]
}

// Get returns the same iterator every time, built once, so that a call allocates nothing.
func (s *listState[V]) Get() iter.Seq2[V, error] { return s.get }

func (s *listState[V]) elements() iter.Seq2[V, error] {
	if s.word != nil {
		return func(yield func(V, error) bool) {
			ws, err := s.word.WordList()
			if err != nil {
				var zero V
				yield(zero, err)
				return
			}
			for _, v := range fromWords[V](ws) {
				if !yield(v, nil) {
					return
				}
			}
		}
	}
	return elements[V](s.in.Get)
}

// elements iterates the erased list get returns as V values.
func elements[V any](get func() ([]any, error)) iter.Seq2[V, error] {
	return func(yield func(V, error) bool) {
		vs, err := get()
		if err != nil {
			var zero V
			yield(zero, err)
			return
		}
		for _, v := range vs {
			if !yield(cast[V](v), nil) {
				return
			}
		}
	}
}

func (s *listState[V]) Add(v V) error {
	if s.word != nil {
		return s.word.AddWord(toWord(v))
	}
	return s.in.Add(v)
}

func (s *listState[V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	if s.word != nil {
		return s.word.AddWords(asWords(vs))
	}
	return s.in.AddAll(boxAll(vs))
}

func (s *listState[V]) Update(vs []V) error {
	if s.word != nil {
		return s.word.UpdateWords(asWords(vs))
	}
	return s.in.Update(boxAll(vs))
}

func (s *listState[V]) MergeNamespaces(target []byte, sources [][]byte) error {
	var all []any
	return s.merge(target, sources, func() error {
		vs, err := s.in.Get()
		all = append(all, vs...)
		return err
	}, func() error {
		if len(all) == 0 {
			return nil
		}
		return s.in.AddAll(all)
	})
}

func boxAll[V any](vs []V) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// mapOps is the typed face of a map: keyed map state (with a namespace) and broadcast state.
type mapOps[UK comparable, UV any] struct {
	in backend.Broadcast
	wk backend.WordKeyMap // in, when the backend looks up UK keys as words
	wm backend.WordMap    // in, when the backend keeps UK keys and UV values as words
}

func (s *mapOps[UK, UV]) Clear() error { return s.in.Clear() }
func (s *mapOps[UK, UV]) Get(k UK) (UV, bool, error) {
	if s.wm != nil {
		w, ok, err := s.wm.GetWord(toWord(k))
		return fromWord[UV](w), ok, err
	}
	var v any
	var ok bool
	var err error
	if s.wk != nil {
		v, ok, err = s.wk.GetWordKey(toWord(k))
	} else {
		v, ok, err = s.in.Get(k)
	}
	return cast[UV](v), ok, err
}
func (s *mapOps[UK, UV]) Put(k UK, v UV) error {
	if s.wm != nil {
		return s.wm.PutWord(toWord(k), toWord(v))
	}
	return s.in.Put(k, v)
}
func (s *mapOps[UK, UV]) PutAll(m map[UK]UV) error {
	for k, v := range m {
		if err := s.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}
func (s *mapOps[UK, UV]) Remove(k UK) error {
	if s.wk != nil {
		return s.wk.RemoveWordKey(toWord(k))
	}
	return s.in.Remove(k)
}
func (s *mapOps[UK, UV]) Contains(k UK) (bool, error) {
	if s.wk != nil {
		return s.wk.ContainsWordKey(toWord(k))
	}
	return s.in.Contains(k)
}
func (s *mapOps[UK, UV]) IsEmpty() (bool, error) { return s.in.IsEmpty() }
func (s *mapOps[UK, UV]) Keys() iter.Seq2[UK, error] {
	if s.wm != nil {
		return project(s.wm.AllWords(), func(e backend.WordEntry) UK { return fromWord[UK](e.Key) })
	}
	return project(s.in.All(), func(e backend.MapEntry) UK { return cast[UK](e.Key) })
}
func (s *mapOps[UK, UV]) Values() iter.Seq2[UV, error] {
	if s.wm != nil {
		return project(s.wm.AllWords(), func(e backend.WordEntry) UV { return fromWord[UV](e.Value) })
	}
	return project(s.in.All(), func(e backend.MapEntry) UV { return cast[UV](e.Value) })
}
func (s *mapOps[UK, UV]) All() iter.Seq2[Entry[UK, UV], error] {
	if s.wm != nil {
		return project(s.wm.AllWords(), func(e backend.WordEntry) Entry[UK, UV] {
			return Entry[UK, UV]{Key: fromWord[UK](e.Key), Value: fromWord[UV](e.Value)}
		})
	}
	return project(s.in.All(), func(e backend.MapEntry) Entry[UK, UV] {
		return Entry[UK, UV]{Key: cast[UK](e.Key), Value: cast[UV](e.Value)}
	})
}

// mapState is keyed map state: mapOps plus the namespace.
type mapState[UK comparable, UV any] struct {
	mapOps[UK, UV]
	ns backend.State
}

func (s *mapState[UK, UV]) SetNamespace(ns []byte) { s.ns.SetNamespace(ns) }

func project[E, T any](seq iter.Seq2[E, error], f func(E) T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for e, err := range seq {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if !yield(f(e), nil) {
				return
			}
		}
	}
}

type reducingState[V any] struct {
	nsState
	in     backend.Value
	word   backend.WordValue // in, when the backend keeps V unboxed
	reduce func(acc, v V) (V, error)
}

func (s *reducingState[V]) Get() (V, bool, error) {
	if s.word != nil {
		w, ok, err := s.word.WordValue()
		return fromWord[V](w), ok, err
	}
	v, ok, err := s.in.Value()
	return cast[V](v), ok, err
}

func (s *reducingState[V]) update(v V) error {
	if s.word != nil {
		return s.word.UpdateWord(toWord(v))
	}
	return s.in.Update(v)
}

func (s *reducingState[V]) Add(v V) error {
	acc, ok, err := s.Get()
	if err != nil {
		return err
	}
	if ok {
		if v, err = s.reduce(acc, v); err != nil {
			return err
		}
	}
	return s.update(v)
}

func (s *reducingState[V]) MergeNamespaces(target []byte, sources [][]byte) error {
	var acc V
	have := false
	fold := func() error {
		v, ok, err := s.Get()
		if err != nil || !ok {
			return err
		}
		if have {
			v, err = s.reduce(acc, v)
			if err != nil {
				return err
			}
		}
		acc, have = v, true
		return nil
	}
	return s.merge(target, sources, fold, func() error {
		if err := fold(); err != nil || !have {
			return err
		}
		return s.update(acc)
	})
}

type aggregatingState[IN, ACC, OUT any] struct {
	nsState
	in backend.Value
	fn AggregateFunction[IN, ACC, OUT]
}

func (s *aggregatingState[IN, ACC, OUT]) acc() (ACC, bool, error) {
	v, ok, err := s.in.Value()
	return cast[ACC](v), ok, err
}

func (s *aggregatingState[IN, ACC, OUT]) Get() (OUT, bool, error) {
	var zero OUT
	acc, ok, err := s.acc()
	if err != nil || !ok {
		return zero, false, err
	}
	out, err := s.fn.GetResult(acc)
	return out, err == nil, err
}

func (s *aggregatingState[IN, ACC, OUT]) Add(v IN) error {
	acc, ok, err := s.acc()
	if err != nil {
		return err
	}
	if !ok {
		acc = s.fn.CreateAccumulator()
	}
	if acc, err = s.fn.Add(v, acc); err != nil {
		return err
	}
	return s.in.Update(acc)
}

func (s *aggregatingState[IN, ACC, OUT]) MergeNamespaces(target []byte, sources [][]byte) error {
	var merged ACC
	have := false
	fold := func() error {
		a, ok, err := s.acc()
		if err != nil || !ok {
			return err
		}
		if have {
			if a, err = s.fn.Merge(merged, a); err != nil {
				return err
			}
		}
		merged, have = a, true
		return nil
	}
	return s.merge(target, sources, fold, func() error {
		if err := fold(); err != nil || !have {
			return err
		}
		return s.in.Update(merged)
	})
}
