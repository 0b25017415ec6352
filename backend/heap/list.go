package heap

import (
	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/backend/ttlview"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// listCell is one list. E is any for boxed elements, uint64 for words (wordListState),
// ttlview.StampedWord for the words of a TTL state (stampedWordListState). A
// one-element list set by Update keeps its element in one, so that it costs one allocation.
type listCell[E any] struct {
	epoch uint64
	items []E
	one   [1]E
}

// listState serves list state, its elements held as E: boxed (E = any), as words, or as
// stamped words.
type listState[E any] struct {
	stateBase
	tables []*kgTable[*listCell[E]]
	// fromAny converts an element the caller passed (failing for a wrong type), boxed
	// converts a list back (both the identity for E = any); encode and decode serialize one
	// element for snapshots.
	fromAny func(any) (E, error)
	boxed   func([]E) []any
	encode  func(dst []byte, e E) ([]byte, error)
	decode  func(src []byte) (E, error)
	// copyElem deep-copies an element (nil when elements are immutable): a list a snapshot
	// holds is copied with its elements before the task reads or changes it.
	copyElem func(E) (E, error)
	// stamp returns an element's TTL stamp (ok=false for an unstamped one) and restamp
	// the element with another stamp; nil for a state without TTL.
	stamp   func(E) (at int64, ok bool)
	restamp func(e E, at int64) E
}

func newListState(base stateBase, n int) *listState[any] {
	s := &listState[any]{stateBase: base, tables: newTables[*listCell[any]](n),
		fromAny: func(v any) (any, error) { return v, nil }, boxed: func(vs []any) []any { return vs },
		encode: base.spec.Value.AppendAny, decode: base.spec.Value.DecodeAny}
	if base.mutable {
		s.copyElem = base.spec.Value.Copy
	}
	if ttlOn(base.spec) {
		s.stamp = func(e any) (int64, bool) {
			st, ok := e.(ttlview.Stamped)
			return st.At, ok
		}
		s.restamp = func(e any, at int64) any {
			st := e.(ttlview.Stamped)
			return ttlview.Stamped{At: at, V: st.V}
		}
	}
	return s
}

func (s *listState[E]) internal() backend.State              { return s }
func (s *listState[E]) eachKey(fn func(key, ns []byte) bool) { eachKey(s.tables, fn) }
func (s *listState[E]) Clear() error                         { return clearKey(&s.stateBase, s.tables) }

// items returns the current key's elements; the slice must not be modified. Mutable
// elements of a list a snapshot holds are copied first (into the live layer).
func (s *listState[E]) items() ([]E, error) {
	if t, u, ok := direct(&s.stateBase, s.tables, false); ok && (s.copyElem == nil || !t.frozen) {
		if c := t.u64[u]; c != nil {
			return c.items, nil
		}
		return nil, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	c, _, frozen := readable(s.b, s.tables, s.b.kgIdx).find(k)
	if frozen && s.copyElem != nil && s.b.sharing() {
		if c, err = s.cell(s.b.kgIdx, k); err != nil {
			return nil, err
		}
	}
	if c != nil {
		return c.items, nil
	}
	return nil, nil
}

func (s *listState[E]) Get() ([]any, error) {
	items, err := s.items()
	if len(items) == 0 {
		return nil, err
	}
	return s.boxed(items), nil
}

// cell returns the list of k for writing, creating or copying it as needed.
func (s *listState[E]) cell(kgIdx int, k *tkey) (*listCell[E], error) {
	t := writableKey(&s.stateBase, s.tables, kgIdx, k)
	c, _ := t.get(k)
	if c == nil || c.epoch != t.epoch {
		var err error
		if c, err = s.writable(c, t.epoch); err != nil {
			return nil, err
		}
		t.put(k, c)
	}
	return c, nil
}

// writable returns a list like c (which may be nil) to be modified in a table of epoch. The
// copy shares c's elements but has no spare capacity, so appending never writes into memory a
// snapshot reads; while a snapshot runs, mutable elements are copied too, so that none a
// snapshot reads is handed to the task.
func (s *listState[E]) writable(c *listCell[E], epoch uint64) (*listCell[E], error) {
	if c == nil {
		return &listCell[E]{epoch: epoch}, nil
	}
	if s.copyElem == nil || len(c.items) == 0 || !s.b.sharing() {
		return &listCell[E]{epoch: epoch, items: c.items[:len(c.items):len(c.items)]}, nil
	}
	items := make([]E, len(c.items))
	for i, e := range c.items {
		var err error
		if items[i], err = s.copyElem(e); err != nil {
			return nil, s.copyErr(err)
		}
	}
	return &listCell[E]{epoch: epoch, items: items}, nil
}

// current returns the current key's list for writing.
func (s *listState[E]) current() (*listCell[E], error) {
	if t, u, ok := direct(&s.stateBase, s.tables, true); ok {
		c := t.u64[u]
		if c == nil || c.epoch != t.epoch {
			var err error
			if c, err = s.writable(c, t.epoch); err != nil {
				return nil, err
			}
			t.u64[u] = c
		}
		return c, nil
	}
	k, err := s.mapKey()
	if err != nil {
		return nil, err
	}
	return s.cell(s.b.kgIdx, k)
}

// add appends es (copied) to the current key's list.
func (s *listState[E]) add(es ...E) error {
	if len(es) == 0 {
		_, err := s.mapKey()
		return err
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	c.items = append(c.items, es...)
	return nil
}

// set makes es, which it keeps, the current key's list; an empty es clears it.
func (s *listState[E]) set(es []E) error {
	if len(es) == 0 {
		return s.Clear()
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	c.items = es
	return nil
}

// setOne makes e the current key's only element, stored in the cell itself. The cell is of
// the current epoch, so no snapshot reads its one; a copy of it (writable) may share it
// read-only, with no spare capacity.
func (s *listState[E]) setOne(e E) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	c.one[0] = e
	c.items = c.one[:1:1]
	return nil
}

// convert converts the elements a caller passed, before anything is written.
func (s *listState[E]) convert(vs []any) ([]E, error) {
	es := make([]E, len(vs))
	for i, v := range vs {
		var err error
		if es[i], err = s.fromAny(v); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func (s *listState[E]) Add(v any) error {
	e, err := s.fromAny(v)
	if err != nil {
		return err
	}
	return s.add(e)
}

func (s *listState[E]) AddAll(vs []any) error {
	es, err := s.convert(vs)
	if err != nil {
		return err
	}
	return s.add(es...)
}

func (s *listState[E]) Update(vs []any) error {
	if len(vs) == 1 {
		e, err := s.fromAny(vs[0])
		if err != nil {
			return err
		}
		return s.setOne(e)
	}
	es, err := s.convert(vs)
	if err != nil {
		return err
	}
	return s.set(es)
}

func (s *listState[E]) freeze() frozen {
	return &frozenLists[E]{encode: s.encode, tables: freezeAll(s.tables), exp: ttlview.ExpiryAt(s.spec.TTL, s.b.clock), stamp: s.stamp}
}

func (s *listState[E]) restore(kgIdx int, r *rawRecord) error {
	var k tkey
	k.setKey(r.key, r.ns, new([]byte))
	c, err := s.cell(kgIdx, &k)
	if err != nil {
		return err
	}
	for _, e := range r.list {
		v, err := s.decode(e)
		if err != nil {
			return err
		}
		c.items = append(c.items, v)
	}
	return nil
}

type frozenLists[E any] struct {
	encode func(dst []byte, e E) ([]byte, error)
	tables []*kgTable[*listCell[E]]
	exp    ttlview.Expiry // expired elements are not written; nor is a list of expired elements only
	stamp  func(E) (int64, bool)
}

// dead reports whether element e expired.
func (f *frozenLists[E]) dead(e E) bool {
	if !f.exp.On() || f.stamp == nil {
		return false
	}
	at, ok := f.stamp(e)
	return ok && f.exp.Expired(at)
}

func (f *frozenLists[E]) empty(int) bool {
	if !f.exp.On() {
		return tablesEmpty(f.tables)
	}
	return !tablesHold(f.tables, func(c *listCell[E]) bool {
		for _, e := range c.items {
			if !f.dead(e) {
				return true
			}
		}
		return false
	})
}

func (f *frozenLists[E]) write(w *snapshot.BlockBuilder, idx, kgIdx int, scratch []byte) ([]byte, error) {
	var err error
	f.tables[kgIdx].each(func(key, ns []byte, c *listCell[E]) bool {
		live := len(c.items)
		if f.exp.On() {
			for _, v := range c.items {
				if f.dead(v) {
					live--
				}
			}
			if live == 0 {
				return true
			}
		}
		w.List(idx, key, ns, live)
		for _, v := range c.items {
			if f.dead(v) {
				continue
			}
			if scratch, err = f.encode(scratch[:0], v); err != nil {
				return false
			}
			w.ListElement(scratch)
		}
		return true
	})
	return scratch, err
}
