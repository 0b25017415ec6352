package lsm

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/streamstate/streamstate/backend"
)

// stateBase is what every state object has: its backend, id, spec, namespace, and the
// database key of the current key and namespace, rebuilt only when either changes.
type stateBase struct {
	b     *Backend
	id    uint16
	spec  backend.Spec
	ns    []byte
	key   []byte // entry key (value, list) or entry prefix (map)
	epoch uint64 // b.keyEpoch that key was built for; 0: stale
	buf   []byte // encoding scratch
}

func (s *stateBase) SetNamespace(ns []byte) {
	s.ns = append(s.ns[:0], ns...)
	s.epoch = 0
}

// entryKey returns the key of the current key and namespace.
func (s *stateBase) entryKey() ([]byte, error) {
	b := s.b
	if b.closed {
		return nil, backend.ErrClosed
	}
	if !b.hasKey {
		return nil, backend.ErrNoCurrentKey
	}
	if s.epoch != b.keyEpoch {
		s.key = appendEntryPrefix(s.key[:0], b.kg, s.id, b.key, s.ns)
		s.epoch = b.keyEpoch
	}
	return s.key, nil
}

func (s *stateBase) wrap(op string, err error) error {
	return fmt.Errorf("lsm backend: %s state %q of operator %s: %w", op, s.spec.Name, s.b.opID, s.b.dbErr(err))
}

// get reads key and decodes it with dec while the value is pinned.
func (s *stateBase) get(key []byte, dec func([]byte) error) (bool, error) {
	v, closer, err := s.b.get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("read", err)
	}
	err = dec(v)
	closer.Close()
	if err != nil {
		return false, s.wrap("decode", err)
	}
	return true, nil
}

// valueState serves value, reducing and aggregating state.
type valueState struct{ stateBase }

func (s *valueState) Value() (any, bool, error) {
	k, err := s.entryKey()
	if err != nil {
		return nil, false, err
	}
	var out any
	ok, err := s.get(k, func(v []byte) (err error) {
		out, err = s.spec.Value.DecodeAny(v)
		return err
	})
	return out, ok, err
}

func (s *valueState) Update(v any) error {
	k, err := s.entryKey()
	if err != nil {
		return err
	}
	return s.set(k, v)
}

func (s *valueState) Clear() error { return s.clear() }

// set encodes v with the state's value serializer and writes it under k.
func (s *stateBase) set(k []byte, v any) error {
	var err error
	if s.buf, err = s.spec.Value.AppendAny(s.buf[:0], v); err != nil {
		return s.wrap("encode", err)
	}
	return s.put(k)
}

// put writes s.buf under k.
func (s *stateBase) put(k []byte) error {
	if err := s.b.set(k, s.buf); err != nil {
		return s.wrap("write", err)
	}
	return nil
}

func (s *stateBase) clear() error {
	k, err := s.entryKey()
	if err != nil {
		return err
	}
	if err := s.b.del(k); err != nil {
		return s.wrap("clear", err)
	}
	return nil
}

// listState keeps a list as one value of concatenated elements; Add and AddAll merge (a
// blind write), never read-modify-write.
type listState struct {
	stateBase
	elems [][]byte
	elem  []byte
}

func (s *listState) Clear() error { return s.clear() }

