package bench

import (
	"slices"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/serde"
	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/state/ttl"
)

// store is what an operation runs on: the keyed state backend under test (through package
// state's typed states, after SetCurrentKey) or a baseline. Each method is one state call on
// key k; a fixture of one kind only serves the methods of its kind.
type store interface {
	ValueGet(k int64) (int64, error)
	ValueSet(k, v int64) error
	ValueClear(k int64) error

	// ListSet replaces k's list by vs (ListState.Update); the store does not keep vs.
	ListSet(k int64, vs []int64) error
	ListAdd(k, v int64) error
	ListAddAll(k int64, vs []int64) error
	// ListSum iterates k's list and adds its elements to a.sum, or sets a.err.
	ListSum(k int64, a *acc)
	ListClear(k int64) error

	MapGet(k, uk int64) (int64, error)
	MapPut(k, uk, v int64) error
	MapRemove(k, uk int64) error
	MapContains(k, uk int64) (bool, error)
	// MapSum iterates k's map and adds user key XOR value of its entries to a.sum, or sets
	// a.err.
	MapSum(k int64, a *acc)
}

// acc accumulates what iterations read. An operation passes one per batch: the loop body of
// a range over an iterator is a closure, and a variable it sets escapes to the heap, so the
// accumulator is allocated once per batch rather than once per iteration.
type acc struct {
	sum int64
	err error
}

// backendStore is the keyed state backend under test: one state of each kind, named after
// the kind.
type backendStore struct {
	kb *state.KeyedBackend[int64]
	vs state.ValueState[int64]
	ls state.ListState[int64]
	ms state.MapState[int64, int64]
}

// newBackendStore creates the state of kind, with TTL cfg (none when not enabled), in be.
func newBackendStore(be backend.Keyed, kind string, cfg ttl.Config) (*backendStore, error) {
	kb, err := state.NewKeyedBackend[int64](be, serde.Int64{})
	if err != nil {
		return nil, err
	}
	s := &backendStore{kb: kb}
	switch kind {
	case "value":
		s.vs, err = state.GetValueState(kb, state.ValueDescriptor[int64]{Name: kind, TTL: cfg})
	case "list":
		s.ls, err = state.GetListState(kb, state.ListDescriptor[int64]{Name: kind, TTL: cfg})
	case "map":
		s.ms, err = state.GetMapState(kb, state.MapDescriptor[int64, int64]{Name: kind, TTL: cfg})
	}
	return s, err
}

func (s *backendStore) ValueGet(k int64) (int64, error) {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return 0, err
	}
	v, _, err := s.vs.Value()
	return v, err
}

func (s *backendStore) ValueSet(k, v int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.vs.Update(v)
}

func (s *backendStore) ValueClear(k int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.vs.Clear()
}

func (s *backendStore) ListSet(k int64, vs []int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ls.Update(vs)
}

func (s *backendStore) ListAdd(k, v int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ls.Add(v)
}

func (s *backendStore) ListAddAll(k int64, vs []int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ls.AddAll(vs)
}

func (s *backendStore) ListSum(k int64, a *acc) {
	if a.err = s.kb.SetCurrentKey(k); a.err != nil {
		return
	}
	for v, err := range s.ls.Get() {
		if err != nil {
			a.err = err
			return
		}
		a.sum += v
	}
}

func (s *backendStore) ListClear(k int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ls.Clear()
}

func (s *backendStore) MapGet(k, uk int64) (int64, error) {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return 0, err
	}
	v, _, err := s.ms.Get(uk)
	return v, err
}

func (s *backendStore) MapPut(k, uk, v int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ms.Put(uk, v)
}

func (s *backendStore) MapRemove(k, uk int64) error {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return err
	}
	return s.ms.Remove(uk)
}

func (s *backendStore) MapContains(k, uk int64) (bool, error) {
	if err := s.kb.SetCurrentKey(k); err != nil {
		return false, err
	}
	return s.ms.Contains(uk)
}

func (s *backendStore) MapSum(k int64, a *acc) {
	if a.err = s.kb.SetCurrentKey(k); a.err != nil {
		return
	}
	for e, err := range s.ms.All() {
		if err != nil {
			a.err = err
			return
		}
		a.sum += e.Key ^ e.Value
	}
}

// mapStore is the baseline of the hashmap backend: plain Go maps, map[int64]int64,
// map[int64][]int64 and map[int64]map[int64]int64. It never fails.
type mapStore struct {
	values map[int64]int64
	lists  map[int64][]int64
	maps   map[int64]map[int64]int64
}

func newMapStore(kind string, keys int) *mapStore {
	s := &mapStore{}
	switch kind {
	case "value":
		s.values = make(map[int64]int64, keys)
	case "list":
		s.lists = make(map[int64][]int64, keys)
	case "map":
		s.maps = make(map[int64]map[int64]int64, keys)
	}
	return s
}

func (s *mapStore) ValueGet(k int64) (int64, error) { return s.values[k], nil }
func (s *mapStore) ValueSet(k, v int64) error       { s.values[k] = v; return nil }
func (s *mapStore) ValueClear(k int64) error        { delete(s.values, k); return nil }

func (s *mapStore) ListSet(k int64, vs []int64) error { s.lists[k] = slices.Clone(vs); return nil }
func (s *mapStore) ListAdd(k, v int64) error          { s.lists[k] = append(s.lists[k], v); return nil }
func (s *mapStore) ListAddAll(k int64, vs []int64) error {
	s.lists[k] = append(s.lists[k], vs...)
	return nil
}
func (s *mapStore) ListClear(k int64) error { delete(s.lists, k); return nil }
func (s *mapStore) ListSum(k int64, a *acc) {
	for _, v := range s.lists[k] {
		a.sum += v
	}
}

func (s *mapStore) MapGet(k, uk int64) (int64, error) { return s.maps[k][uk], nil }
func (s *mapStore) MapPut(k, uk, v int64) error {
	m := s.maps[k]
	if m == nil {
		m = make(map[int64]int64, MapKeys)
		s.maps[k] = m
	}
	m[uk] = v
	return nil
}
func (s *mapStore) MapRemove(k, uk int64) error { delete(s.maps[k], uk); return nil }
func (s *mapStore) MapContains(k, uk int64) (bool, error) {
	_, ok := s.maps[k][uk]
	return ok, nil
}
func (s *mapStore) MapSum(k int64, a *acc) {
	for uk, v := range s.maps[k] {
		a.sum += uk ^ v
	}
}