func (s *listState) Get() ([]any, error) {
	k, err := s.entryKey()
	if err != nil {
		return nil, err
	}
	var out []any
	_, err = s.get(k, func(v []byte) error {
		s.elems, err = splitList(s.elems[:0], v)
		if err != nil {
			return err
		}
		out = make([]any, len(s.elems))
		for i, e := range s.elems {
			if out[i], err = s.spec.Value.DecodeAny(e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	})
	return out, err
}

// write encodes n elements, the i-th with enc(dst, i), into one list value and merges it
// into the current key's list (merge) or replaces the list with it (an empty list clears).
func (s *listState) write(n int, merge bool, enc func(dst []byte, i int) ([]byte, error)) error {
	if n == 0 && !merge {
		return s.clear()
	}
	k, err := s.entryKey()
	if err != nil || n == 0 {
		return err
	}
	s.buf = s.buf[:0]
	for i := range n {
		if s.elem, err = enc(s.elem[:0], i); err != nil {
			return s.wrap("encode", err)
		}
		s.buf = appendListElement(s.buf, s.elem) // length, then the element
	}
	if merge {
		if err := s.b.merge(k, s.buf); err != nil {
			return s.wrap("add to", err)
		}
		return nil
	}
	if err := s.b.set(k, s.buf); err != nil {
		return s.wrap("update", err)
	}
	return nil
}

func (s *listState) Add(v any) error {
	return s.write(1, true, func(dst []byte, _ int) ([]byte, error) { return s.spec.Value.AppendAny(dst, v) })
}

func (s *listState) AddAll(vs []any) error {
	return s.write(len(vs), true, func(dst []byte, i int) ([]byte, error) { return s.spec.Value.AppendAny(dst, vs[i]) })
}

func (s *listState) Update(vs []any) error {
	return s.write(len(vs), false, func(dst []byte, i int) ([]byte, error) { return s.spec.Value.AppendAny(dst, vs[i]) })
}

// mapState keeps one database entry per map entry: the entry prefix of the current key and
// namespace followed by the serialized user key.
type mapState struct {
	stateBase
	full []byte // prefix + user key
}

// userKey returns the database key of user key uk.
func (s *mapState) userKey(uk any) ([]byte, error) {
	return s.userKeyWith(func(dst []byte) ([]byte, error) { return s.spec.UserKey.AppendAny(dst, uk) })
}

// userKeyWith is userKey with the user key serialized by ser.
func (s *mapState) userKeyWith(ser func(dst []byte) ([]byte, error)) ([]byte, error) {
	p, err := s.entryKey()
	if err != nil {
		return nil, err
	}
	if s.full, err = ser(append(s.full[:0], p...)); err != nil {
		return nil, s.wrap("encode user key of", err)
	}
	return s.full, nil
}

func (s *mapState) Get(uk any) (any, bool, error) { return s.getAt(s.userKey(uk)) }

// getAt reads and decodes the entry at database key k (err: from building k).
func (s *mapState) getAt(k []byte, err error) (any, bool, error) {
	if err != nil {
		return nil, false, err
	}
	var out any
	ok, err := s.get(k, func(v []byte) (err error) {
		out, err = s.spec.Value.DecodeAny(v)
		return err
	})
	return out, ok, err
}

func (s *mapState) Contains(uk any) (bool, error) { return s.containsAt(s.userKey(uk)) }

func (s *mapState) containsAt(k []byte, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	return s.get(k, func([]byte) error { return nil })
}

func (s *mapState) Put(uk, v any) error {
	k, err := s.userKey(uk)
	if err != nil {
		return err
	}
	return s.set(k, v)
}

func (s *mapState) Remove(uk any) error { return s.removeAt(s.userKey(uk)) }

func (s *mapState) removeAt(k []byte, err error) error {
	if err != nil {
		return err
	}
	if err := s.b.del(k); err != nil {
		return s.wrap("remove from", err)
	}
	return nil
}

// iter returns an iterator over the current key and namespace's entries.
func (s *mapState) iter() (*pebble.Iterator, error) {
	p, err := s.entryKey()
	if err != nil {
		return nil, err
	}
	// The bounds are copied: Pebble keeps them, and the state's key buffer changes.
	lo := slices.Clone(p)
	it, err := s.b.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, s.wrap("iterate", err)
	}
	return it, nil
}

func (s *mapState) IsEmpty() (bool, error) {
	it, err := s.iter()
	if err != nil {
		return false, err
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, s.wrap("iterate", err)
	}
	return empty, nil
}

func (s *mapState) All() iter.Seq2[backend.MapEntry, error] {
	return func(yield func(backend.MapEntry, error) bool) {
		it, err := s.iter()
		if err != nil {
			yield(backend.MapEntry{}, err)
			return
		}
		defer it.Close()
		plen := len(s.key)
		for valid := it.First(); valid; valid = it.Next() {
			uk, err := s.spec.UserKey.DecodeAny(it.Key()[plen:])
			if err != nil {
				yield(backend.MapEntry{}, s.wrap("decode user key of", err))
				return
			}
			raw, err := it.ValueAndErr()
			if err != nil {
				yield(backend.MapEntry{}, s.wrap("read", err))
				return
			}
			v, err := s.spec.Value.DecodeAny(raw)
			if err != nil {
				yield(backend.MapEntry{}, s.wrap("decode", err))
				return
			}
			if !yield(backend.MapEntry{Key: uk, Value: v}, nil) {
				return
			}
		}
		if err := it.Error(); err != nil {
			yield(backend.MapEntry{}, s.wrap("iterate", err))
		}
	}
}

// Clear deletes the entries one by one in a batch, as Flink does: a range deletion per map
// would leave many small tombstones for reads to skip.
func (s *mapState) Clear() error {
	it, err := s.iter()
	if err != nil {
		return err
	}
	batch := s.b.db.NewBatch()
	defer batch.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if err := batch.Delete(it.Key(), nil); err != nil {
			it.Close()
			return s.wrap("clear", err)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return s.wrap("clear", err)
	}
	if batch.Empty() {
		return nil
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return s.wrap("clear", err)
	}
	return nil
}
